// The local control plane behaves like a real cluster: controllers reconcile, RBAC is enforced, the scheduler binds.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import test from 'ava';
import { serviceAccountKubeConfig, useNamespace } from '../test/helpers/cluster.ts';
import { eventually } from '../test/helpers/wait.ts';
import { renderKubeconfig } from './kubeconfig.ts';

const container = { name: 'app', image: 'registry.invalid/app:1' };

async function createDeployment(apps: AppsV1Api, namespace: string, name: string, replicas: number) {
  const labels = { app: name };
  await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: { containers: [container] } },
      },
    },
  });
}

async function podsOf(core: CoreV1Api, namespace: string, app: string): Promise<V1Pod[]> {
  const list = await core.listNamespacedPod({ namespace, labelSelector: `app=${app}` });
  return list.items.filter((pod) => !pod.metadata?.deletionTimestamp);
}

async function statusOf(call: () => Promise<unknown>): Promise<number> {
  try {
    await call();
    return 200;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

test("a Deployment's ReplicaSet creates its pods", async (t) => {
  const { name: namespace, kc } = await useNamespace(t, 'deploy');
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  await createDeployment(apps, namespace, 'web', 2);

  const pods = await eventually('two pods', async () => {
    const items = await podsOf(core, namespace, 'web');
    return items.length === 2 ? items : undefined;
  });
  const replicaSets = await apps.listNamespacedReplicaSet({ namespace });
  t.is(replicaSets.items.length, 1);
  const replicaSet = replicaSets.items[0];
  t.is(replicaSet?.metadata?.ownerReferences?.[0]?.kind, 'Deployment');
  t.is(replicaSet?.metadata?.ownerReferences?.[0]?.name, 'web');
  for (const pod of pods) {
    t.is(pod.metadata?.ownerReferences?.[0]?.kind, 'ReplicaSet');
    t.is(pod.metadata?.ownerReferences?.[0]?.name, replicaSet?.metadata?.name);
  }
});

test('deleting a pod makes the ReplicaSet create a replacement', async (t) => {
  const { name: namespace, kc } = await useNamespace(t, 'replace');
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  await createDeployment(apps, namespace, 'web', 2);
  const before = await eventually('two pods', async () => {
    const items = await podsOf(core, namespace, 'web');
    return items.length === 2 ? items.map((p) => p.metadata?.name as string) : undefined;
  });

  const victim = before[0] as string;
  // No node runs these pods, so nothing has to terminate them gracefully.
  await core.deleteNamespacedPod({ name: victim, namespace, gracePeriodSeconds: 0 });

  const after = await eventually('a replacement pod', async () => {
    const names = (await podsOf(core, namespace, 'web')).map((p) => p.metadata?.name as string);
    return names.length === 2 && !names.includes(victim) ? names : undefined;
  });
  t.false(after.includes(victim));
  t.true(after.includes(before[1] as string));
});

test('RBAC applies to a ServiceAccount token: nothing without a Role, then exactly what the Role grants', async (t) => {
  const { name: namespace, kc } = await useNamespace(t, 'rbac');
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'reader' } } });
  await core.createNamespacedPod({
    namespace,
    body: { metadata: { name: 'target' }, spec: { containers: [container] } },
  });

  const asReader = (await serviceAccountKubeConfig(namespace, 'reader')).makeApiClient(CoreV1Api);
  t.is(await statusOf(() => asReader.listNamespacedPod({ namespace })), 403);
  t.is(await statusOf(() => asReader.readNamespacedPod({ name: 'target', namespace })), 403);

  await rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name: 'pod-getter' },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: 'reader-gets-pods' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-getter' },
      subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace }],
    },
  });

  // The authorizer's informer sees the binding a moment later.
  await eventually('the Role binding to take effect', async () =>
    (await statusOf(() => asReader.readNamespacedPod({ name: 'target', namespace }))) === 200
      ? true
      : undefined,
  );
  t.is(await statusOf(() => asReader.listNamespacedPod({ namespace })), 403);
  t.is(await statusOf(() => asReader.deleteNamespacedPod({ name: 'target', namespace })), 403);
  t.is(
    await statusOf(() => core.readNamespacedPod({ name: 'target', namespace })),
    200,
    'the pod is still there',
  );
});

test('the scheduler binds a pod once a Ready node exists', async (t) => {
  const { name: namespace, kc } = await useNamespace(t, 'schedule');
  const core = kc.makeApiClient(CoreV1Api);
  const nodeName = `node-${randomBytes(3).toString('hex')}`;
  // Only this test's pod may land on this node (nodes are shared by the whole run), and only there.
  const taint = { key: 'selfheal.dev/test-node', value: nodeName, effect: 'NoSchedule' };
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: 'placed' },
      spec: {
        containers: [{ ...container, resources: { requests: { cpu: '100m', memory: '64Mi' } } }],
        nodeSelector: { 'kubernetes.io/hostname': nodeName },
        tolerations: [{ key: taint.key, operator: 'Equal', value: taint.value, effect: taint.effect }],
      },
    },
  });
  const unschedulable = await eventually('the scheduler to find no node', async () => {
    const pod = await core.readNamespacedPod({ name: 'placed', namespace });
    return pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  });
  t.is(unschedulable.reason, 'Unschedulable');

  t.teardown(() =>
    core.deleteNode({ name: nodeName }).then(
      () => {},
      () => {},
    ),
  );
  await core.createNode({
    body: {
      metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName } },
      spec: { taints: [taint] },
    },
  });
  const resources = { cpu: '2', memory: '4Gi', pods: '20' };
  const now = new Date();
  await core.patchNodeStatus(
    {
      name: nodeName,
      body: {
        status: {
          capacity: resources,
          allocatable: resources,
          addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'KubeletReady',
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
        },
      },
    },
    setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
  );

  const bound = await eventually('the pod to be bound to the new node', async () => {
    const pod = await core.readNamespacedPod({ name: 'placed', namespace });
    return pod.spec?.nodeName;
  });
  t.is(bound, nodeName);
});

test('a node identity (client cert from the cluster CA) may register itself but no other node', async (t) => {
  const { cluster } = await useNamespace(t, 'node-identity');
  const own = `node-${randomBytes(3).toString('hex')}`;
  const other = `node-${randomBytes(3).toString('hex')}`;
  const admin = cluster.kubeConfig().makeApiClient(CoreV1Api);
  t.teardown(async () => {
    for (const name of [own, other]) await admin.deleteNode({ name }).catch(() => {});
  });
  const cert = await cluster.issueClientCert(`system:node:${own}`, ['system:nodes']);
  const kc = new KubeConfig();
  kc.loadFromString(
    renderKubeconfig({
      server: cluster.server,
      caPem: await readFile(cluster.caCertPath, 'utf8'),
      credentials: {
        clientCertPem: await readFile(cert.certPath, 'utf8'),
        clientKeyPem: await readFile(cert.keyPath, 'utf8'),
      },
    }),
  );
  const asNode = kc.makeApiClient(CoreV1Api);

  t.is(await statusOf(() => asNode.createNode({ body: { metadata: { name: own } } })), 200);
  t.is(await statusOf(() => asNode.createNode({ body: { metadata: { name: other } } })), 403);
  t.is(await statusOf(() => asNode.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${own}` })), 200);
  t.is(
    await statusOf(() => asNode.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${other}` })),
    403,
  );
});
