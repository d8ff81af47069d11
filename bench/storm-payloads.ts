// The alert storm the memory benchmark sends: N distinct firing alerts over opted-in Deployments and their pods,
// a third for each action, packed into Alertmanager webhooks (version 4) the way Alertmanager groups them.

export type StormTargets = { namespace: string; deployments: string[]; pods: string[] };

type StormAlert = {
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

// Alert i: restart-pod for a pod, redeploy or scale for a Deployment, in turn; each with its own fingerprint.
export function stormAlerts(count: number, targets: StormTargets, startsAt: string): StormAlert[] {
  return Array.from({ length: count }, (_, i) => {
    const kind = KINDS[i % KINDS.length] as (typeof KINDS)[number];
    const target: Record<string, string> =
      kind.action === 'restart-pod'
        ? { pod: targets.pods[i % targets.pods.length] as string }
        : { deployment: targets.deployments[i % targets.deployments.length] as string };
    return {
      status: 'firing',
      labels: {
        alertname: kind.alertname,
        action: kind.action,
        namespace: targets.namespace,
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
