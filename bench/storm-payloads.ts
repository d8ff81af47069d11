// The alerts the benchmarks send as Alertmanager would: one firing alert for an action and its target, or a storm of
// N distinct ones over opted-in Deployments and their pods (a third for each action), packed into webhooks (version 4)
// the way Alertmanager groups them.

export type StormTargets = { namespace: string; deployments: string[]; pods: string[] };

export type StormAlert = {
  status: 'firing';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
};

const KINDS = [
  { alertname: 'HighMemoryUsage', action: 'restart-pod' },
  { alertname: 'PodCrashLooping', action: 'redeploy' },
  { alertname: 'HighCPUUsage', action: 'scale' },
] as const;

/** Firing alert number `i` for `action`, aimed at a pod (restart-pod) or a Deployment, with its own fingerprint. */
export function firingAlert(
  action: (typeof KINDS)[number]['action'],
  namespace: string,
  target: { pod: string } | { deployment: string },
  i: number,
  startsAt: string,
): StormAlert {
  const kind = KINDS.find((k) => k.action === action) as (typeof KINDS)[number];
  return {
    status: 'firing',
    labels: {
      alertname: kind.alertname,
      action,
      namespace,
      severity: 'critical',
      storm: String(i),
      ...target,
    },
    annotations: { summary: `storm alert ${i}` },
    startsAt,
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: '',
    fingerprint: i.toString(16).padStart(16, '0'),
  };
}

// Alert i: restart-pod for a pod, redeploy or scale for a Deployment, in turn; each with its own fingerprint.
export function stormAlerts(count: number, targets: StormTargets, startsAt: string): StormAlert[] {
  return Array.from({ length: count }, (_, i) => {
    const { action } = KINDS[i % KINDS.length] as (typeof KINDS)[number];
    const target =
      action === 'restart-pod'
        ? { pod: targets.pods[i % targets.pods.length] as string }
        : { deployment: targets.deployments[i % targets.deployments.length] as string };
    return firingAlert(action, targets.namespace, target, i, startsAt);
  });
}

// Webhooks of `perWebhook` alerts each, as Alertmanager sends a group's notification.
export function webhooks(alerts: StormAlert[], perWebhook: number): string[] {
  const bodies: string[] = [];
  for (let start = 0; start < alerts.length; start += perWebhook) {
    const group = alerts.slice(start, start + perWebhook);
    bodies.push(
      JSON.stringify({
        version: '4',
        receiver: 'selfheal',
        status: 'firing',
        alerts: group,
        groupLabels: { storm: String(start / perWebhook) },
        commonLabels: { severity: 'critical' },
        commonAnnotations: {},
        externalURL: 'http://alertmanager.invalid',
        groupKey: `{}:{storm="${start / perWebhook}"}`,
        truncatedAlerts: 0,
      }),
    );
  }
  return bodies;
}
