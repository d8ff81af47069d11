// The actions on StatefulSets and DaemonSets against the real control plane (its statefulset and daemonset
// controllers running), each action with its own ServiceAccount: a pod restarted and replaced, a rollout restarted
// and rolled over, a StatefulSet scaled; a Job's pod refused and left alone.
import { AppsV1Api, BatchV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import test from 'ava';
import { useNamespace } from '../test/helpers/cluster.ts';
import { eventually } from '../test/helpers/wait.ts';
import { readLedger } from './lib/ledger.ts';
import { redeploy } from './redeploy/redeploy.ts';
import { restartPod } from './restart-pod/restart-pod.ts';
import { scale } from './scale/scale.ts';
import {
  alertEvent,
  applyRbac,
  createDaemonSet,
  createStatefulSet,
  eventsAbout,
  finishDeletion,
  markReady,
  podsOf,
  sendEvent,
  sendJson,
  startAction,
  useNode,
  waitForPods,
} from './test-helpers.ts';

const REVISION_LABEL = 'controller-revision-hash';

async function allPods(kc: KubeConfig, namespace: string, app: string): Promise<V1Pod[]> {
  const core = kc.makeApiClient(CoreV1Api);
  return (await core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })).items;
}

test('a StatefulSet pod is evicted and its StatefulSet recreates it under the same name; redelivery does nothing', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'sts-restart');
  await applyRbac(kc, ns);
  await createStatefulSet(kc, ns, 'db', { replicas: 2 });
  const pods = await markReady(kc, ns, await waitForPods(kc, ns, 'db', 2));
  const victim = pods.find((p) => p.metadata?.name === 'db-0') as V1Pod;
  const url = await startAction(t, 'restart-pod', restartPod, ns);

  const event = alertEvent('restart-pod', { namespace: ns, kind: 'Pod', name: 'db-0' }, 'HighMemoryUsage');
  const res = await sendEvent(url, event);
  t.is(res.status, 200);
  t.like(res.body, { outcome: 'applied', reason: 'restarted', deployment: `${ns}/db` });
  t.regex(String(res.body.message), /evicted pod .*\/db-0 so StatefulSet db replaces it/);

  const replaced = await eventually('db-0 recreated with a new uid', async () => {
    const pod = (await podsOf(kc, ns, 'db')).find((p) => p.metadata?.name === 'db-0');
    return pod && pod.metadata?.uid !== victim.metadata?.uid && pod;
  });
  t.truthy(replaced.metadata?.uid);

  const sts = await kc.makeApiClient(AppsV1Api).readNamespacedStatefulSet({ namespace: ns, name: 'db' });
  t.like(readLedger(sts.metadata?.annotations).last, { id: event.id, action: 'restart-pod', state: 'done' });
  const [recorded] = await eventsAbout(kc, ns, 'db-0');
  t.like(recorded, { reason: 'RestartedPod', related: { kind: 'StatefulSet', name: 'db' } });

  // The pod's name exists again (a new incarnation): the record, not the name, says it was done.
  const again = await sendEvent(url, event);
  t.like(again.body, { outcome: 'skipped', reason: 'already-done' });
  const after = (await podsOf(kc, ns, 'db')).find((p) => p.metadata?.name === 'db-0');
  t.is(after?.metadata?.uid, replaced.metadata?.uid, 'the new db-0 is left alone');
});

test('a StatefulSet is redeployed: its controller rolls a pod over to the new revision', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'sts-redeploy');
  await applyRbac(kc, ns);
  const apps = kc.makeApiClient(AppsV1Api);
  await createStatefulSet(kc, ns, 'db', { replicas: 2 });
  await markReady(kc, ns, await waitForPods(kc, ns, 'db', 2));
  const before = await eventually('the first revision', async () => {
    const sts = await apps.readNamespacedStatefulSet({ namespace: ns, name: 'db' });
    return sts.status?.updateRevision;
  });
  const url = await startAction(t, 'redeploy', redeploy, ns);
  const res = await sendJson(url, { namespace: ns, statefulset: 'db' });
  t.is(res.status, 200);
  t.like(res.body, { outcome: 'applied', reason: 'restarted', target: { kind: 'StatefulSet', name: 'db' } });
  t.regex(String(res.body.message), /restarted the rollout of StatefulSet/);

  const revision = await eventually('a new revision', async () => {
    const sts = await apps.readNamespacedStatefulSet({ namespace: ns, name: 'db' });
    return sts.status?.updateRevision !== before && sts.status?.updateRevision;
  });
  const rolled = await eventually('a pod of the new revision', async () => {
    const pods = await podsOf(kc, ns, 'db');
    return pods.find((p) => p.metadata?.labels?.[REVISION_LABEL] === revision);
  });
  t.truthy(rolled.metadata?.name);
  const sts = await apps.readNamespacedStatefulSet({ namespace: ns, name: 'db' });
  t.like(readLedger(sts.metadata?.annotations).last, { action: 'redeploy', state: 'done' });
});

test('a StatefulSet scales through its scale subresource up to the maximum', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'sts-scale');
  await applyRbac(kc, ns);
  await createStatefulSet(kc, ns, 'cache', { replicas: 1 });
  await waitForPods(kc, ns, 'cache', 1);
  const url = await startAction(t, 'scale', scale, ns, { env: { SELFHEAL_MAX_REPLICAS: '2' } });
  const event = alertEvent('scale', { namespace: ns, kind: 'StatefulSet', name: 'cache' }, 'HighCPUUsage');
  const res = await sendEvent(url, event);
  t.like(res.body, { outcome: 'applied', reason: 'scaled', detail: { from: 1, to: 2 } });
  const pods = await waitForPods(kc, ns, 'cache', 2);
  t.deepEqual(pods.map((p) => p.metadata?.name).sort(), ['cache-0', 'cache-1']);
  const atMax = await sendJson(url, { namespace: ns, pod: 'cache-1' });
  t.like(atMax.body, { outcome: 'skipped', reason: 'at-maximum' });
  t.regex(String(atMax.body.message), /StatefulSet .*\/cache has 2 replicas/);
});

test('a DaemonSet pod is evicted and replaced, its rollout restarted and rolled over; scaling it is refused', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'ds');
  await applyRbac(kc, ns);
  const node = await useNode(t, kc);
  await createDaemonSet(kc, ns, 'agent', { node });
  const [first] = await markReady(
    kc,
    ns,
    await eventually('the DaemonSet pod bound to the test node', async () => {
      const pods = await podsOf(kc, ns, 'agent');
      return pods.length === 1 && pods[0]?.spec?.nodeName === node.name && pods;
    }),
  );
  const firstName = first?.metadata?.name as string;

  const restartUrl = await startAction(t, 'restart-pod', restartPod, ns);
  const res = await sendJson(restartUrl, { namespace: ns, pod: firstName });
  t.like(res.body, { outcome: 'applied', reason: 'restarted' });
  t.regex(String(res.body.message), /evicted pod .* so DaemonSet agent replaces it/);
  // Bound to a node, the pod terminates gracefully: the test plays the kubelet that confirms it stopped.
  await finishDeletion(kc, ns, firstName);
  const [second] = await eventually('a replacement pod on the node', async () => {
    const pods = await podsOf(kc, ns, 'agent');
    return pods.length === 1 && pods[0]?.metadata?.name !== firstName && pods;
  });

  const oldRevision = second?.metadata?.labels?.[REVISION_LABEL];
  const redeployUrl = await startAction(t, 'redeploy', redeploy, ns);
  const restarted = await sendJson(redeployUrl, { namespace: ns, daemonset: 'agent' });
  t.like(restarted.body, { outcome: 'applied', reason: 'restarted', target: { kind: 'DaemonSet' } });
  const rolled = await eventually('a pod of the new revision', async () => {
    const pods = await allPods(kc, ns, 'agent');
    for (const pod of pods) {
      if (pod.metadata?.deletionTimestamp) await finishDeletion(kc, ns, pod.metadata.name as string);
    }
    return pods.find(
      (p) => !p.metadata?.deletionTimestamp && p.metadata?.labels?.[REVISION_LABEL] !== oldRevision,
    );
  });
  t.truthy(rolled.metadata?.name);

  const scaleUrl = await startAction(t, 'scale', scale, ns);
  const byPod = await sendJson(scaleUrl, { namespace: ns, pod: rolled.metadata?.name });
  t.is(byPod.status, 422);
  t.like(byPod.body, { outcome: 'refused', reason: 'not-scalable' });
  // Named directly, the DaemonSet is refused the same way, with its Event.
  const byName = await sendJson(scaleUrl, { namespace: ns, daemonset: 'agent' });
  t.is(byName.status, 422);
  t.like(byName.body, { outcome: 'refused', reason: 'not-scalable' });
  t.regex(String(byName.body.message), /no replicas to scale/);
  t.true(
    (await eventsAbout(kc, ns, 'agent')).some(
      (e) => e.reason === 'Refused' && /no replicas/.test(e.message ?? ''),
    ),
  );
  // An alert's scale, with the DaemonSet's budget spent (two actions, a budget of two): still refused by name, not
  // a breaker scale may not write on the DaemonSet.
  const spent = await startAction(t, 'scale', scale, ns, { env: { SELFHEAL_ACTION_BUDGET: '2' } });
  const before = await kc.makeApiClient(AppsV1Api).readNamespacedDaemonSet({ namespace: ns, name: 'agent' });
  const alerted = await sendEvent(
    spent,
    alertEvent('scale', { namespace: ns, kind: 'DaemonSet', name: 'agent' }, 'HighCPUUsage'),
  );
  t.is(alerted.status, 422, JSON.stringify(alerted.body));
  t.like(alerted.body, { outcome: 'refused', reason: 'not-scalable' });
  const ds = await kc.makeApiClient(AppsV1Api).readNamespacedDaemonSet({ namespace: ns, name: 'agent' });
  t.deepEqual(ds.metadata?.annotations, before.metadata?.annotations, 'nothing written on the DaemonSet');
  const ledger = readLedger(ds.metadata?.annotations);
  t.deepEqual(ledger.history.map((e) => e.action).sort(), ['redeploy', 'restart-pod']);
});

test("a Job's pod is refused with the reason, and left alone", async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'job-pod');
  await applyRbac(kc, ns);
  const job = await kc.makeApiClient(BatchV1Api).createNamespacedJob({
    namespace: ns,
    body: {
      metadata: { name: 'migrate', labels: { 'selfheal.dev/enabled': 'true' } },
      spec: {
        suspend: true,
        template: {
          spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'registry.invalid/m:1' }] },
        },
      },
    },
  });
  const core = kc.makeApiClient(CoreV1Api);
  const pod = await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: {
        name: 'migrate-x1',
        ownerReferences: [
          {
            apiVersion: 'batch/v1',
            kind: 'Job',
            name: 'migrate',
            uid: job.metadata?.uid as string,
            controller: true,
          },
        ],
      },
      spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'registry.invalid/m:1' }] },
    },
  });
  for (const [action, logic] of [
    ['restart-pod', restartPod],
    ['redeploy', redeploy],
  ] as const) {
    const url = await startAction(t, action, logic, ns);
    const res = await sendJson(url, { namespace: ns, pod: 'migrate-x1' });
    t.is(res.status, 422, action);
    t.like(res.body, { outcome: 'refused', reason: 'unsupported-kind' });
    t.regex(String(res.body.message), /belongs to Job migrate/);
  }
  const still = await core.readNamespacedPod({ namespace: ns, name: 'migrate-x1' });
  t.is(still.metadata?.uid, pod.metadata?.uid);
});
