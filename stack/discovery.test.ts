// Checks the Kubernetes discovery and relabelling of the scrape jobs against a real API server, through promtool.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoreV1Api,
  DiscoveryV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Container,
} from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import { testCluster, useNamespace } from '../test/helpers/cluster.ts';
import { renderStack } from './profile.ts';
import { JOB_NAMES } from './source.ts';
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

/**
 * What Prometheus would make of `job` in the production config rendered for the test cluster: promtool runs the
 * job's real Kubernetes discovery and relabelling. Returns the discovered targets `mine` selects, and the labels of
 * the ones kept.
 */
async function discover(
  t: ExecutionContext,
  job: string,
  mine: (discovered: Record<string, string>) => boolean,
): Promise<{ discovered: number; kept: Record<string, string>[] }> {
  const promtool = findTool('promtool', 'built');
  const cluster = await testCluster();
  const outDir = await mkdtemp(join(tmpdir(), 'selfheal-discovery-'));
  t.teardown(() => rm(outDir, { recursive: true, force: true }));
  const name = `prometheus-${randomBytes(3).toString('hex')}`;
  const cert = await cluster.issueClientCert(name, [], name);
  const rendered = await renderStack({
    profile: 'production',
    outDir,
    // No kubeStateMetricsUrl: its job keeps discovering it through its Service, as in a cluster.
    local: {
      kubeconfigFile: cluster.kubeconfigPath,
      apiServer: {
        url: cluster.server,
        caFile: cluster.caCertPath,
        certFile: cert.certPath,
        keyFile: cert.keyPath,
      },
      alertmanagerUrl: 'http://127.0.0.1:1',
    },
  });
  const run = await runTool(promtool, [
    'check',
    'service-discovery',
    '--timeout=5s',
    rendered.prometheusConfig,
    job,
  ]);
  if (run.code !== 0) throw new Error(`promtool check service-discovery failed: ${run.stderr}`);
  const results = (JSON.parse(run.stdout) as SdResult[]).filter((result) => mine(result.discoveredLabels));
  const kept = results.flatMap(({ labels }) => (labels && Object.keys(labels).length > 0 ? [labels] : []));
  return { discovered: results.length, kept };
}

test('pod scrape job: one target per opted-in running pod, with namespace, pod and the serving container', async (t) => {
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

  const { discovered, kept: targets } = await discover(
    t,
    JOB_NAMES.pods,
    (labels) => labels.__meta_kubernetes_namespace === namespace,
  );
  t.true(discovered > PODS.length, 'every pod should have been discovered');

  const kept = targets
    .map((labels) => ({
      pod: labels.pod,
      container: labels.container,
      namespace: labels.namespace,
      address: labels.__address__,
      path: labels.__metrics_path__,
    }))
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

test('kube-state-metrics job: found through the EndpointSlices of its Service, metrics port only, no pod labels of its own', async (t) => {
  const { name: namespace, kc } = await useNamespace(t, 'discovery-ksm');
  const service = 'kube-state-metrics';
  await kc.makeApiClient(CoreV1Api).createNamespacedService({
    namespace,
    body: {
      metadata: { name: service, labels: { 'app.kubernetes.io/name': 'kube-state-metrics' } },
      spec: {
        ports: [
          { name: 'http-metrics', port: 8080 },
          { name: 'telemetry', port: 8081 },
        ],
      },
    },
  });
  // What the EndpointSlice controller writes for one ready kube-state-metrics pod.
  await kc.makeApiClient(DiscoveryV1Api).createNamespacedEndpointSlice({
    namespace,
    body: {
      metadata: { name: `${service}-abcde`, labels: { 'kubernetes.io/service-name': service } },
      addressType: 'IPv4',
      ports: [
        { name: 'http-metrics', port: 8080, protocol: 'TCP' },
        { name: 'telemetry', port: 8081, protocol: 'TCP' },
      ],
      endpoints: [{ addresses: ['10.244.8.5'], conditions: { ready: true } }],
    },
  });
  const { kept } = await discover(
    t,
    JOB_NAMES.kubeStateMetrics,
    (labels) => labels.__meta_kubernetes_namespace === namespace,
  );
  t.deepEqual(
    kept.map((labels) => labels.__address__),
    ['10.244.8.5:8080'],
  );
  // kube-state-metrics' own namespace/pod/container labels describe other pods: the target must not add any.
  t.deepEqual(
    Object.keys(kept[0] ?? {}).filter((label) => ['namespace', 'pod', 'container'].includes(label)),
    [],
  );
});

test('cAdvisor job: every node is read through the API server proxy of the local control plane', async (t) => {
  const cluster = await testCluster();
  const nodes = cluster.kubeConfig().makeApiClient(CoreV1Api);
  const node = `selfheal-sd-${randomBytes(3).toString('hex')}`;
  // A node object only: unschedulable and tainted, so no pod of another test lands on it.
  await nodes.createNode({
    body: {
      metadata: { name: node },
      spec: { unschedulable: true, taints: [{ key: 'selfheal.dev/no-kubelet', effect: 'NoSchedule' }] },
    },
  });
  t.teardown(() =>
    nodes.deleteNode({ name: node }).then(
      () => {},
      () => {},
    ),
  );
  await nodes.patchNodeStatus(
    { name: node, body: { status: { addresses: [{ type: 'InternalIP', address: '10.0.9.1' }] } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  const { kept } = await discover(
    t,
    JOB_NAMES.cadvisor,
    (labels) => labels.__meta_kubernetes_node_name === node,
  );
  t.deepEqual(
    kept.map((labels) => ({
      address: labels.__address__,
      path: labels.__metrics_path__,
      scheme: labels.__scheme__,
      node: labels.node,
    })),
    [
      {
        address: new URL(cluster.server).host,
        path: `/api/v1/nodes/${node}/proxy/metrics/cadvisor`,
        scheme: 'https',
        node,
      },
    ],
  );
});
