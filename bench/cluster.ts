// What the benchmarks that act on the real control plane set up in it: a namespace holding the functions' RBAC as
// manifests/base/rbac has it, opted-in Deployments, and each action's ServiceAccount as a kubeconfig file, so that a
// function (or its baseline) acts with exactly the rights it has in a cluster.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  type V1Pod,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { type ControlPlane, startControlPlane } from '../playground/cluster/control-plane.ts';
import { eventually } from '../test/helpers/wait.ts';

const RBAC_DIR = join(import.meta.dirname, '..', 'manifests', 'base', 'rbac');
export const OPT_IN = { 'selfheal.dev/enabled': 'true' };

async function applyRbac(kc: KubeConfig, namespace: string): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  for (const file of ['serviceaccounts.yaml', 'clusterroles.yaml', 'rolebindings.yaml']) {
    for (const doc of parseAllDocuments(readFileSync(join(RBAC_DIR, file), 'utf8'))) {
      const object = doc.toJS() as KubernetesObject & { subjects?: Array<{ namespace?: string }> };
      if (object.metadata?.namespace) object.metadata.namespace = namespace;
      for (const subject of object.subjects ?? []) subject.namespace = namespace;
      await client.patch(object, undefined, undefined, 'selfheal-bench', true, PatchStrategy.ServerSideApply);
    }
  }
}

/** A namespace with the functions' ServiceAccounts, roles and bindings in it, ready for Deployments. */
export async function benchNamespace(kc: KubeConfig, namespace: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await eventually(
    'the default ServiceAccount',
    () => core.readNamespacedServiceAccount({ namespace, name: 'default' }),
    {
      timeoutMs: 60_000,
    },
  );
  await applyRbac(kc, namespace);
}

/** Opted-in Deployments (no node runs their pods: they stay Pending, which is all an action needs of them). */
export async function createDeployments(
  kc: KubeConfig,
  namespace: string,
  names: readonly string[],
  { replicas, annotations = {} }: { replicas: number; annotations?: Record<string, string> },
): Promise<void> {
  const apps = kc.makeApiClient(AppsV1Api);
  for (const name of names) {
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name, labels: OPT_IN, annotations },
        spec: {
          replicas,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: { containers: [{ name: 'app', image: 'registry.invalid/selfheal/app:1' }] },
          },
        },
      },
    });
  }
}

/** The pods of Deployment `app` that are not on their way out. */
export async function livePods(kc: KubeConfig, namespace: string, app: string): Promise<V1Pod[]> {
  const { items } = await kc
    .makeApiClient(CoreV1Api)
    .listNamespacedPod({ namespace, labelSelector: `app=${app}` });
  return items.filter((p) => !p.metadata?.deletionTimestamp);
}

/** `count` live pods of Deployment `app`, once its ReplicaSet has made them. */
export function waitForPods(kc: KubeConfig, namespace: string, app: string, count: number): Promise<V1Pod[]> {
  return eventually(
    `${count} pods of ${namespace}/${app}`,
    async () => {
      const pods = await livePods(kc, namespace, app);
      return pods.length >= count && pods;
    },
    { timeoutMs: 60_000, intervalMs: 50 },
  );
}

/** A kubeconfig file that acts as the function's ServiceAccount (a token from the TokenRequest API). */
export async function serviceAccountKubeconfig(
  cluster: ControlPlane,
  namespace: string,
  fn: string,
  dir: string,
): Promise<string> {
  const path = join(dir, `${namespace}-${fn}.kubeconfig`);
  writeFileSync(path, cluster.kubeconfigTextForToken(await cluster.mintToken(namespace, fn), namespace));
  return path;
}

/**
 * Runs `body` with a fresh control plane, then stops it and removes `dir` (the run's scratch folder), also when the
 * run is interrupted (Ctrl-C).
 */
export async function withControlPlane(
  dir: string,
  body: (cluster: ControlPlane) => Promise<void>,
): Promise<void> {
  const cluster = await startControlPlane();
  const cleanUp = async () => {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanUp().then(() => process.exit(130)));
  try {
    await body(cluster);
  } finally {
    await cleanUp();
  }
}
