// Runs one scenario against the running playground: inject, follow the loop live, verify it healed by the right action.
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { isPodReady } from '../../functions/lib/targets.ts';
import type { PlaygroundState } from '../state.ts';
import type { Profile, Scenario } from './catalog.ts';
import { followLoop, Timeline, type TimelineEntry } from './timeline.ts';

export interface ScenarioResult {
  scenario: string;
  healed: boolean;
  reason: string;
  targetPod: string;
  injectedAt: Date;
  firingAfterSeconds?: number;
  actionAfterSeconds?: number;
  recoveredAfterSeconds?: number;
  resolvedAfterSeconds?: number;
  timeline: TimelineEntry[];
}

export interface RunOptions {
  state: PlaygroundState;
  scenario: Scenario;
  profile: Profile;
  boundSeconds?: number;
  print?: (line: string) => void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Ready and not on its way out: a terminating pod no longer counts towards the Deployment.
const isReady = (pod: V1Pod): boolean => !pod.metadata?.deletionTimestamp && isPodReady(pod);

const restartedAt = (d: V1Deployment): string | undefined =>
  d.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'];

interface Snapshot {
  deployment: V1Deployment;
  pods: V1Pod[];
}

async function snapshot(kc: KubeConfig, namespace: string, name: string): Promise<Snapshot> {
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const deployment = await apps.readNamespacedDeployment({ namespace, name });
  const selector = Object.entries(deployment.spec?.selector.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const pods = (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
  return { deployment, pods };
}

const fullyAvailable = ({ deployment, pods }: Snapshot): boolean => {
  const wanted = deployment.spec?.replicas ?? 1;
  const status = deployment.status;
  return (
    (status?.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0) &&
    (status?.updatedReplicas ?? 0) === wanted &&
    (status?.readyReplicas ?? 0) === wanted &&
    (status?.replicas ?? 0) === wanted &&
    pods.filter(isReady).length === wanted
  );
};

async function firingAlertsFor(prometheusUrl: string, namespace: string): Promise<string[]> {
  const response = await fetch(new URL('/api/v1/alerts', prometheusUrl), {
    signal: AbortSignal.timeout(5000),
  });
  const body = (await response.json()) as {
    data: { alerts: Array<{ labels: Record<string, string>; state: string }> };
  };
  return body.data.alerts
    .filter((a) => a.labels.namespace === namespace && a.state !== 'inactive')
    .map((a) => `${a.labels.alertname}(${a.labels.pod ?? a.labels.deployment ?? ''})`);
}

/** Waits until the app is fully available and no alert is pending or firing for its namespace. */
export async function waitForCalm(
  kc: KubeConfig,
  state: PlaygroundState,
  timeoutSeconds: number,
  print: (line: string) => void,
): Promise<Snapshot> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let said = '';
  for (;;) {
    const snap = await snapshot(kc, state.appNamespace, state.appDeployment);
    const alerts = await firingAlertsFor(state.prometheusUrl, state.appNamespace).catch(() => [
      '(Prometheus unreachable)',
    ]);
    if (fullyAvailable(snap) && alerts.length === 0) return snap;
    const waitingFor = [
      ...(fullyAvailable(snap) ? [] : [`${state.appDeployment} to be fully available`]),
      ...(alerts.length ? [`alerts to clear: ${alerts.join(', ')}`] : []),
    ].join('; ');
    if (waitingFor !== said) print(`waiting for a calm start: ${waitingFor}`);
    said = waitingFor;
    if (Date.now() > deadline)
      throw new Error(`the app did not settle within ${timeoutSeconds}s (${waitingFor})`);
    await sleep(1000);
  }
}

/** Injects the scenario's failure into one ready pod and follows the loop until healed, failed or out of time. */
export async function runScenario(options: RunOptions): Promise<ScenarioResult> {
  const { state, scenario, profile } = options;
  const print = options.print ?? (() => undefined);
  const bound = options.boundSeconds ?? scenario.boundSeconds[profile];
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  const namespace = state.appNamespace;

  const before = await waitForCalm(kc, state, 180, print);
  const target = before.pods
    .filter(isReady)
    .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))[0];
  if (!target?.status?.podIP) throw new Error(`no ready pod of ${state.appDeployment} to inject into`);
  const targetPod = target.metadata?.name ?? '';
  const port = target.spec?.containers[0]?.ports?.[0]?.containerPort ?? 3000;
  const replicasBefore = before.deployment.spec?.replicas ?? 1;
  const restartedBefore = restartedAt(before.deployment);
  const podsBefore = new Set(before.pods.map((p) => p.metadata?.name ?? ''));

  // The actions name the alert they act on in their Event ("… (alert HighMemoryUsage, fingerprint …)").
  const forAlert = (message: string): boolean => message.includes(`alert ${scenario.alertname},`);
  const clock = new Timeline(print);
  const { note, entries: timeline } = clock;
  const observer = await followLoop(clock, kc, state, profile);

  const result = (healed: boolean, reason: string): ScenarioResult => {
    const firing = clock.first(
      (e) => e.kind === 'alert' && e.alertname === scenario.alertname && e.state === 'firing',
    );
    const acted = clock.first(
      (e) => e.kind === 'action' && e.applied && e.component.endsWith(scenario.action) && forAlert(e.message),
    );
    const resolved =
      resolvedAt ??
      clock.first((e) => e.kind === 'alert' && e.alertname === scenario.alertname && e.state === 'resolved');
    return {
      scenario: scenario.name,
      healed,
      reason,
      targetPod,
      injectedAt: clock.injectedAt,
      ...(firing !== undefined ? { firingAfterSeconds: firing } : {}),
      ...(acted !== undefined ? { actionAfterSeconds: acted } : {}),
      ...(recoveredAt !== undefined ? { recoveredAfterSeconds: recoveredAt } : {}),
      ...(resolved !== undefined ? { resolvedAfterSeconds: resolved } : {}),
      timeline,
    };
  };
  let recoveredAt: number | undefined;
  let resolvedAt: number | undefined;

  try {
    const injection = scenario.inject(profile);
    clock.inject();
    const response = await fetch(`http://${target.status.podIP}:${port}${injection.path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(injection.body),
      signal: AbortSignal.timeout(5000),
    }).catch((error: Error) => ({ ok: false, status: 0, statusText: error.message }) as Response);
    if (!response.ok && response.status !== 202) {
      return result(false, `injection into ${targetPod} failed: ${response.status} ${response.statusText}`);
    }
    note(`inject  ${scenario.name} into ${namespace}/${targetPod} (POST ${injection.path})`);

    const deadline = clock.injectedAt.getTime() + bound * 1000;
    while (Date.now() < deadline) {
      await sleep(1000);
      const wrongAction = timeline.find(
        (e) =>
          e.event?.kind === 'action' &&
          e.event.applied &&
          !(e.event.component.endsWith(scenario.action) && forAlert(e.event.message)),
      );
      if (wrongAction) return result(false, `an unexpected action acted: ${wrongAction.line}`);
      const now = await snapshot(kc, namespace, state.appDeployment).catch(() => undefined);
      if (!now) continue;
      const replicas = now.deployment.spec?.replicas ?? 1;
      const rolled = restartedAt(now.deployment) !== restartedBefore;
      const targetGone = !now.pods.some((p) => p.metadata?.name === targetPod);
      const deletedOthers = [...podsBefore].filter(
        (name) => name !== targetPod && !now.pods.some((p) => p.metadata?.name === name),
      );

      if (scenario.action !== 'scale' && replicas !== replicasBefore) {
        return result(
          false,
          `replicas changed ${replicasBefore} → ${replicas}, but ${scenario.action} was expected`,
        );
      }
      if (scenario.action !== 'redeploy' && rolled) {
        return result(false, `a rolling restart happened, but ${scenario.action} was expected`);
      }
      if (scenario.action !== 'redeploy' && deletedOthers.length > 0) {
        return result(false, `pods other than the target were removed: ${deletedOthers.join(', ')}`);
      }
      const acted = timeline.some(
        (e) =>
          e.event?.kind === 'action' &&
          e.event.applied &&
          e.event.component.endsWith(scenario.action) &&
          forAlert(e.event.message),
      );
      const effect =
        scenario.action === 'restart-pod'
          ? targetGone
          : scenario.action === 'redeploy'
            ? rolled && targetGone
            : replicas > replicasBefore;
      if (acted && effect && fullyAvailable(now)) {
        if (recoveredAt === undefined) {
          recoveredAt = clock.secondsSinceInjection();
          note(
            `healed  ${state.appDeployment} is fully available again (${describeEffect(scenario.action, now)})`,
          );
        }
        const stillAlerting = await firingAlertsFor(state.prometheusUrl, namespace).catch(() => ['?']);
        if (!stillAlerting.some((a) => a.startsWith(`${scenario.alertname}(`))) {
          resolvedAt = clock.secondsSinceInjection();
          note(`closed  ${scenario.alertname} resolved; time to recovery ${recoveredAt.toFixed(1)}s`);
          return result(true, 'healed');
        }
      }
    }
    return result(false, `not healed within ${bound}s`);
  } finally {
    await observer.stop();
  }
}

function describeEffect(action: string, now: Snapshot): string {
  const ready = now.pods.filter(isReady).length;
  if (action === 'scale') return `scaled to ${now.deployment.spec?.replicas} replicas, ${ready} ready`;
  if (action === 'redeploy') return `rolled out, ${ready} ready`;
  return `pod replaced, ${ready} ready`;
}
