// prometheus-operator against a control plane of this machine: its own CRDs applied, the operator running for chosen
// namespaces, and the configuration it generates read back from the Secrets and ConfigMaps it writes.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { resolveBinaries, resolveOperatorCrds } from '../../devkit/binaries.ts';
import { type ControlPlane, freePorts } from '../../devkit/control-plane.ts';
import type { ManagedProcess } from '../../devkit/processes.ts';

const run = promisify(execFile);

export const MONITORING_GROUP = 'monitoring.coreos.com';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Applies the operator's CRDs (from its Go module) and waits until the API server serves them. Server-side apply: the
 * CRDs are too large for a client-side apply's annotation.
 */
export async function installOperatorCrds(cluster: ControlPlane): Promise<void> {
  const files = resolveOperatorCrds();
  const kubectl = (args: string[]) =>
    run(cluster.binaries.kubectl, [`--kubeconfig=${cluster.kubeconfigPath}`, ...args], {
      maxBuffer: 16 << 20,
      timeout: 120_000,
    });
  const fileArgs = files.flatMap((file) => ['-f', file]);
  await kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=selfheal', ...fileArgs]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...fileArgs]);
}

export interface RunningOperator {
  /** The operator's own HTTP endpoint (metrics, health). */
  url: string;
  process: ManagedProcess;
}

/** The built operator with admin credentials, watching only `namespaces`; resolves once it is healthy. */
export async function startOperator(
  cluster: ControlPlane,
  namespaces: readonly string[],
  timeoutMs = 30_000,
): Promise<RunningOperator> {
  const binary = resolveBinaries(['prometheus-operator'])['prometheus-operator'];
  const [port] = (await freePorts(1)) as [number];
  const proc = await cluster.startProcess(
    `prometheus-operator-${port}`,
    binary,
    [`--namespaces=${namespaces.join(',')}`, `--web.listen-address=127.0.0.1:${port}`, '--log-level=info'],
    { env: { PATH: process.env.PATH ?? '', KUBECONFIG: cluster.kubeconfigPath } },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!proc.running) throw new Error(`prometheus-operator exited:\n${proc.logTail()}`);
    if (
      await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { url, process: proc };
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`prometheus-operator was not healthy within ${timeoutMs / 1000}s:\n${proc.logTail()}`);
    }
    await sleep(200);
  }
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

async function secretData(kc: KubeConfig, namespace: string, name: string): Promise<Record<string, Buffer>> {
  const secret = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ namespace, name });
  return Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')]),
  );
}

async function secretKey(kc: KubeConfig, namespace: string, name: string, key: string): Promise<Buffer> {
  const data = (await secretData(kc, namespace, name))[key];
  if (data === undefined) throw new Error(`Secret ${namespace}/${name} has no key ${key}`);
  return data;
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

/** The files the operator's pods mount as TLS assets (Secret prometheus-<name>-tls-assets-0): file name → content. */
export async function generatedTlsAssets(
  kc: KubeConfig,
  namespace: string,
  name: string,
): Promise<Record<string, Buffer>> {
  return secretData(kc, namespace, `prometheus-${name}-tls-assets-0`).catch(() => ({}));
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
