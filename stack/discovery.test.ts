// Checks the pod scrape job's relabelling against pods of a real API server, through promtool's own service discovery.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1Container } from '@kubernetes/client-node';
import test from 'ava';
import { testCluster, useNamespace } from '../test/helpers/cluster.ts';
import { JOB_NAMES, renderStack } from './profile.ts';
import { findTool, runTool } from './tools.ts';

interface PodSpec {
  name: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  containers: V1Container[];
  initContainers?: V1Container[];
  phase: 'Running' | 'Pending';
}

const scrape = (port?: number, path?: string) => ({
  'prometheus.io/scrape': 'true',
  ...(port ? { 'prometheus.io/port': String(port) } : {}),
  ...(path ? { 'prometheus.io/path': path } : {}),
});
const container = (name: string, ...ports: number[]): V1Container => ({
  name,
  image: 'selfheal/app:test',
  ...(ports.length ? { ports: ports.map((containerPort) => ({ containerPort })) } : {}),
});

const PODS: PodSpec[] = [
  {
    name: 'app',
    annotations: scrape(3000, '/metrics'),
    containers: [container('app', 3000)],
    phase: 'Running',
  },
  {
    name: 'with-sidecar',
    annotations: scrape(3000),
    containers: [container('app', 3000, 3001), container('proxy', 15090, 15021)],
    phase: 'Running',
  },
  { name: 'undeclared-port', annotations: scrape(9100), containers: [container('app')], phase: 'Running' },
  {
    name: 'no-port-annotation',
    annotations: scrape(),
    containers: [container('app', 8080)],
    phase: 'Running',
  },
  {
    name: 'with-init',
    annotations: scrape(3000),
    initContainers: [container('migrate', 3000)],
    containers: [container('app', 3000)],
    phase: 'Running',
  },
  { name: 'not-opted-in', containers: [container('app', 3000)], phase: 'Running' },
  { name: 'pending', annotations: scrape(3000), containers: [container('app', 3000)], phase: 'Pending' },
  {
    name: 'kube-state-metrics',
    annotations: scrape(8080),
    labels: { 'app.kubernetes.io/name': 'kube-state-metrics' },
    containers: [container('kube-state-metrics', 8080, 8081)],
    phase: 'Running',
  },
  // The documented limit of one target per pod: the annotated port is not declared, another one is.
  {
    name: 'other-ports-only',
    annotations: scrape(9100),
    containers: [container('app', 8080)],
    phase: 'Running',
  },
];

interface SdResult {
  discoveredLabels: Record<string, string>;
  labels: Record<string, string> | null;
}

test('pod scrape job: one target per opted-in running pod, with namespace, pod and the serving container', async (t) => {
  const promtool = findTool('promtool', 'built');
  const cluster = await testCluster();
  const { name: namespace, kc } = await useNamespace(t, 'discovery');
  const core = kc.makeApiClient(CoreV1Api);
  const ips = new Map<string, string>();
  for (const [i, spec] of PODS.entries()) {
    const ip = `10.244.7.${i + 10}`;
    ips.set(spec.name, ip);
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: spec.name, annotations: spec.annotations ?? {}, labels: spec.labels ?? {} },
        spec: {
          containers: spec.containers,
          ...(spec.initContainers ? { initContainers: spec.initContainers } : {}),
        },
      },
    });
    // No node runs these pods: the status a kubelet would report is written directly (a merge patch, as the
    // scheduler updates the same status concurrently).
    if (spec.phase === 'Running') {
      await core.patchNamespacedPodStatus(
        { name: spec.name, namespace, body: { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    }
  }

  const outDir = await mkdtemp(join(tmpdir(), 'selfheal-discovery-'));
  t.teardown(() => rm(outDir, { recursive: true, force: true }));
  const cert = await cluster.issueClientCert(`prometheus-${namespace}`, [], `prometheus-${namespace}`);
  const rendered = await renderStack({
    profile: 'production',
    outDir,
    local: {
      kubeconfigFile: cluster.kubeconfigPath,
      apiServer: {
        url: cluster.server,
        caFile: cluster.caCertPath,
        certFile: cert.certPath,
        keyFile: cert.keyPath,
      },
      kubeStateMetricsUrl: 'http://127.0.0.1:1/metrics',
      alertmanagerUrl: 'http://127.0.0.1:1',
    },
  });
  const run = await runTool(promtool, [
    'check',
    'service-discovery',
    '--timeout=5s',
    rendered.prometheusConfig,
    JOB_NAMES.pods,
  ]);
  t.is(run.code, 0, run.stderr);
  const results = (JSON.parse(run.stdout) as SdResult[]).filter(
    (result) => result.discoveredLabels.__meta_kubernetes_namespace === namespace,
  );
  t.true(results.length > PODS.length, 'every pod should have been discovered');

  const kept = results
    .filter((result) => result.labels && Object.keys(result.labels).length > 0)
    .map(({ labels }) => {
      const {
        pod,
        container,
        namespace: ns,
        __address__,
        __metrics_path__,
      } = labels as Record<string, string>;
      return { pod, container, namespace: ns, address: __address__, path: __metrics_path__ };
    })
    .sort((a, b) => `${a.pod}`.localeCompare(`${b.pod}`));
  const target = (pod: string, containerName: string, port: number, path = '/metrics') => ({
    pod,
    container: containerName,
    namespace,
    address: `${ips.get(pod)}:${port}`,
    path,
  });
  t.deepEqual(kept, [
    target('app', 'app', 3000),
    target('no-port-annotation', 'app', 8080),
    target('undeclared-port', 'app', 9100),
    target('with-init', 'app', 3000),
    target('with-sidecar', 'app', 3000),
  ]);
});
