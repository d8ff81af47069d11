// The built Prometheus for the live checks: started on 127.0.0.1 with a rendered config, read through its HTTP API,
// and the production credentials it discovers and scrapes with.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  type V1ObjectMeta,
} from '@kubernetes/client-node';
import type { ExecutionContext } from 'ava';
import { parseAllDocuments } from 'yaml';
import { resolveBinaries } from '../../devkit/binaries.ts';
import { freePorts } from '../../devkit/control-plane.ts';
import { testCluster } from '../../test/helpers/cluster.ts';
import { eventually } from '../../test/helpers/wait.ts';

export interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

export interface ActiveTarget {
  labels: Record<string, string>;
  discoveredLabels: Record<string, string>;
  scrapePool: string;
  scrapeUrl: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
}

/** A target discovered and then dropped by relabelling. */
export interface DroppedTarget {
  discoveredLabels: Record<string, string>;
  scrapePool: string;
}

export interface Targets {
  activeTargets: ActiveTarget[];
  droppedTargets: DroppedTarget[];
}

export interface RunningPrometheus {
  url: string;
  /** An instant query; the result vector. */
  query(promql: string): Promise<Series[]>;
  /** Every target discovery found, scraped or dropped. */
  targets(): Promise<Targets>;
}

async function apiGet<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const body = (await response.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${url}: ${body.error ?? response.status}`);
  return body.data;
}

/** Starts the built Prometheus with `args` (its config flags) and a fresh data folder; stopped when the test ends. */
export async function startPrometheus(
  t: ExecutionContext,
  args: readonly string[],
): Promise<RunningPrometheus> {
  const binary = resolveBinaries(['prometheus']).prometheus;
  const cluster = await testCluster();
  const dir = await mkdtemp(join(tmpdir(), 'selfheal-live-prometheus-'));
  const [port] = (await freePorts(1)) as [number];
  const url = `http://127.0.0.1:${port}`;
  const proc = await cluster.startProcess(`prometheus-${port}`, binary, [
    ...args,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ]);
  t.teardown(async () => {
    await proc.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await eventually(
    'Prometheus to be ready',
    async () => {
      if (!proc.running) throw new Error(`Prometheus exited:\n${proc.logTail()}`);
      return (await fetch(`${url}/-/ready`)).ok;
    },
    { timeoutMs: 30_000 },
  );
  return {
    url,
    query: async (promql) =>
      (await apiGet<{ result: Series[] }>(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`))
        .result,
    targets: () => apiGet<Targets>(`${url}/api/v1/targets?state=any`),
  };
}

const PROMETHEUS_MANIFEST = join(
  import.meta.dirname,
  '..',
  '..',
  'manifests',
  'base',
  'monitoring',
  'prometheus.yaml',
);

type RbacObject = KubernetesObject & { metadata: V1ObjectMeta; subjects?: Array<{ namespace?: string }> };

/**
 * A token of the production Prometheus ServiceAccount (manifests/base/monitoring/prometheus.yaml) created in
 * `namespace`, with the production ClusterRole bound to it: what Prometheus may read in a cluster, and nothing more.
 */
export async function prometheusToken(
  t: ExecutionContext,
  kc: KubeConfig,
  namespace: string,
): Promise<string> {
  const objects = parseAllDocuments(await readFile(PROMETHEUS_MANIFEST, 'utf8')).map(
    (doc) => doc.toJS() as RbacObject,
  );
  const pick = (kind: string): RbacObject => {
    const found = objects.find((object) => object.kind === kind);
    if (!found) throw new Error(`${PROMETHEUS_MANIFEST} has no ${kind}`);
    return found;
  };
  const account = pick('ServiceAccount');
  account.metadata.namespace = namespace;
  const binding = pick('ClusterRoleBinding');
  // A binding of its own per test namespace: the production one names the selfheal namespace.
  binding.metadata.name = `${binding.metadata.name}-${namespace}`;
  for (const subject of binding.subjects ?? []) subject.namespace = namespace;
  const client = KubernetesObjectApi.makeApiClient(kc);
  for (const object of [account, pick('ClusterRole'), binding]) {
    await client.patch(object, undefined, undefined, 'selfheal-tests', true, PatchStrategy.ServerSideApply);
  }
  t.teardown(() =>
    client.delete(binding).then(
      () => {},
      () => {},
    ),
  );
  return (await testCluster()).mintToken(namespace, account.metadata.name as string);
}
