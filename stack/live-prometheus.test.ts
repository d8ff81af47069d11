// Live check of the production scrape config: the built Prometheus runs stack/prometheus/prometheus.yml rendered for
// this machine (fast profile), discovering through the real API server as the production Prometheus ServiceAccount,
// while a node agent runs the sample app from its production Deployment manifest, an unannotated copy of it, and an
// annotated copy that did not opt in (scraped, yet never alerted on).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import test from 'ava';
import { parse } from 'yaml';
import { startKubeStateMetrics } from '../devkit/kube-state-metrics.ts';
import { startTestAgent } from '../playground/agent/test-support.ts';
import { testCluster, useNamespace } from '../test/helpers/cluster.ts';
import { eventually } from '../test/helpers/wait.ts';
import { prometheusToken, type Series, startPrometheus } from './live/prometheus.ts';
import { renderStack } from './profile.ts';
import { JOB_NAMES } from './source.ts';

const DEMO_APP = join(import.meta.dirname, '..', 'manifests', 'base', 'demo-app', 'deployment.yaml');
const APP_PORT = 3000;

const labelsOf = (series: Series[]) =>
  series
    .map(({ metric }) => metric)
    .sort((a, b) => `${a.pod}${a.status}`.localeCompare(`${b.pod}${b.status}`));

test('Prometheus finds annotated pods through the API server, labels their series as the rules expect, and reads cAdvisor through the API server proxy', async (t) => {
  const cluster = await testCluster();
  const [{ name: ns, kc }, agent] = await Promise.all([
    useNamespace(t, 'live-prometheus'),
    startTestAgent(cluster),
  ]);
  t.teardown(() => agent.stop());
  const core = kc.makeApiClient(CoreV1Api);

  // The sample app as production deploys it (annotated for scraping), and the same pod without the annotations.
  const deployment = parse(await readFile(DEMO_APP, 'utf8')) as V1Deployment;
  const template = deployment.spec?.template;
  if (!deployment.metadata || !deployment.spec || !template?.spec)
    throw new Error(`${DEMO_APP}: not a Deployment`);
  deployment.metadata.namespace = ns;
  deployment.spec.replicas = 1;
  Object.assign(template.spec, agent.placement);
  t.truthy(template.metadata?.annotations?.['prometheus.io/scrape'], 'the production pod template opts in');
  await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({ namespace: ns, body: deployment });
  await core.createNamespacedPod({
    namespace: ns,
    body: { metadata: { name: 'unannotated', labels: { app: 'unannotated' } }, spec: template.spec },
  });
  // Scraped like the app, failing like the app, but without the opt-in label: no selfheal alert may name it.
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: {
        name: 'foreign',
        labels: { app: 'foreign' },
        annotations: template.metadata?.annotations ?? {},
      },
      spec: template.spec,
    },
  });
  // kube-state-metrics as production runs it: the rules read the opt-in label from its kube_pod_labels.
  const ksm = await startKubeStateMetrics(cluster, { namespaces: [ns] });
  t.teardown(() => ksm.stop());

  const dir = await mkdtemp(join(tmpdir(), 'selfheal-live-prometheus-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const token = await prometheusToken(t, kc, ns);
  const tokenFile = join(dir, 'token');
  const kubeconfigFile = join(dir, 'kubeconfig');
  await writeFile(tokenFile, token, { mode: 0o600 });
  await writeFile(kubeconfigFile, cluster.kubeconfigTextForToken(token), { mode: 0o600 });
  const rendered = await renderStack({
    profile: 'fast',
    outDir: dir,
    local: {
      kubeconfigFile,
      apiServer: { url: cluster.server, caFile: cluster.caCertPath, bearerTokenFile: tokenFile },
      kubeStateMetricsUrl: `${ksm.url}/metrics`,
      // Nothing here fires on purpose; no Alertmanager listens.
      alertmanagerUrl: 'http://127.0.0.1:9',
    },
  });
  const prometheus = await startPrometheus(t, rendered.prometheusArgs);

  // Ready, not just Running: the app must listen before the test talks to it.
  const running = (pods: V1Pod[], prefix: string) =>
    pods.find(
      (p) =>
        p.metadata?.name?.startsWith(prefix) &&
        p.status?.podIP &&
        p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
  const [app, unannotated, foreign] = await eventually(
    'the three pods running and ready on the agent',
    async () => {
      const { items } = await core.listNamespacedPod({ namespace: ns });
      const found = [running(items, 'demo-app-'), running(items, 'unannotated'), running(items, 'foreign')];
      return found.every(Boolean) && (found as V1Pod[]);
    },
    { timeoutMs: 45_000 },
  );
  const appPod = app?.metadata?.name as string;
  const urlOf = (pod: V1Pod | undefined) => `http://${pod?.status?.podIP}:${APP_PORT}`;
  // Half of the answers of the app and of the foreign pod fail from now on, so the error-rate rule has something to see.
  for (const pod of [app, foreign]) {
    const simulated = await fetch(`${urlOf(pod)}/simulate/errors`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ratio: 0.5 }),
    });
    t.is(simulated.status, 200, await simulated.text());
  }
  const traffic = setInterval(() => {
    for (const pod of [app, unannotated, foreign])
      void fetch(`${urlOf(pod)}/`)
        .then((r) => r.arrayBuffer())
        .catch(() => {});
  }, 200);
  t.teardown(() => clearInterval(traffic));

  // Discovery sees the three running pods; relabelling keeps the annotated ones, with the labels the rules group by.
  const podsJob = await eventually(
    'the three running pods discovered, the annotated ones scraped',
    async () => {
      const { activeTargets, droppedTargets } = await prometheus.targets();
      const mine = <T extends { scrapePool: string; discoveredLabels: Record<string, string> }>(list: T[]) =>
        list.filter(
          (target) =>
            target.scrapePool === JOB_NAMES.pods &&
            target.discoveredLabels.__meta_kubernetes_namespace === ns &&
            target.discoveredLabels.__meta_kubernetes_pod_phase === 'Running',
        );
      const active = mine(activeTargets);
      const dropped = mine(droppedTargets);
      const seen = new Set(
        [...active, ...dropped].map((target) => target.discoveredLabels.__meta_kubernetes_pod_name),
      );
      const scraped = active.length === 2 && active.every((target) => target.health === 'up');
      return (
        scraped && seen.has(appPod) && seen.has('unannotated') && seen.has('foreign') && { active, dropped }
      );
    },
    { timeoutMs: 30_000 },
  );
  t.deepEqual(
    podsJob.active
      .map((target): Record<string, string> => ({ url: target.scrapeUrl, ...target.labels }))
      .sort((a, b) => String(a.pod).localeCompare(String(b.pod))),
    [app, foreign]
      .map((pod) => ({
        url: `${urlOf(pod)}/metrics`,
        job: JOB_NAMES.pods,
        instance: `${pod?.status?.podIP}:${APP_PORT}`,
        namespace: ns,
        pod: pod?.metadata?.name as string,
        container: 'app',
      }))
      .sort((a, b) => a.pod.localeCompare(b.pod)),
    'two targets: the annotated pods',
  );
  t.deepEqual(
    podsJob.dropped.map((target) => target.discoveredLabels.__meta_kubernetes_pod_name),
    ['unannotated'],
    'the pod without the annotation is dropped',
  );
  t.deepEqual(
    labelsOf(await prometheus.query(`up{namespace="${ns}", job="${JOB_NAMES.pods}"}`)).map(
      ({ pod, container, job }) => ({ pod, container, job }),
    ),
    [appPod, 'foreign'].sort().map((pod) => ({ pod, container: 'app', job: JOB_NAMES.pods })),
  );
  const requests = await eventually('http_requests_total of both statuses', async () => {
    const series = labelsOf(
      await prometheus.query(`http_requests_total{namespace="${ns}", pod="${appPod}", route="/"}`),
    );
    return new Set(series.map((s) => s.status)).size >= 2 && series;
  });
  for (const labels of requests) t.like(labels, { namespace: ns, pod: appPod, container: 'app' });

  // cAdvisor through the API server's node proxy: both pods' containers, the unannotated one included.
  const cadvisor = await eventually('the cAdvisor target of the agent node', async () =>
    (await prometheus.targets()).activeTargets.find(
      (target) => target.scrapePool === JOB_NAMES.cadvisor && target.labels.node === agent.nodeName,
    ),
  );
  t.is(cadvisor.scrapeUrl, `${cluster.server}/api/v1/nodes/${agent.nodeName}/proxy/metrics/cadvisor`);
  const memory = await eventually('working-set memory of the three pods', async () => {
    const series = labelsOf(
      await prometheus.query(
        `container_memory_working_set_bytes{namespace="${ns}", container!="", container!="POD"}`,
      ),
    );
    return series.length === 3 && series;
  });
  t.deepEqual(
    memory.map(({ job, namespace, pod, container, node }) => ({ job, namespace, pod, container, node })),
    [appPod, 'foreign', 'unannotated'].sort().map((pod) => ({
      job: JOB_NAMES.cadvisor,
      namespace: ns,
      pod,
      container: 'app',
      node: agent.nodeName,
    })),
  );

  // The opt-in label as the rules read it: the app pod carries it, the foreign pod does not.
  const optedIn = await eventually('kube_pod_labels of the three pods', async () => {
    const series = labelsOf(await prometheus.query(`kube_pod_labels{namespace="${ns}"}`));
    return series.length === 3 && series;
  });
  t.deepEqual(
    optedIn.map((labels) => [labels.pod, labels.label_selfheal_dev_enabled ?? '']),
    [
      [appPod, 'true'],
      ['foreign', ''],
      ['unannotated', ''],
    ].sort(([a], [b]) => (a as string).localeCompare(b as string)),
  );

  // The production rule itself picks the pod out of these labels: 50 % errors is above HighErrorRate's 10 %. The
  // foreign pod fails at the same ratio over the same window, and stays silent: it did not opt in.
  const alerts = await eventually(
    'HighErrorRate pending or firing for the sample app pod',
    async () => {
      const found = await prometheus.query(`ALERTS{alertname="HighErrorRate", namespace="${ns}"}`);
      return found.length > 0 && labelsOf(found);
    },
    { timeoutMs: 30_000 },
  );
  t.deepEqual(
    alerts.map((alert) => alert.pod),
    [appPod],
  );
  t.like(alerts[0], { namespace: ns, pod: appPod, action: 'restart-pod', severity: 'critical' });
  // A rate needs two scrapes of the foreign pod, which may come a scrape interval after the app pod's.
  const foreignRatio = await eventually('two scrapes of the foreign pod', async () => {
    const found = await prometheus.query(
      `sum(rate(http_requests_total{namespace="${ns}", pod="foreign", status=~"5.."}[1m])) / sum(rate(http_requests_total{namespace="${ns}", pod="foreign"}[1m]))`,
    );
    return found.length > 0 && found;
  });
  t.true(Number(foreignRatio[0]?.value[1]) > 0.1, 'the foreign pod fails above the threshold too');
});
