// selfheal behind a highly available monitoring stack, against the real control plane: two Prometheus replicas
// evaluate the production rules (fast profile) and alert two Alertmanagers clustered by gossip. The router's answers
// to the Alertmanager that notifies first are lost on the way back, so it never records the notification and the
// other one delivers the same alert again after its peer timeout. Both reach the router, every webhook is answered
// 200 by it (or 503 for a resolution that comes before the restart is verified, which is delivered again), the failing
// pod is restarted exactly once, and the resolution heals the episode.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import test from 'ava';
import { type CloudEvent, HTTP } from 'cloudevents';
import { parse } from 'yaml';
import { startKubeStateMetrics } from '../devkit/kube-state-metrics.ts';
import type { ActionEventData } from '../functions/lib/events.ts';
import { applyRbac } from '../functions/test-helpers.ts';
import { startTestAgent } from '../playground/agent/test-support.ts';
import { testCluster, useNamespace } from '../test/helpers/cluster.ts';
import { eventually } from '../test/helpers/wait.ts';
import { startHaStack } from './live/ha-stack.ts';
import { prometheusToken } from './live/prometheus.ts';
import type { Exchange } from './live/recording-proxy.ts';

const DEMO_APP = join(import.meta.dirname, '..', 'manifests', 'base', 'demo-app', 'deployment.yaml');
const APP_PORT = 3000;

interface WebhookBody {
  status: 'firing' | 'resolved';
  alerts: { status: string; labels: Record<string, string>; startsAt: string; fingerprint: string }[];
}
const webhookOf = (exchange: Exchange) => JSON.parse(exchange.body) as WebhookBody;
const answerOf = (exchange: Exchange) =>
  exchange.upstream ? (JSON.parse(exchange.upstream.body) as Record<string, unknown>) : undefined;
function cloudEventOf(exchange: Exchange): CloudEvent<ActionEventData> {
  const event = HTTP.toEvent({ headers: exchange.headers, body: exchange.body });
  if (Array.isArray(event)) throw new Error('expected one CloudEvent, got a batch');
  return event as CloudEvent<ActionEventData>;
}
// The router's own answer is 200, or 503 only because a resolution came before its action was verified.
function answeredOrVerifying(exchange: Exchange): boolean {
  if (exchange.upstream?.status === 200) return true;
  const answer = answerOf(exchange) as { results?: { outcome: string; reason?: string }[] } | undefined;
  return (
    exchange.upstream?.status === 503 &&
    (answer?.results ?? []).every((r) => r.outcome !== 'failed' || r.reason === 'verifying')
  );
}

test('two Prometheus replicas, two clustered Alertmanagers: every webhook answered, one action for the alert, healed', async (t) => {
  const cluster = await testCluster();
  const [{ name: ns, kc }, agent] = await Promise.all([useNamespace(t, 'live-ha'), startTestAgent(cluster)]);
  t.teardown(() => agent.stop());
  const core = kc.makeApiClient(CoreV1Api);
  await applyRbac(kc, ns);

  // The sample app as production deploys it: two opted-in replicas, one of which will fail.
  const deployment = parse(await readFile(DEMO_APP, 'utf8')) as V1Deployment;
  if (!deployment.metadata || !deployment.spec?.template.spec)
    throw new Error(`${DEMO_APP}: not a Deployment`);
  deployment.metadata.namespace = ns;
  Object.assign(deployment.spec.template.spec, agent.placement);
  await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({ namespace: ns, body: deployment });
  const ksm = await startKubeStateMetrics(cluster, { namespaces: [ns] });
  t.teardown(() => ksm.stop());

  // Both replicas discover and scrape as the production Prometheus ServiceAccount.
  const token = await prometheusToken(t, kc, ns);
  const dir = await mkdtemp(join(tmpdir(), 'selfheal-live-ha-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const kubeconfigFile = join(dir, 'prometheus.kubeconfig');
  const bearerTokenFile = join(dir, 'prometheus.token');
  await writeFile(kubeconfigFile, cluster.kubeconfigTextForToken(token), { mode: 0o600 });
  await writeFile(bearerTokenFile, token, { mode: 0o600 });
  const stack = await startHaStack(t, {
    namespace: ns,
    local: {
      kubeconfigFile,
      apiServer: { url: cluster.server, caFile: cluster.caCertPath, bearerTokenFile },
      kubeStateMetricsUrl: `${ksm.url}/metrics`,
    },
  });
  t.is(stack.prometheus.length, 2);
  const [first, second] = [...stack.alertmanagers].sort((a, b) => a.position - b.position);
  t.teardown(async () => {
    if (t.passed) return;
    for (const am of stack.alertmanagers) {
      const alerts = await fetch(`${am.url}/api/v2/alerts`).then(
        (r) => r.text(),
        (e: Error) => e.message,
      );
      t.log(
        `${am.name} (position ${am.position}) webhooks: ${am.webhooks.exchanges.map((e) => `${e.fault}:${e.status}:${e.fault === 'unavailable' ? '' : webhookOf(e).status}`).join(' ')}; alerts now: ${alerts}\n${am.logTail(40)}`,
      );
    }
  });
  if (!first || !second) throw new Error('two Alertmanagers expected');
  t.deepEqual([first.position, second.position], [0, 1]);

  const ready = (pod: V1Pod) =>
    pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
  const pods = await eventually(
    'both app pods ready',
    async () => {
      const { items } = await core.listNamespacedPod({ namespace: ns });
      const live = items.filter((p) => !p.metadata?.deletionTimestamp && ready(p) && p.status?.podIP);
      return live.length === 2 && live;
    },
    { timeoutMs: 60_000 },
  );
  const [sick, healthy] = pods as [V1Pod, V1Pod];
  const sickName = sick.metadata?.name as string;
  const urlOf = (pod: V1Pod) => `http://${pod.status?.podIP}:${APP_PORT}`;
  const traffic = setInterval(() => {
    for (const pod of [sick, healthy])
      void fetch(`${urlOf(pod)}/`).then(
        (r) => r.arrayBuffer(),
        () => {},
      );
  }, 100);
  t.teardown(() => clearInterval(traffic));

  // No webhook reaches the router until both replicas fire: a restart after the first replica fired would remove the
  // failing pod before the second fired, and there would be one copy of the alert to deduplicate, not two.
  for (const am of [first, second]) am.webhooks.setFallback('unavailable');
  const simulated = await fetch(`${urlOf(sick)}/simulate/errors`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ratio: 0.5 }),
  });
  t.is(simulated.status, 200, await simulated.text());

  // Both replicas evaluate the rule and fire; each Alertmanager holds one alert (the replica label is dropped).
  for (const [i, prometheus] of stack.prometheus.entries()) {
    await eventually(
      `HighErrorRate firing on Prometheus replica ${i}`,
      async () =>
        (await prometheus.query(`ALERTS{alertname="HighErrorRate", alertstate="firing", pod="${sickName}"}`))
          .length === 1,
      { timeoutMs: 90_000 },
    );
  }
  for (const am of stack.alertmanagers) {
    const alerts = await eventually(
      `${am.name} holding the alert`,
      async () => {
        const filter = new URLSearchParams({ filter: 'alertname="HighErrorRate"' });
        const found = (await (await fetch(`${am.url}/api/v2/alerts?${filter}`)).json()) as {
          labels: object;
        }[];
        return found.length > 0 && found;
      },
      { timeoutMs: 90_000 },
    );
    t.is(alerts.length, 1, `${am.name}: ${JSON.stringify(alerts)}`);
    t.like(alerts[0]?.labels, { namespace: ns, pod: sickName, action: 'restart-pod' });
  }
  // Now the router's answers to the Alertmanager that notifies first never arrive: the other delivers again.
  first.webhooks.setFallback('answer-lost');
  second.webhooks.setFallback('pass');

  // The first's delivery reaches the router and the pod is restarted; the second, seeing no record of it, delivers
  // the same alert after its peer timeout, and the router answers it too.
  const restartPod = stack.actions['restart-pod'];
  await eventually(
    'restart-pod applied',
    () => restartPod.exchanges.some((e) => answerOf(e)?.reason === 'restarted'),
    { timeoutMs: 90_000 },
  );
  await eventually(
    'the second Alertmanager delivered the firing alert',
    () =>
      second.webhooks.exchanges.some((e) => e.upstream?.status === 200 && webhookOf(e).status === 'firing'),
    { timeoutMs: 90_000 },
  );
  first.webhooks.setFallback('pass');

  // The replacement pod is healthy: the alert resolves on both replicas and both Alertmanagers.
  for (const [i, prometheus] of stack.prometheus.entries()) {
    await eventually(
      `HighErrorRate gone from Prometheus replica ${i}`,
      async () =>
        (await prometheus.query(`ALERTS{alertname="HighErrorRate", pod="${sickName}"}`)).length === 0,
      { timeoutMs: 90_000 },
    );
  }
  // Whichever Alertmanager the gossip leaves in charge delivers the resolution (the first skips it when it flushes
  // before the second's record reached it: it never saw a notification to resolve).
  const delivered = () =>
    [...first.webhooks.exchanges, ...second.webhooks.exchanges].filter((e) => e.upstream);
  await eventually(
    'the resolution delivered',
    () => delivered().some((e) => webhookOf(e).status === 'resolved' && e.status === 200),
    { timeoutMs: 90_000 },
  );

  // Every webhook the router received, from either Alertmanager, was answered 200 by it (or 503 while the restart was
  // being verified); both got through.
  t.deepEqual(
    delivered()
      .filter((e) => !answeredOrVerifying(e))
      .map((e) => `${e.upstream?.status} ${e.upstream?.body}`),
    [],
  );
  for (const am of [first, second]) {
    t.true(
      am.webhooks.exchanges.some((e) => e.upstream?.status === 200 && webhookOf(e).status === 'firing'),
      `${am.name} (position ${am.position}) delivered the firing alert to the router: ${am.webhooks.exchanges.map((e) => `${e.fault}:${e.status}`).join(' ')}`,
    );
  }

  // The resolution reached restart-pod and healed the episode.
  const resolutions = restartPod.exchanges.filter(
    (e) => e.upstream && cloudEventOf(e).type === 'dev.selfheal.resolved',
  );
  t.true(
    resolutions.some((e) => answerOf(e)?.reason === 'healed'),
    resolutions.map((e) => JSON.stringify(answerOf(e))).join('\n'),
  );

  // Exactly one action: one eviction, one RestartedPod Event; redeliveries carry the same event id.
  const calls = restartPod.exchanges.filter(
    (e) => e.upstream && cloudEventOf(e).type === 'dev.selfheal.action.restart-pod',
  );
  const applied = calls.filter((e) => answerOf(e)?.outcome === 'applied');
  t.is(applied.length, 1, calls.map((e) => JSON.stringify(answerOf(e))).join('\n'));
  t.like(cloudEventOf(applied[0] as Exchange).data?.target, { kind: 'Pod', name: sickName });
  const events = (await core.listNamespacedEvent({ namespace: ns })).items.filter(
    (e) => e.reportingComponent?.startsWith('selfheal/') && e.reason === 'RestartedPod',
  );
  t.is(events.length, 1, events.map((e) => e.message).join('\n'));
  // Both Alertmanagers hold the earliest startsAt of the replicas' copies, so every delivery is the same event.
  const ids = new Set(calls.map((e) => cloudEventOf(e).id));
  t.is(ids.size, 1, [...ids].join(', '));
  t.log(
    `webhooks: ${stack.alertmanagers.map((am) => `${am.name} (position ${am.position}) ${am.webhooks.exchanges.map((e) => `${e.fault}:${e.status}`).join(' ')}`).join('; ')}; restart-pod calls: ${calls.length}, event ids: ${ids.size}`,
  );
});
