// Live check of the production scrape config: the built Prometheus runs stack/prometheus/prometheus.yml rendered for
// this machine (fast profile), discovering through the real API server as the production Prometheus ServiceAccount,
// while a node agent runs the sample app from its production Deployment manifest and an unannotated copy of it.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import test from 'ava';
import { parse } from 'yaml';
import { startTestAgent } from '../playground/agent/test-support.ts';
import { testCluster, useNamespace } from '../test/helpers/cluster.ts';
import { eventually } from '../test/helpers/wait.ts';
import { prometheusToken, type Series, startPrometheus } from './live/prometheus.ts';
import { JOB_NAMES, renderStack } from './profile.ts';

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
  const [app, unannotated] = await eventually(
    'both pods running and ready on the agent',
    async () => {
      const { items } = await core.listNamespacedPod({ namespace: ns });
      const found = [running(items, 'demo-app-'), running(items, 'unannotated')];
      return found.every(Boolean) && (found as V1Pod[]);
    },
    { timeoutMs: 45_000 },
  );
  const appPod = app?.metadata?.name as string;
  const urlOf = (pod: V1Pod | undefined) => `http://${pod?.status?.podIP}:${APP_PORT}`;
  // Half of the app's answers fail from now on, so the error-rate rule has something to see.
  const simulated = await fetch(`${urlOf(app)}/simulate/errors`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ratio: 0.5 }),
  });
  t.is(simulated.status, 200, await simulated.text());
  const traffic = setInterval(() => {
    for (const pod of [app, unannotated])
      void fetch(`${urlOf(pod)}/`)
        .then((r) => r.arrayBuffer())
        .catch(() => {});
  }, 200);
  t.teardown(() => clearInterval(traffic));

  // Discovery sees both running pods; relabelling keeps the annotated one, with the labels the rules group by.
  const podsJob = await eventually(
    'both running pods discovered, the annotated one scraped',
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
      const scraped = active.some((target) => target.health === 'up');
      return scraped && seen.has(appPod) && seen.has('unannotated') && { active, dropped };
    },
    { timeoutMs: 30_000 },
  );
  t.deepEqual(
    podsJob.active.map((target) => ({ url: target.scrapeUrl, ...target.labels })),
    [
      {
        url: `${urlOf(app)}/metrics`,
        job: JOB_NAMES.pods,
        instance: `${app?.status?.podIP}:${APP_PORT}`,
        namespace: ns,
        pod: appPod,
        container: 'app',
      },
    ],
    'one target: the annotated pod',
  );
  t.deepEqual(
    podsJob.dropped.map((target) => target.discoveredLabels.__meta_kubernetes_pod_name),
    ['unannotated'],
    'the pod without the annotation is dropped',
  );
  t.deepEqual(
    labelsOf(await prometheus.query(`up{namespace="${ns}"}`)).map(({ pod, container, job }) => ({
      pod,
      container,
      job,
    })),
    [{ pod: appPod, container: 'app', job: JOB_NAMES.pods }],
  );
  const requests = await eventually('http_requests_total of both statuses', async () => {
    const series = labelsOf(await prometheus.query(`http_requests_total{namespace="${ns}", route="/"}`));
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
  const memory = await eventually('working-set memory of both pods', async () => {
    const series = labelsOf(
      await prometheus.query(
        `container_memory_working_set_bytes{namespace="${ns}", container!="", container!="POD"}`,
      ),
    );
    return series.length === 2 && series;
  });
  t.deepEqual(
    memory.map(({ job, namespace, pod, container, node }) => ({ job, namespace, pod, container, node })),
    [appPod, 'unannotated'].map((pod) => ({
      job: JOB_NAMES.cadvisor,
      namespace: ns,
      pod,
      container: 'app',
      node: agent.nodeName,
    })),
  );

  // The production rule itself picks the pod out of these labels: 50 % errors is above HighErrorRate's 10 %.
  const [alert] = await eventually(
    'HighErrorRate pending or firing for the sample app pod',
    async () => {
      const alerts = await prometheus.query(`ALERTS{alertname="HighErrorRate", namespace="${ns}"}`);
      return alerts.length > 0 && labelsOf(alerts);
    },
    { timeoutMs: 30_000 },
  );
  t.like(alert, { namespace: ns, pod: appPod, action: 'restart-pod', severity: 'critical' });
});
