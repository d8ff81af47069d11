// The real control plane for tests: the run's shared cluster, a fresh namespace per test, ServiceAccount credentials.
import { randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { type ExecutionContext, registerCompletionHandler } from 'ava';
import {
  type ControlPlane,
  connectControlPlane,
  startControlPlane,
  type TokenOptions,
} from '../../devkit/control-plane.ts';
import { TEST_KUBECONFIG_ENV } from './env.ts';
import { eventually } from './wait.ts';

export { TEST_CA_ENV, TEST_KUBECONFIG_ENV } from './env.ts';

let shared: Promise<ControlPlane> | undefined;

/**
 * The control plane of this test run. Under `npm test` it is the one test/run.ts started (found through
 * SELFHEAL_TEST_KUBECONFIG); when a test file is run with ava directly, one is started for this process and stopped
 * when its tests are done.
 */
export function testCluster(): Promise<ControlPlane> {
  shared ??= (async () => {
    const kubeconfig = process.env[TEST_KUBECONFIG_ENV];
    const cluster = kubeconfig ? await connectControlPlane(kubeconfig) : await startControlPlane();
    // A connected handle stops only the helper processes started through it.
    registerCompletionHandler(() => void cluster.stop());
    return cluster;
  })();
  return shared;
}

export interface TestNamespace {
  name: string;
  /** Admin credentials (system:masters). */
  kc: KubeConfig;
  cluster: ControlPlane;
}

const NAMESPACE_LABEL = 'selfheal.dev/test';

/**
 * A fresh namespace for this test, deleted when it ends (pass or fail). Resolves once the namespace's `default`
 * ServiceAccount exists, so pods and Deployments can be created right away.
 */
export async function useNamespace(t: ExecutionContext, prefix = 'test'): Promise<TestNamespace> {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const name = `${dnsLabel(prefix)}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name, labels: { [NAMESPACE_LABEL]: 'true' } } } });
  t.teardown(async () => {
    // The namespace controller removes the contents in the background; nothing to wait for.
    await core.deleteNamespace({ name }).catch(() => {});
  });
  await eventually(`the default ServiceAccount of namespace ${name}`, () =>
    core.readNamespacedServiceAccount({ name: 'default', namespace: name }),
  );
  return { name, kc, cluster };
}

/** Credentials of `namespace/serviceAccount` (TokenRequest API): the same identity and RBAC a pod of it would have. */
export async function serviceAccountKubeConfig(
  namespace: string,
  serviceAccount: string,
  options?: TokenOptions,
): Promise<KubeConfig> {
  const cluster = await testCluster();
  return cluster.kubeConfigForToken(await cluster.mintToken(namespace, serviceAccount, options), namespace);
}

/** Lower-case letters, digits and dashes, starting with a letter, short enough to leave room for a suffix. */
function dnsLabel(prefix: string): string {
  const cleaned = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .slice(0, 50)
    .replace(/-+$/, '');
  return cleaned || 'test';
}
