// redeploy against the real API server with its own ServiceAccount: a rolling restart like
// `kubectl rollout restart` makes a new ReplicaSet, once per event, through conflicts, never in dry-run.
import { AppsV1Api } from '@kubernetes/client-node';
import test from 'ava';
import { useNamespace } from '../../test/helpers/cluster.ts';
import { eventually } from '../../test/helpers/wait.ts';
import { readLedger } from '../lib/ledger.ts';
import {
  alertEvent,
  applyRbac,
  createDeployment,
  eventsAbout,
  sendEvent,
  sendJson,
  startAction,
  waitForPods,
} from '../test-helpers.ts';
import { RESTARTED_AT_ANNOTATION, redeploy } from './redeploy.ts';

async function replicaSets(apps: AppsV1Api, namespace: string) {
  return (await apps.listNamespacedReplicaSet({ namespace, labelSelector: 'app=web' })).items;
}

test('a rolling restart of the Deployment creates a new ReplicaSet, once per event', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'redeploy');
  await applyRbac(kc, ns);
  const apps = kc.makeApiClient(AppsV1Api);
  await createDeployment(kc, ns, 'web', { replicas: 1 });
  await eventually('the first ReplicaSet', async () => (await replicaSets(apps, ns)).length === 1);
  const url = await startAction(t, 'redeploy', redeploy, ns);

  const event = alertEvent('redeploy', { namespace: ns, kind: 'Deployment', name: 'web' }, 'PodCrashLooping');
  const res = await sendEvent(url, event);
  t.is(res.status, 200);
  t.like(res.body, { outcome: 'applied', reason: 'restarted', deployment: `${ns}/web` });
  const deployment = await apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
  const restartedAt = deployment.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION];
  t.regex(
    restartedAt ?? '',
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    'RFC 3339 in whole seconds, as kubectl writes it',
  );
  t.like(readLedger(deployment.metadata?.annotations).last, {
    id: event.id,
    state: 'done',
    action: 'redeploy',
  });
  await eventually('a second ReplicaSet', async () => (await replicaSets(apps, ns)).length === 2);

  const again = await sendEvent(url, event);
  t.is(again.status, 200);
  t.like(again.body, { outcome: 'skipped', reason: 'already-done' });
  const unchanged = await apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
  t.is(unchanged.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION], restartedAt);
  t.is(unchanged.metadata?.generation, deployment.metadata?.generation);
  t.is((await replicaSets(apps, ns)).length, 2);

  const recorded = await eventsAbout(kc, ns, 'web');
  t.deepEqual(recorded.map((e) => e.reason).sort(), ['RestartedRollout', 'Skipped']);
  t.like(
    recorded.find((e) => e.reason === 'RestartedRollout'),
    {
      reportingComponent: 'selfheal/redeploy',
      type: 'Normal',
      involvedObject: { kind: 'Deployment', name: 'web' },
    },
  );
});

test('a pod target is resolved to its Deployment through ReplicaSet ownership', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'redeploy-pod');
  await applyRbac(kc, ns);
  await createDeployment(kc, ns, 'web', { replicas: 1 });
  const [pod] = await waitForPods(kc, ns, 'web', 1);
  const url = await startAction(t, 'redeploy', redeploy, ns);
  const res = await sendJson(url, { namespace: ns, pod: pod?.metadata?.name });
  t.is(res.status, 200);
  t.like(res.body, { outcome: 'applied', deployment: `${ns}/web`, target: { kind: 'Pod' } });
});

test('a conflicting write between read and write is retried and the restart lands once', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'redeploy-conflict');
  await applyRbac(kc, ns);
  const apps = kc.makeApiClient(AppsV1Api);
  await createDeployment(kc, ns, 'web', { replicas: 1 });
  let interfered = 0;
  const url = await startAction(t, 'redeploy', redeploy, ns, {
    // Someone else changes the Deployment after the action read it: its conditional patch gets a real 409.
    beforeWrite: async (stage) => {
      if (stage !== 'restart' || interfered++ > 0) return;
      await apps.patchNamespacedDeployment({
        namespace: ns,
        name: 'web',
        body: [{ op: 'add', path: '/metadata/labels/touched', value: 'yes' }],
      });
    },
  });
  const res = await sendJson(url, { namespace: ns, deployment: 'web' });
  t.is(res.status, 200);
  t.like(res.body, { outcome: 'applied' });
  // At least one retry for the provoked conflict (the Deployment controller's own status writes can add more).
  t.true(Number((res.body.detail as { attempts: number }).attempts) >= 2);
  const deployment = await apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
  t.is(deployment.metadata?.labels?.touched, 'yes', "the other writer's change is kept");
  t.truthy(deployment.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]);
});

test('dry-run changes nothing; a Deployment that has not opted in is refused', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'redeploy-dry');
  await applyRbac(kc, ns);
  const apps = kc.makeApiClient(AppsV1Api);
  await createDeployment(kc, ns, 'web', { replicas: 1 });
  await createDeployment(kc, ns, 'private', { replicas: 1, optIn: false });
  const before = await apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
  const url = await startAction(t, 'redeploy', redeploy, ns, { env: { SELFHEAL_DRY_RUN: 'true' } });
  const res = await sendJson(url, { namespace: ns, deployment: 'web' });
  t.is(res.status, 200);
  t.like(res.body, { outcome: 'dry-run', dryRun: true });
  const after = await apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
  t.is(after.metadata?.generation, before.metadata?.generation);
  t.is(after.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION], undefined);
  t.deepEqual(readLedger(after.metadata?.annotations), { last: undefined, history: [] });

  const refused = await sendJson(url, { namespace: ns, deployment: 'private' });
  t.is(refused.status, 422);
  t.like(refused.body, { outcome: 'refused', reason: 'not-opted-in' });
  const missing = await sendJson(url, { namespace: ns, deployment: 'nothing-here' });
  t.like(missing, { status: 200, body: { outcome: 'skipped', reason: 'gone' } });
});
