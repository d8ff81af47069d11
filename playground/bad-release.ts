// The bad-release scenario: a release that no restart cures (every new pod's readiness probe asks for a path the app
// does not serve), so selfheal walks its chain — restart-pod, redeploy, scale — then opens the breaker and tells a
// human through the real Alertmanager. Then the person fixes the release and clears the breaker, and the app settles.
import {
  AppsV1Api,
  type KubeConfig,
  KubeConfig as KubeConfigClass,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { BREAKER_ANNOTATION, readBreaker } from '../functions/lib/breaker.ts';
import { describe, observe, type TimelineEvent } from './observe.ts';
import type { ScenarioResult, TimelineEntry } from './run-scenario.ts';
import { waitForCalm } from './run-scenario.ts';
import type { Profile } from './scenarios.ts';
import type { PlaygroundState } from './state.ts';

export const BAD_RELEASE = {
  name: 'bad-release',
  alertname: 'PodNotReady',
  chain: ['restart-pod', 'redeploy', 'scale'] as const,
  // A readiness path this app does not serve: every pod of the release stays Running but never Ready.
  brokenPath: '/ready-v2',
  boundSeconds: { fast: 600, production: 1800 } as Record<Profile, number>,
};

const EVENT_OF: Record<(typeof BAD_RELEASE.chain)[number], string> = {
  'restart-pod': 'RestartedPod',
  redeploy: 'RestartedRollout',
  scale: 'ScaledUp',
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

type EscalationAlert = {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status: { state: string };
};

async function escalationAlerts(alertmanagerUrl: string): Promise<EscalationAlert[]> {
  const url = new URL('/api/v2/alerts', alertmanagerUrl);
  url.searchParams.set('filter', 'alertname="SelfhealEscalation"');
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return (await response.json()) as EscalationAlert[];
}

async function setReadinessPath(
  kc: KubeConfig,
  namespace: string,
  name: string,
  path: string,
): Promise<void> {
  await kc.makeApiClient(AppsV1Api).patchNamespacedDeployment(
    {
      namespace,
      name,
      body: [
        { op: 'replace', path: '/spec/template/spec/containers/0/readinessProbe/httpGet/path', value: path },
      ],
    },
    jsonPatch,
  );
}

export type BadReleaseOptions = {
  state: PlaygroundState;
  profile: Profile;
  boundSeconds?: number;
  print?: (line: string) => void;
};

export async function runBadRelease(
  options: BadReleaseOptions,
): Promise<ScenarioResult & { breakerAfterSeconds?: number }> {
  const { state, profile } = options;
  const print = options.print ?? (() => undefined);
  const bound = options.boundSeconds ?? BAD_RELEASE.boundSeconds[profile];
  const kc = new KubeConfigClass();
  kc.loadFromFile(state.kubeconfig);
  const apps = kc.makeApiClient(AppsV1Api);
  const { appNamespace: namespace, appDeployment: name } = state;

  const before = await waitForCalm(kc, state, 180, print);
  const container = before.deployment.spec?.template.spec?.containers[0];
  const goodPath = container?.readinessProbe?.httpGet?.path ?? '/ready';
  const replicasBefore = before.deployment.spec?.replicas ?? 1;

  const timeline: TimelineEntry[] = [];
  let injectedAt = new Date();
  const note = (line: string, event?: TimelineEvent, at = new Date()): void => {
    const offsetSeconds = (at.getTime() - injectedAt.getTime()) / 1000;
    timeline.push({ offsetSeconds, at, line, ...(event ? { event } : {}) });
    print(`${at.toISOString().slice(11, 19)}  +${offsetSeconds.toFixed(1).padStart(6)}s  ${line}`);
  };
  const observer = await observe({
    kubeConfig: kc,
    prometheusUrl: state.prometheusUrl,
    namespaces: [namespace],
    alertPollMs: profile === 'fast' ? 500 : 2000,
    onEvent: (event) => note(describe(event), event, event.at),
  });
  const forAlert = (message: string) => message.includes(`alert ${BAD_RELEASE.alertname},`);
  const first = (predicate: (e: TimelineEvent) => boolean) =>
    timeline.find((entry) => entry.event && predicate(entry.event))?.offsetSeconds;
  const acted = (action: (typeof BAD_RELEASE.chain)[number]) =>
    first((e) => e.kind === 'action' && e.applied && e.reason === EVENT_OF[action] && forAlert(e.message));

  let breakerAt: number | undefined;
  let resolvedAt: number | undefined;
  const result = (healed: boolean, reason: string) => {
    const firing = first(
      (e) => e.kind === 'alert' && e.alertname === BAD_RELEASE.alertname && e.state === 'firing',
    );
    const action = acted('restart-pod');
    return {
      scenario: BAD_RELEASE.name,
      healed,
      reason,
      targetPod: '',
      injectedAt,
      timeline,
      ...(firing !== undefined ? { firingAfterSeconds: firing } : {}),
      ...(action !== undefined ? { actionAfterSeconds: action } : {}),
      ...(breakerAt !== undefined
        ? { breakerAfterSeconds: breakerAt, recoveredAfterSeconds: breakerAt }
        : {}),
      ...(resolvedAt !== undefined ? { resolvedAfterSeconds: resolvedAt } : {}),
    };
  };

  try {
    injectedAt = new Date();
    await setReadinessPath(kc, namespace, name, BAD_RELEASE.brokenPath);
    note(
      `inject  a release of ${namespace}/${name} whose readiness probe asks for ${BAD_RELEASE.brokenPath}`,
    );

    const deadline = injectedAt.getTime() + bound * 1000;
    let told: EscalationAlert | undefined;
    while (Date.now() < deadline) {
      await sleep(1000);
      const deployment = await apps.readNamespacedDeployment({ namespace, name }).catch(() => undefined);
      const breaker = readBreaker(deployment?.metadata?.annotations);
      if (breaker && breakerAt === undefined) {
        breakerAt = (Date.now() - injectedAt.getTime()) / 1000;
        note(`breaker open on ${namespace}/${name}: ${breaker.message}`);
      }
      if (breaker && !told) {
        told = (await escalationAlerts(state.alertmanagerUrl).catch(() => [])).find(
          (a) => a.labels.namespace === namespace && a.status.state === 'active',
        );
        if (told) note(`paged   SelfhealEscalation in Alertmanager: ${told.annotations.summary}`);
      }
      if (breaker && told) break;
    }
    const missing = BAD_RELEASE.chain.filter((action) => acted(action) === undefined);
    if (breakerAt === undefined)
      return result(false, `no breaker within ${bound}s; steps missing: ${missing.join(', ') || 'none'}`);
    const order = BAD_RELEASE.chain.map(acted);
    if (missing.length > 0)
      return result(false, `the breaker opened, but these steps never acted: ${missing.join(', ')}`);
    if (order.some((at, i) => i > 0 && (at ?? 0) < (order[i - 1] ?? 0))) {
      return result(false, `the steps did not act in the order of the chain: ${order.join(', ')}`);
    }
    const paged = await escalationAlerts(state.alertmanagerUrl).catch(() => []);
    if (!paged.some((a) => a.labels.namespace === namespace)) {
      return result(false, 'the breaker opened, but no SelfhealEscalation alert reached Alertmanager');
    }

    // The person on call fixes the release and re-arms selfheal (`kubectl annotate … selfheal.dev/breaker-`).
    await setReadinessPath(kc, namespace, name, goodPath);
    await apps.patchNamespacedDeployment(
      {
        namespace,
        name,
        body: {
          spec: { replicas: replicasBefore },
          metadata: { annotations: { [BREAKER_ANNOTATION]: null } },
        },
      },
      mergePatch,
    );
    note(
      `fixed   readiness path back to ${goodPath}, ${replicasBefore} replicas; kubectl annotate deployment ${name} -n ${namespace} ${BREAKER_ANNOTATION}-`,
    );
    const remaining = Math.max(60, (deadline - Date.now()) / 1000);
    await waitForCalm(kc, state, remaining, print);
    resolvedAt = (Date.now() - injectedAt.getTime()) / 1000;
    note(`closed  ${name} fully available again, no alert left`);
    return result(true, 'walked the chain, opened the breaker and paged a human');
  } finally {
    await observer.stop();
  }
}
