// The RBAC of manifests/base/rbac against the real API server: each function's ServiceAccount may do exactly
// what the function needs in an allowed namespace, and the API server denies everything else.
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  PolicyV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import test from 'ava';
import { serviceAccountKubeConfig, useNamespace } from '../test/helpers/cluster.ts';
import type { FunctionName } from './lib/config.ts';
import {
  applyRbac,
  createDaemonSet,
  createDeployment,
  createStatefulSet,
  rbacManifests,
  waitForPods,
} from './test-helpers.ts';

type Clients = { core: CoreV1Api; apps: AppsV1Api; policy: PolicyV1Api };
type Where = {
  ns: string;
  other: string;
  pod: string;
  otherPod: string;
  adminDeployment: () => Promise<import('@kubernetes/client-node').V1Deployment>;
};

const mergePatch = setHeaderOptions('Content-Type', 'application/merge-patch+json');
const annotate = { metadata: { annotations: { 'rbac-test': 'yes' } } };

// Writes are dry runs: authorised exactly like the real request, and nothing changes between checks.
const OPERATIONS: Record<string, (c: Clients, w: Where) => Promise<unknown>> = {
  'get pods': (c, w) => c.core.readNamespacedPod({ namespace: w.ns, name: w.pod }),
  'list pods': (c, w) => c.core.listNamespacedPod({ namespace: w.ns }),
  'delete pods': (c, w) =>
    c.core.deleteNamespacedPod({ namespace: w.ns, name: w.pod, body: { dryRun: ['All'] } }),
  'create pods': (c, w) =>
    c.core.createNamespacedPod({
      namespace: w.ns,
      dryRun: 'All',
      body: {
        metadata: { name: 'intruder' },
        spec: { containers: [{ name: 'x', image: 'registry.invalid/x:1' }] },
      },
    }),
  'get replicasets': async (c, w) => {
    const pod = await c.core.readNamespacedPod({ namespace: w.ns, name: w.pod }).catch(() => undefined);
    const owner = pod?.metadata?.ownerReferences?.[0]?.name ?? 'web-unknown';
    return c.apps.readNamespacedReplicaSet({ namespace: w.ns, name: owner });
  },
  'list replicasets': (c, w) => c.apps.listNamespacedReplicaSet({ namespace: w.ns }),
  'get deployments': (c, w) => c.apps.readNamespacedDeployment({ namespace: w.ns, name: 'web' }),
  'list deployments': (c, w) => c.apps.listNamespacedDeployment({ namespace: w.ns }),
  'patch deployments': (c, w) =>
    c.apps.patchNamespacedDeployment(
      { namespace: w.ns, name: 'web', body: annotate, dryRun: 'All' },
      mergePatch,
    ),
  'update deployments': async (c, w) => {
    const admin = await w.adminDeployment();
    return c.apps.replaceNamespacedDeployment({ namespace: w.ns, name: 'web', body: admin, dryRun: 'All' });
  },
  'delete deployments': (c, w) =>
    c.apps.deleteNamespacedDeployment({ namespace: w.ns, name: 'web', body: { dryRun: ['All'] } }),
  'get deployments/scale': (c, w) => c.apps.readNamespacedDeploymentScale({ namespace: w.ns, name: 'web' }),
  'update deployments/scale': (c, w) =>
    c.apps.replaceNamespacedDeploymentScale({
      namespace: w.ns,
      name: 'web',
      dryRun: 'All',
      body: { metadata: { name: 'web', namespace: w.ns }, spec: { replicas: 2 } },
    }),
  'get statefulsets': (c, w) => c.apps.readNamespacedStatefulSet({ namespace: w.ns, name: 'web' }),
  'patch statefulsets': (c, w) =>
    c.apps.patchNamespacedStatefulSet(
      { namespace: w.ns, name: 'web', body: annotate, dryRun: 'All' },
      mergePatch,
    ),
  'list statefulsets': (c, w) => c.apps.listNamespacedStatefulSet({ namespace: w.ns }),
  'list daemonsets': (c, w) => c.apps.listNamespacedDaemonSet({ namespace: w.ns }),
  'delete statefulsets': (c, w) =>
    c.apps.deleteNamespacedStatefulSet({ namespace: w.ns, name: 'web', body: { dryRun: ['All'] } }),
  'get statefulsets/scale': (c, w) => c.apps.readNamespacedStatefulSetScale({ namespace: w.ns, name: 'web' }),
  'update statefulsets/scale': (c, w) =>
    c.apps.replaceNamespacedStatefulSetScale({
      namespace: w.ns,
      name: 'web',
      dryRun: 'All',
      body: { metadata: { name: 'web', namespace: w.ns }, spec: { replicas: 1 } },
    }),
  'get daemonsets': (c, w) => c.apps.readNamespacedDaemonSet({ namespace: w.ns, name: 'web' }),
  'patch daemonsets': (c, w) =>
    c.apps.patchNamespacedDaemonSet(
      { namespace: w.ns, name: 'web', body: annotate, dryRun: 'All' },
      mergePatch,
    ),
  'create pods/eviction': (c, w) =>
    c.core.createNamespacedPodEviction({
      namespace: w.ns,
      name: w.pod,
      dryRun: 'All',
      body: { metadata: { name: w.pod, namespace: w.ns }, deleteOptions: { dryRun: ['All'] } },
    }),
  'list poddisruptionbudgets': (c, w) => c.policy.listNamespacedPodDisruptionBudget({ namespace: w.ns }),
  'create events': (c, w) =>
    c.core.createNamespacedEvent({
      namespace: w.ns,
      body: {
        metadata: { generateName: 'rbac-test.' },
        involvedObject: { kind: 'Pod', namespace: w.ns, name: w.pod, apiVersion: 'v1' },
        reason: 'RbacTest',
        message: 'checking who may record events',
        type: 'Normal',
        firstTimestamp: new Date(),
        lastTimestamp: new Date(),
        count: 1,
      },
    }),
  'get secrets': (c, w) => c.core.readNamespacedSecret({ namespace: w.ns, name: 'credentials' }),
  'list secrets': (c, w) => c.core.listNamespacedSecret({ namespace: w.ns }),
  'get configmaps': (c, w) => c.core.readNamespacedConfigMap({ namespace: w.ns, name: 'kube-root-ca.crt' }),
  'get pods in another namespace': (c, w) =>
    c.core.readNamespacedPod({ namespace: w.other, name: w.otherPod }),
  'delete pods in another namespace': (c, w) =>
    c.core.deleteNamespacedPod({ namespace: w.other, name: w.otherPod, body: { dryRun: ['All'] } }),
  'patch deployments in another namespace': (c, w) =>
    c.apps.patchNamespacedDeployment(
      { namespace: w.other, name: 'web', body: annotate, dryRun: 'All' },
      mergePatch,
    ),
  'list namespaces': (c) => c.core.listNamespace(),
  'list nodes': (c) => c.core.listNode(),
};

const ALLOWED: Record<FunctionName, string[]> = {
  router: [],
  'restart-pod': [
    'get pods',
    'list pods',
    'delete pods',
    'create pods/eviction',
    'get replicasets',
    'get deployments',
    'list deployments',
    'patch deployments',
    'get statefulsets',
    'list statefulsets',
    'patch statefulsets',
    'get daemonsets',
    'list daemonsets',
    'patch daemonsets',
    'create events',
  ],
  redeploy: [
    'get pods',
    'list pods',
    'get replicasets',
    'get deployments',
    'list deployments',
    'patch deployments',
    'get statefulsets',
    'list statefulsets',
    'patch statefulsets',
    'get daemonsets',
    'list daemonsets',
    'patch daemonsets',
    'create events',
  ],
  scale: [
    'get pods',
    'list pods',
    'get replicasets',
    'get deployments',
    'list deployments',
    'patch deployments',
    'get deployments/scale',
    'update deployments/scale',
    'get statefulsets',
    'list statefulsets',
    'patch statefulsets',
    'get statefulsets/scale',
    'update statefulsets/scale',
    'get daemonsets',
    'list daemonsets',
    'create events',
  ],
};

function clients(kc: KubeConfig): Clients {
  return {
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    policy: kc.makeApiClient(PolicyV1Api),
  };
}

test('the manifests declare one ServiceAccount per function and bind the actions only in allowed namespaces', (t) => {
  const objects = rbacManifests('probe');
  const accounts = objects.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata?.name);
  t.deepEqual(accounts.sort(), ['redeploy', 'restart-pod', 'router', 'scale']);
  t.false(
    objects.some((o) => o.kind === 'ClusterRoleBinding'),
    'nothing is granted cluster-wide',
  );
  const bound = objects.filter((o) => o.kind === 'RoleBinding').map((o) => o.metadata?.name);
  t.deepEqual(bound.sort(), ['selfheal-redeploy', 'selfheal-restart-pod', 'selfheal-scale']);
});

test("each function's ServiceAccount may do what it needs and nothing else", async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'rbac');
  const { name: other } = await useNamespace(t, 'rbac-other');
  await applyRbac(kc, ns);
  const admin = clients(kc);
  await admin.core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'credentials' }, stringData: { password: 'x' } },
  });
  await createDeployment(kc, ns, 'web', { replicas: 1 });
  await createStatefulSet(kc, ns, 'web', { replicas: 1, app: 'web-sts' });
  await createDaemonSet(kc, ns, 'web', { app: 'web-ds' });
  await createDeployment(kc, other, 'web', { replicas: 1 });
  const [pod] = await waitForPods(kc, ns, 'web', 1);
  const [otherPod] = await waitForPods(kc, other, 'web', 1);
  const where = {
    ns,
    other,
    pod: pod?.metadata?.name as string,
    otherPod: otherPod?.metadata?.name as string,
    adminDeployment: () => admin.apps.readNamespacedDeployment({ namespace: ns, name: 'web' }),
  };

  for (const fn of Object.keys(ALLOWED) as FunctionName[]) {
    const as = clients(await serviceAccountKubeConfig(ns, fn));
    for (const [operation, run] of Object.entries(OPERATIONS)) {
      const expected = ALLOWED[fn].includes(operation) ? 'allowed' : 'forbidden';
      let actual: string;
      try {
        await run(as, where);
        actual = 'allowed';
      } catch (err) {
        actual =
          err instanceof ApiException && err.code === 403 ? 'forbidden' : `failed: ${(err as Error).message}`;
      }
      t.is(actual, expected, `${fn}: ${operation}`);
    }
  }
});
