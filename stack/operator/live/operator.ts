// prometheus-operator against the test control plane: its own CRDs applied, the operator running for chosen
// namespaces, and the configuration it generates read back from the Secrets and ConfigMaps it writes.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { ExecutionContext } from 'ava';
import { resolveBinaries, resolveOperatorCrds } from '../../../playground/cluster/binaries.ts';
import { freePorts } from '../../../playground/cluster/control-plane.ts';
import { testCluster } from '../../../test/helpers/cluster.ts';
import { eventually } from '../../../test/helpers/wait.ts';

const run = promisify(execFile);

export const MONITORING_GROUP = 'monitoring.coreos.com';

let installed: Promise<void> | undefined;

/**
 * Applies the operator's CRDs (from its Go module) to the test cluster, once per process, and waits until the API
 * server serves them. Server-side apply: the CRDs are too large for a client-side apply's annotation.
 */
export function installOperatorCrds(): Promise<void> {
  installed ??= (async () => {
    const cluster = await testCluster();
    const files = resolveOperatorCrds();
    const kubectl = (args: string[]) =>
      run(cluster.binaries.kubectl, [`--kubeconfig=${cluster.kubeconfigPath}`, ...args], {
        maxBuffer: 16 << 20,
        timeout: 120_000,
      });
    await kubectl([
      'apply',
      '--server-side',
      '--force-conflicts',
      '--field-manager=selfheal-tests',
      ...files.flatMap((file) => ['-f', file]),
    ]);
    await kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      ...files.flatMap((file) => ['-f', file]),
    ]);
  })();
  return installed;
}

export interface RunningOperator {
  /** The operator's own HTTP endpoint (metrics, health). */
  url: string;
  logTail(lines?: number): string;
}

/** The built operator, with admin credentials, watching only `namespaces`; stopped when the test ends. */
export async function startOperator(
  t: ExecutionContext,
  namespaces: readonly string[],
): Promise<RunningOperator> {
  await installOperatorCrds();
  const cluster = await testCluster();
  const binary = resolveBinaries(['prometheus-operator'])['prometheus-operator'];
  const [port] = (await freePorts(1)) as [number];
  const proc = await cluster.startProcess(
    `prometheus-operator-${port}`,
    binary,
    [`--namespaces=${namespaces.join(',')}`, `--web.listen-address=127.0.0.1:${port}`, '--log-level=info'],
    { env: { PATH: process.env.PATH ?? '', KUBECONFIG: cluster.kubeconfigPath } },
  );
  t.teardown(() => proc.stop());
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    'prometheus-operator to serve /healthz',
    async () => {
      if (!proc.running) throw new Error(`prometheus-operator exited:\n${proc.logTail()}`);
      return (await fetch(`${url}/healthz`)).ok;
    },
    { timeoutMs: 30_000 },
  );
  return { url, logTail: (lines) => proc.logTail(lines) };
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

/** The status conditions the operator reports on one of its resources (`prometheuses`, `alertmanagers`). */
export async function conditionsOf(
  kc: KubeConfig,
  plural: string,
  namespace: string,
  name: string,
): Promise<Condition[]> {
  const object = (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
    group: MONITORING_GROUP,
    version: 'v1',
    namespace,
    plural,
    name,
  })) as { status?: { conditions?: Condition[] } };
  return object.status?.conditions ?? [];
}

async function secretKey(kc: KubeConfig, namespace: string, name: string, key: string): Promise<Buffer> {
  const secret = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ namespace, name });
  const data = secret.data?.[key];
  if (data === undefined) throw new Error(`Secret ${namespace}/${name} has no key ${key}`);
  return Buffer.from(data, 'base64');
}

/** prometheus.yaml as the operator generated it for Prometheus `name` (Secret prometheus-<name>, gzipped). */
export async function generatedPrometheusConfig(
  kc: KubeConfig,
  namespace: string,
  name: string,
): Promise<string> {
  return gunzipSync(await secretKey(kc, namespace, `prometheus-${name}`, 'prometheus.yaml.gz')).toString(
    'utf8',
  );
}

/** The rule files the operator generated for Prometheus `name`: file name → content. */
export async function generatedRuleFiles(
  kc: KubeConfig,
  namespace: string,
  name: string,
): Promise<Record<string, string>> {
  const { items } = await kc.makeApiClient(CoreV1Api).listNamespacedConfigMap({ namespace });
  const prefix = `prometheus-${name}-rulefiles-`;
  return Object.assign(
    {},
    ...items.filter((cm) => cm.metadata?.name?.startsWith(prefix)).map((cm) => cm.data ?? {}),
  ) as Record<string, string>;
}

/** alertmanager.yaml as the operator generated it for Alertmanager `name` (Secret alertmanager-<name>-generated). */
export async function generatedAlertmanagerConfig(
  kc: KubeConfig,
  namespace: string,
  name: string,
): Promise<string> {
  return gunzipSync(
    await secretKey(kc, namespace, `alertmanager-${name}-generated`, 'alertmanager.yaml.gz'),
  ).toString('utf8');
}
