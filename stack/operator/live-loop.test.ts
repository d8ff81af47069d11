// The whole loop through the monitoring prometheus-operator manages: the operator reconciles selfheal's resources into
// the Prometheus and Alertmanager configuration it generates; the built Prometheus and Alertmanager run exactly that
// (made local, see localize.ts) against the real control plane; a failing opted-in pod is detected by the generated
// rules through the PodMonitor's scraping, routed by the AlertmanagerConfig to the router with the token from the
// Secret, and restarted once. kube-state-metrics and cAdvisor are scraped through ScrapeConfigs, standing in for
// kube-prometheus-stack's own ServiceMonitors.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import test from 'ava';
import { parse } from 'yaml';
import { startKubeStateMetrics } from '../../devkit/kube-state-metrics.ts';
import { applyRbac } from '../../functions/test-helpers.ts';
import { startTestAgent } from '../../playground/agent/test-support.ts';
import { testCluster, useNamespace } from '../../test/helpers/cluster.ts';
import { eventually } from '../../test/helpers/wait.ts';
import { startFunctionsPath } from '../live/delivery-path.ts';
import { prometheusToken } from '../live/prometheus.ts';
import { startRecordingProxy } from '../live/recording-proxy.ts';
import { loadStack } from '../source.ts';
import { startOperator } from './live/operator.ts';
import { ensureServiceAccount, startOperatorStack } from './local-stack.ts';
import { profileSource } from './profile-source.ts';
import { standInScrapeConfigs } from './stand-ins.ts';

const DEMO_APP = join(import.meta.dirname, '..', '..', 'manifests', 'base', 'demo-app', 'deployment.yaml');
const APP_PORT = 3000;

interface PromAlerts {
  data: { alerts: { labels: Record<string, string>; state: string }[] };
}

test('a failing opted-in pod is healed once through the configuration prometheus-operator generates', async (t) => {
  const cluster = await testCluster();
  const [{ name: ns, kc }, agent] = await Promise.all([
    useNamespace(t, 'operator-loop'),
    startTestAgent(cluster),
  ]);
  t.teardown(() => agent.stop());
  const core = kc.makeApiClient(CoreV1Api);
  await applyRbac(kc, ns);
  const operator = await startOperator(t, [ns]);
  t.teardown(() => {
    if (!t.passed) t.log(`operator log:\n${operator.logTail(40)}`);
  });

  const deployment = parse(await readFile(DEMO_APP, 'utf8')) as V1Deployment;
  if (!deployment.metadata || !deployment.spec?.template.spec)
    throw new Error(`${DEMO_APP}: not a Deployment`);
  deployment.metadata.namespace = ns;
  Object.assign(deployment.spec.template.spec, agent.placement);
  await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({ namespace: ns, body: deployment });
  const ksm = await startKubeStateMetrics(cluster, { namespaces: [ns] });
  t.teardown(() => ksm.stop());

  const functions = await startFunctionsPath(t, { namespace: ns });
  const webhooks = await startRecordingProxy(functions.routerUrl);
  t.teardown(() => webhooks.close());
  const dir = await mkdtemp(join(tmpdir(), 'selfheal-operator-loop-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Discovery as the production Prometheus ServiceAccount (created in this namespace with its ClusterRole).
  const token = await prometheusToken(t, kc, ns);
  const kubeconfigFile = join(dir, 'prometheus.kubeconfig');
  await writeFile(kubeconfigFile, cluster.kubeconfigTextForToken(token), { mode: 0o600 });
  await ensureServiceAccount(kc, ns, 'prometheus');

  const stack = await startOperatorStack({
    cluster,
    kc,
    namespace: ns,
    profile: 'fast',
    routerUrl: `${webhooks.url}/`,
    webhookToken: functions.webhookToken,
    kubeconfigFile,
    serviceAccount: 'prometheus',
    dir,
    extraResources: standInScrapeConfigs(profileSource(await loadStack(), 'fast'), {
      namespace: ns,
      kubeStateMetricsUrl: `${ksm.url}/metrics`,
      apiServer: cluster.server,
      caPem: await readFile(cluster.caCertPath, 'utf8'),
      token,
    }),
  });
  t.teardown(() => stack.stop());

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

  // The PodMonitor's job scrapes the app, with the labels the rules group by; the stand-ins scrape the rest.
  const query = async (promql: string) => {
    const url = new URL('/api/v1/query', stack.prometheusUrl);
    url.searchParams.set('query', promql);
    return ((await (await fetch(url)).json()) as { data: { result: { metric: Record<string, string> }[] } })
      .data.result;
  };
  await eventually(
    'the app pods scraped through the selfheal-workloads PodMonitor',
    async () => (await query(`up{namespace="${ns}", job="${ns}/selfheal-workloads"} == 1`)).length === 2,
    { timeoutMs: 60_000 },
  );
  await eventually(
    'cAdvisor and kube-state-metrics scraped through the stand-in ScrapeConfigs',
    async () =>
      (await query(`container_memory_working_set_bytes{namespace="${ns}", container="app"}`)).length === 2 &&
      (await query(`kube_pod_labels{namespace="${ns}", label_selfheal_dev_enabled="true"}`)).length === 2,
    { timeoutMs: 60_000 },
  );

  const simulated = await fetch(`${urlOf(sick)}/simulate/errors`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ratio: 0.5 }),
  });
  t.is(simulated.status, 200, await simulated.text());

  const alerts = async () =>
    ((await (await fetch(`${stack.prometheusUrl}/api/v1/alerts`)).json()) as PromAlerts).data.alerts.filter(
      (a) => a.labels.alertname === 'HighErrorRate' && a.labels.pod === sickName,
    );
  await eventually(
    'HighErrorRate firing from the generated rules',
    async () => (await alerts()).some((a) => a.state === 'firing'),
    {
      timeoutMs: 90_000,
    },
  );
  const restartPod = functions.actions['restart-pod'];
  const answerOf = (body: string) => JSON.parse(body) as { outcome?: string; reason?: string };
  // A pod restarted (the resolution's answer is applied too: reason healed).
  const restarted = (body: string) => answerOf(body).reason === 'restarted';
  await eventually(
    'restart-pod applied',
    () => restartPod.exchanges.some((e) => e.upstream && restarted(e.upstream.body)),
    { timeoutMs: 60_000 },
  );
  await eventually('the alert resolved', async () => (await alerts()).length === 0, { timeoutMs: 90_000 });
  // The resolution closes the episode once the restart is verified (the replacement Ready): until then the router
  // answers 503 (reason verifying) and Alertmanager delivers it again.
  type Answer = { results: { reason?: string; outcome: string }[] };
  const resolutions = () =>
    webhooks.exchanges.filter((e) => (JSON.parse(e.body) as { status: string }).status === 'resolved');
  await eventually(
    'the resolution delivered and the episode healed',
    () =>
      resolutions().some(
        (e) =>
          e.status === 200 &&
          (JSON.parse(e.upstream?.body ?? '{}') as Answer).results?.some((r) => r.reason === 'healed'),
      ),
    { timeoutMs: 90_000 },
  );

  // The operator's route and receiver, the Secret's token, every webhook answered (503 only for a resolution that
  // came before its restart was verified); one action.
  for (const exchange of webhooks.exchanges) {
    const answer = JSON.parse(exchange.upstream?.body ?? '{}') as Answer;
    const verifying =
      exchange.status === 503 &&
      answer.results.every((r) => r.outcome !== 'failed' || r.reason === 'verifying');
    t.true(exchange.status === 200 || verifying, exchange.upstream?.body);
    t.is(exchange.headers.authorization, `Bearer ${functions.webhookToken}`);
    t.is((JSON.parse(exchange.body) as { receiver: string }).receiver, stack.routerReceiver);
  }
  const applied = restartPod.exchanges.filter((e) => e.upstream && restarted(e.upstream.body));
  t.is(applied.length, 1);
  const events = (await core.listNamespacedEvent({ namespace: ns })).items.filter(
    (e) => e.reportingComponent?.startsWith('selfheal/') && e.reason === 'RestartedPod',
  );
  t.is(events.length, 1);
});
