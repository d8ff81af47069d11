// Watches the loop from the outside (Prometheus alerts, Kubernetes pods, deployments and Events) and emits one timeline.
import {
  AppsV1Api,
  CoreV1Api,
  type CoreV1Event,
  type KubeConfig,
  makeInformer,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import { isPodReady } from '../functions/lib/targets.ts';

export type AlertState = 'pending' | 'firing' | 'resolved';

export type TimelineEvent =
  | {
      kind: 'alert';
      at: Date;
      state: AlertState;
      alertname: string;
      namespace: string;
      pod?: string;
      action?: string;
      value?: string;
    }
  | {
      kind: 'action';
      at: Date;
      component: string;
      reason: string;
      /** False for the decisions that change nothing: Skipped, Refused, Failed, DryRun. */
      applied: boolean;
      target: string;
      message: string;
    }
  | { kind: 'pod'; at: Date; change: PodChange; namespace: string; pod: string; detail?: string }
  | {
      kind: 'deployment';
      at: Date;
      change: 'scaled' | 'rollout';
      namespace: string;
      name: string;
      detail: string;
    };

export type PodChange = 'created' | 'ready' | 'not-ready' | 'restarted' | 'deleting' | 'deleted';

export interface ObserverOptions {
  kubeConfig: KubeConfig;
  prometheusUrl: string;
  namespaces: string[];
  alertPollMs: number;
  onEvent: (event: TimelineEvent) => void;
}

export interface Observer {
  stop(): Promise<void>;
}

interface PrometheusAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing' | 'inactive';
  value?: string;
}

/** Event reasons of the actions' decisions that change no workload (functions/lib/report.ts, the closed loop). */
const NOT_APPLIED = new Set([
  'Skipped',
  'Refused',
  'Failed',
  'DryRun',
  'Escalated',
  'BreakerOpened',
  'BreakerOpen',
  'AlertResolved',
  'Healed',
]);

const alertKey = (labels: Record<string, string>): string =>
  JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));

/** Polls Prometheus' alerts API and reports each state change of each alert, including its disappearance. */
export function watchAlerts(
  prometheusUrl: string,
  pollMs: number,
  onEvent: (event: TimelineEvent) => void,
): () => void {
  const known = new Map<string, PrometheusAlert>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const emit = (alert: PrometheusAlert, state: AlertState): void => {
    const { alertname = 'unknown', namespace = '', pod, action } = alert.labels;
    onEvent({
      kind: 'alert',
      at: new Date(),
      state,
      alertname,
      namespace,
      ...(pod ? { pod } : {}),
      ...(action ? { action } : {}),
      ...(alert.value ? { value: alert.value } : {}),
    });
  };
  const poll = async (): Promise<void> => {
    try {
      const response = await fetch(new URL('/api/v1/alerts', prometheusUrl), {
        signal: AbortSignal.timeout(5000),
      });
      if (response.ok) {
        const body = (await response.json()) as { data: { alerts: PrometheusAlert[] } };
        const seen = new Set<string>();
        for (const alert of body.data.alerts) {
          if (alert.state === 'inactive') continue;
          const key = alertKey(alert.labels);
          seen.add(key);
          if (known.get(key)?.state !== alert.state) emit(alert, alert.state);
          known.set(key, alert);
        }
        for (const [key, alert] of known) {
          if (!seen.has(key)) {
            known.delete(key);
            if (alert.state === 'firing') emit(alert, 'resolved');
          }
        }
      }
    } catch {
      // Prometheus restarting or slow: the next poll catches up.
    }
    if (!stopped) timer = setTimeout(poll, pollMs);
  };
  void poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

const restarts = (pod: V1Pod): number =>
  (pod.status?.containerStatuses ?? []).reduce((sum, c) => sum + c.restartCount, 0);

const lastExit = (pod: V1Pod): string => {
  const terminated = pod.status?.containerStatuses?.find((c) => c.lastState?.terminated)?.lastState
    ?.terminated;
  return terminated
    ? `exit code ${terminated.exitCode}${terminated.reason ? ` (${terminated.reason})` : ''}`
    : '';
};

/** Watches pods, deployments and Events of the given namespaces and reports what changed. */
export async function watchCluster(
  kubeConfig: KubeConfig,
  namespaces: string[],
  onEvent: (event: TimelineEvent) => void,
): Promise<() => Promise<void>> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const stops: Array<() => Promise<void>> = [];
  const startedAt = new Date();
  let stopped = false;

  for (const namespace of namespaces) {
    const pods = makeInformer<V1Pod>(kubeConfig, `/api/v1/namespaces/${namespace}/pods`, () =>
      core.listNamespacedPod({ namespace }),
    );
    const lastSeen = new Map<string, V1Pod>();
    const podEvent = (pod: V1Pod, change: PodChange, detail?: string): void =>
      onEvent({
        kind: 'pod',
        at: new Date(),
        change,
        namespace,
        pod: pod.metadata?.name ?? '?',
        ...(detail ? { detail } : {}),
      });
    pods.on('add', (pod) => {
      const uid = pod.metadata?.uid ?? '';
      if (lastSeen.has(uid)) return;
      lastSeen.set(uid, pod);
      if (new Date(pod.metadata?.creationTimestamp ?? 0) >= startedAt) podEvent(pod, 'created');
    });
    pods.on('update', (pod) => {
      const uid = pod.metadata?.uid ?? '';
      const before = lastSeen.get(uid);
      lastSeen.set(uid, pod);
      if (!before) return;
      if (!isPodReady(before) && isPodReady(pod)) podEvent(pod, 'ready');
      if (isPodReady(before) && !isPodReady(pod)) podEvent(pod, 'not-ready');
      if (restarts(pod) > restarts(before))
        podEvent(pod, 'restarted', `restart #${restarts(pod)}, ${lastExit(pod)}`);
      if (!before.metadata?.deletionTimestamp && pod.metadata?.deletionTimestamp) podEvent(pod, 'deleting');
    });
    pods.on('delete', (pod) => {
      lastSeen.delete(pod.metadata?.uid ?? '');
      podEvent(pod, 'deleted');
    });

    const deployments = makeInformer<V1Deployment>(
      kubeConfig,
      `/apis/apps/v1/namespaces/${namespace}/deployments`,
      () => apps.listNamespacedDeployment({ namespace }),
    );
    const lastDeployment = new Map<string, V1Deployment>();
    const restartedAt = (d: V1Deployment): string | undefined =>
      d.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'];
    deployments.on('add', (d) => lastDeployment.set(d.metadata?.uid ?? '', d));
    deployments.on('update', (d) => {
      const before = lastDeployment.get(d.metadata?.uid ?? '');
      lastDeployment.set(d.metadata?.uid ?? '', d);
      if (!before) return;
      const name = d.metadata?.name ?? '?';
      if (before.spec?.replicas !== d.spec?.replicas) {
        onEvent({
          kind: 'deployment',
          at: new Date(),
          change: 'scaled',
          namespace,
          name,
          detail: `replicas ${before.spec?.replicas} → ${d.spec?.replicas}`,
        });
      }
      if (restartedAt(before) !== restartedAt(d)) {
        onEvent({
          kind: 'deployment',
          at: new Date(),
          change: 'rollout',
          namespace,
          name,
          detail: `rolling restart at ${restartedAt(d)}`,
        });
      }
    });

    const events = makeInformer<CoreV1Event>(kubeConfig, `/api/v1/namespaces/${namespace}/events`, () =>
      core.listNamespacedEvent({ namespace }),
    );
    const seenEvents = new Set<string>();
    const onKubeEvent = (event: CoreV1Event): void => {
      const component = event.reportingComponent || event.source?.component || '';
      if (!component.startsWith('selfheal')) return;
      const key = `${event.metadata?.uid}/${event.count ?? 1}`;
      if (seenEvents.has(key)) return;
      seenEvents.add(key);
      const when = new Date(event.eventTime ?? event.lastTimestamp ?? event.firstTimestamp ?? Date.now());
      if (when < startedAt) return;
      const object = event.involvedObject;
      const reason = event.reason ?? '';
      onEvent({
        kind: 'action',
        at: new Date(),
        component,
        reason,
        applied: !NOT_APPLIED.has(reason),
        target: `${object.namespace ?? namespace}/${object.kind}/${object.name}`,
        message: event.message ?? '',
      });
    };
    events.on('add', onKubeEvent);
    events.on('update', onKubeEvent);

    for (const informer of [pods, deployments, events]) {
      // An informer stops on a watch error: start it again (it re-lists), unless we are stopping.
      informer.on('error', () => {
        if (!stopped)
          setTimeout(() => void (stopped ? undefined : informer.start().catch(() => undefined)), 1000);
      });
      await informer.start();
      stops.push(() => informer.stop());
    }
  }
  return async () => {
    stopped = true;
    await Promise.all(stops.map((stop) => stop()));
  };
}

/** Starts every source; `stop()` ends them all. */
export async function observe(options: ObserverOptions): Promise<Observer> {
  const stopAlerts = watchAlerts(options.prometheusUrl, options.alertPollMs, options.onEvent);
  const stopCluster = await watchCluster(options.kubeConfig, options.namespaces, options.onEvent);
  return {
    async stop() {
      stopAlerts();
      await stopCluster();
    },
  };
}

/** One human line per timeline event, for the live feed and the scenario timeline. */
export function describe(event: TimelineEvent): string {
  switch (event.kind) {
    case 'alert': {
      const target = event.pod ? `${event.namespace}/${event.pod}` : event.namespace;
      const tail = event.action ? ` → action ${event.action}` : '';
      return `alert ${event.state.padEnd(8)} ${event.alertname} on ${target}${tail}`;
    }
    case 'action':
      return `action  ${event.component}: ${event.reason} ${event.target} — ${event.message}`;
    case 'pod':
      return `pod     ${event.change.padEnd(9)} ${event.namespace}/${event.pod}${event.detail ? ` (${event.detail})` : ''}`;
    case 'deployment':
      return `deploy  ${event.change.padEnd(9)} ${event.namespace}/${event.name} (${event.detail})`;
  }
}
