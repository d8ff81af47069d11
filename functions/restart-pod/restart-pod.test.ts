// restart-pod against the real API server, acting with its own ServiceAccount and the Role from manifests/:
// the ReplicaSet replaces the deleted pod; bare pods, foreign namespaces and not-opted-in Deployments are refused;
// redelivery and dry-run change nothing; every decision leaves an Event.
import { AppsV1Api, CoreV1Api, KubeConfig, PolicyV1Api } from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import { freePort } from '../../devkit/ports.ts';
import { useNamespace } from '../../test/helpers/cluster.ts';
import { eventually } from '../../test/helpers/wait.ts';
import { readLedger } from '../lib/ledger.ts';
import {
  alertEvent,
  applyRbac,
  createDeployment,
  eventsAbout,
  markReady,
  podsOf,
  sendEvent,
  sendJson,
  startAction,
  waitForPods,
} from '../test-helpers.ts';
import { restartPod } from './restart-pod.ts';

test('deletes the pod, the ReplicaSet replaces it, the record and an Event say so; redelivery does nothing', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'restart');
  await applyRbac(kc, ns);
  await createDeployment(kc, ns, 'web', { replicas: 2 });
  const [victim, survivor] = await waitForPods(kc, ns, 'web', 2);
  const url = await startAction(t, 'restart-pod', restartPod, ns);
  const pod = victim?.metadata?.name as string;

  const event = alertEvent('restart-pod', { namespace: ns, kind: 'Pod', name: pod }, 'HighMemoryUsage');
  const first = await sendEvent(url, event);
  t.is(first.status, 200);
  t.is(first.headers.get('ce-type'), 'dev.selfheal.result');
  t.is(first.headers.get('ce-source'), 'selfheal/restart-pod');
  t.like(first.body, {
    id: event.id,
    action: 'restart-pod',
    outcome: 'applied',
    reason: 'restarted',
    deployment: `${ns}/web`,
  });

  const replaced = await eventually('a replacement pod', async () => {
    const pods = await podsOf(kc, ns, 'web');
    const names = pods.map((p) => p.metadata?.name);
    return pods.length === 2 && !names.includes(pod) && names.includes(survivor?.metadata?.name) && pods;
  });
  t.is(replaced.length, 2);

  const deployment = await kc
    .makeApiClient(AppsV1Api)
    .readNamespacedDeployment({ namespace: ns, name: 'web' });
  const ledger = readLedger(deployment.metadata?.annotations);
  t.like(ledger.last, { id: event.id, action: 'restart-pod', state: 'done', target: `${ns}/Pod/${pod}` });
  t.true(ledger.history.some((e) => e.id === event.id));

  const [recorded] = await eventsAbout(kc, ns, pod);
  t.like(recorded, { reason: 'RestartedPod', type: 'Normal', reportingComponent: 'selfheal/restart-pod' });
  t.regex(recorded?.message ?? '', /deleted pod .* HighMemoryUsage/);
  t.is(recorded?.involvedObject.uid, victim?.metadata?.uid);
  t.is(recorded?.related?.name, 'web');

  // The pod is gone, so the redelivery stops there; nothing is deleted twice.
  const again = await sendEvent(url, event);
  t.is(again.status, 200);
  t.like(again.body, { outcome: 'skipped', reason: 'pod-gone' });
  const after = await podsOf(kc, ns, 'web');
  t.deepEqual(
    after.map((p) => p.metadata?.name).sort(),
    replaced.map((p) => p.metadata?.name).sort(),
    'no other pod was deleted',
  );
});

test('a bare pod is refused and left alone; so is a pod of a Deployment that has not opted in', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'restart-refuse');
  await applyRbac(kc, ns);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: 'bare' },
      spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
    },
  });
  await createDeployment(kc, ns, 'private', { replicas: 1, optIn: false });
  const [privatePod] = await waitForPods(kc, ns, 'private', 1);
  const url = await startAction(t, 'restart-pod', restartPod, ns);

  const bare = await sendJson(url, { namespace: ns, pod: 'bare' });
  t.is(bare.status, 422);
  t.like(bare.body, { outcome: 'refused', reason: 'not-managed' });
  t.regex(String(bare.body.message), /bare pod/);
  t.truthy(await core.readNamespacedPod({ namespace: ns, name: 'bare' }));

  const optedOut = await sendJson(url, { namespace: ns, pod: privatePod?.metadata?.name });
  t.is(optedOut.status, 422);
  t.like(optedOut.body, { outcome: 'refused', reason: 'not-opted-in' });
  t.is((await podsOf(kc, ns, 'private'))[0]?.metadata?.uid, privatePod?.metadata?.uid);

  const [refusal] = await eventsAbout(kc, ns, 'bare');
  t.like(refusal, { reason: 'Refused', type: 'Warning' });
});

test('namespaces outside SELFHEAL_NAMESPACES are refused before anything is read', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'restart-ns');
  await applyRbac(kc, ns);
  const url = await startAction(t, 'restart-pod', restartPod, ns, { env: { SELFHEAL_NAMESPACES: 'demo' } });
  const res = await sendJson(url, { namespace: ns, pod: 'anything' });
  t.is(res.status, 422);
  t.like(res.body, { outcome: 'refused', reason: 'namespace-not-allowed' });
});

test('dry-run decides and records an Event, but deletes nothing and writes no record', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'restart-dry');
  await applyRbac(kc, ns);
  await createDeployment(kc, ns, 'web', { replicas: 1 });
  const [pod] = await waitForPods(kc, ns, 'web', 1);
  const url = await startAction(t, 'restart-pod', restartPod, ns, { env: { SELFHEAL_DRY_RUN: 'true' } });
  const name = pod?.metadata?.name as string;
  const res = await sendEvent(url, alertEvent('restart-pod', { namespace: ns, kind: 'Pod', name }));
  t.is(res.status, 200);
  t.like(res.body, { outcome: 'dry-run', dryRun: true });
  t.regex(String(res.body.message), /would delete pod/);
  t.is((await podsOf(kc, ns, 'web'))[0]?.metadata?.uid, pod?.metadata?.uid);
  const deployment = await kc
    .makeApiClient(AppsV1Api)
    .readNamespacedDeployment({ namespace: ns, name: 'web' });
  t.deepEqual(readLedger(deployment.metadata?.annotations), { last: undefined, history: [] });
  const [recorded] = await eventsAbout(kc, ns, name);
  t.like(recorded, { reason: 'DryRun' });
  const metrics = await (await fetch(`${url}/metrics`)).text();
  t.regex(
    metrics,
    /selfheal_action_decisions_total\{action="restart-pod",outcome="dry-run",reason="dry-run"\} 1/,
  );
});

test('a pod that is already gone is a skip, not an error', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'restart-gone');
  await applyRbac(kc, ns);
  const url = await startAction(t, 'restart-pod', restartPod, ns);
  const res = await sendJson(url, { namespace: ns, pod: 'web-gone-12345' });
  t.is(res.status, 200);
  t.like(res.body, { outcome: 'skipped', reason: 'pod-gone' });
});

test('a ready pod is not deleted when the rest would fall below replicas − maxUnavailable', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'restart-budget');
  await applyRbac(kc, ns);
  await createDeployment(kc, ns, 'web', { replicas: 2, maxUnavailable: 0 });
  const pods = await waitForPods(kc, ns, 'web', 2);
  await markReady(kc, ns, pods);
  await eventually('2 ready replicas', async () => {
    const d = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: ns, name: 'web' });
    return d.status?.readyReplicas === 2;
  });
  const url = await startAction(t, 'restart-pod', restartPod, ns);
  const res = await sendJson(url, { namespace: ns, pod: pods[0]?.metadata?.name });
  t.is(res.status, 200);
  t.like(res.body, { outcome: 'skipped', reason: 'disruption-budget' });
  t.regex(String(res.body.message), /leave 1 available replica\(s\); the Deployment requires 2/);
  t.is((await podsOf(kc, ns, 'web')).length, 2);
});

test('bad input is a 400 listing the problems', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'restart-input');
  await applyRbac(kc, ns);
  const url = await startAction(t, 'restart-pod', restartPod, ns);
  const missing = await sendJson(url, { namespace: ns });
  t.is(missing.status, 400);
  t.regex(String(missing.body.error), /exactly one of "pod" or "deployment"/);
  const deploymentOnly = await sendJson(url, { namespace: ns, deployment: 'web' });
  t.is(deploymentOnly.status, 400);
  const wrongTypes = await sendJson(url, { namespace: 'Not A Namespace', pod: 7, extra: true });
  t.is(wrongTypes.status, 400);
  const problems = wrongTypes.body.problems as string[];
  t.deepEqual(problems.map((p) => p.split(':')[0]).sort(), ['Unrecognized key', 'namespace', 'pod']);
  t.true(problems.some((p) => p.includes('"extra"')));

  const noType = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': 'x1',
      'ce-source': 'test',
    },
    body: JSON.stringify({ target: { namespace: ns, kind: 'Pod', name: 'web' } }),
  });
  t.is(noType.status, 400);
  t.regex(await noType.text(), /CloudEvent/);
  const structuredNoType = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({ specversion: '1.0', id: 'x2', source: 'test', data: {} }),
  });
  t.is(structuredNoType.status, 400);
  t.regex(await structuredNoType.text(), /type/);
  const wrongType = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': 'x3',
      'ce-source': 'test',
      'ce-type': 'dev.selfheal.action.scale',
    },
    body: JSON.stringify({ target: { namespace: ns, kind: 'Pod', name: 'web' } }),
  });
  t.is(wrongType.status, 400);
  t.regex(await wrongType.text(), /handles CloudEvents of type dev\.selfheal\.action\.restart-pod/);
});

test('without the verbs it needs the action answers 403 naming what was denied', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'restart-forbidden');
  await applyRbac(kc, ns);
  await createDeployment(kc, ns, 'web', { replicas: 1 });
  const [pod] = await waitForPods(kc, ns, 'web', 1);
  // The scale function's ServiceAccount may not delete pods.
  const url = await startAction(t, 'restart-pod', restartPod, ns, { serviceAccount: 'scale' });
  const res = await sendJson(url, { namespace: ns, pod: pod?.metadata?.name });
  t.is(res.status, 403);
  t.like(res.body, { outcome: 'failed', reason: 'forbidden' });
  t.regex(
    String(res.body.message),
    /may not (list pods|create pods\/eviction|patch deployments|delete pods)/,
  );
  t.is((await podsOf(kc, ns, 'web'))[0]?.metadata?.uid, pod?.metadata?.uid);
});

test('an unreachable API server is a 503, so the router asks Alertmanager to retry', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'restart-down');
  await applyRbac(kc, ns);
  const closed = await freePort();
  const unreachable = new KubeConfig();
  unreachable.loadFromOptions({
    clusters: [{ name: 'down', server: `https://127.0.0.1:${closed}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'x' }],
    contexts: [{ name: 'down', cluster: 'down', user: 'u' }],
    currentContext: 'down',
  });
  const url = await startAction(t, 'restart-pod', restartPod, ns, { kubeConfig: unreachable });
  const res = await sendJson(url, { namespace: ns, pod: 'web-1' });
  t.is(res.status, 503);
  t.like(res.body, { outcome: 'failed', reason: 'unreachable' });
  t.regex(String(res.body.message), /ECONNREFUSED/);
});

// Two ready pods of web under a PodDisruptionBudget that allows no disruption, as the disruption controller sees it.
async function underBlockingBudget(t: ExecutionContext, prefix: string) {
  const { name: ns, kc } = await useNamespace(t, prefix);
  await applyRbac(kc, ns);
  await createDeployment(kc, ns, 'web', { replicas: 2, maxUnavailable: 1 });
  const pods = await markReady(kc, ns, await waitForPods(kc, ns, 'web', 2));
  await kc.makeApiClient(PolicyV1Api).createNamespacedPodDisruptionBudget({
    namespace: ns,
    body: { metadata: { name: 'web' }, spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } } },
  });
  await eventually('2 ready replicas', async () => {
    const d = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: ns, name: 'web' });
    return d.status?.readyReplicas === 2;
  });
  await eventually('the disruption controller to count 2 healthy pods', async () => {
    const pdb = await kc
      .makeApiClient(PolicyV1Api)
      .readNamespacedPodDisruptionBudget({ namespace: ns, name: 'web' });
    return pdb.status?.currentHealthy === 2;
  });
  return { ns, kc, pods };
}

test('a PodDisruptionBudget that allows no disruption keeps a ready pod', async (t) => {
  const { ns, kc, pods } = await underBlockingBudget(t, 'restart-pdb');
  const url = await startAction(t, 'restart-pod', restartPod, ns);
  const res = await sendJson(url, { namespace: ns, pod: pods[0]?.metadata?.name });
  t.is(res.status, 200);
  t.like(res.body, { outcome: 'skipped', reason: 'disruption-budget' });
  t.regex(String(res.body.message), /refused to evict pod .*disruption budget/);
  t.is((await podsOf(kc, ns, 'web')).length, 2);
});

test('a claim handed back is released even when the workload changed since it was claimed', async (t) => {
  const { ns, kc, pods } = await underBlockingBudget(t, 'restart-release');
  const apps = kc.makeApiClient(AppsV1Api);
  let ledgerWrites = 0;
  const url = await startAction(t, 'restart-pod', restartPod, ns, {
    // Between the claim and its release (the eviction refused), someone else writes the Deployment (a rollout's
    // status does): the release's conditional write gets a real 409.
    beforeWrite: async (stage) => {
      if (stage !== 'ledger' || ++ledgerWrites !== 2) return;
      await apps.patchNamespacedDeployment({
        namespace: ns,
        name: 'web',
        body: [{ op: 'add', path: '/metadata/labels/touched', value: 'yes' }],
      });
    },
  });
  const res = await sendJson(url, { namespace: ns, pod: pods[0]?.metadata?.name });
  t.like(res.body, { outcome: 'skipped', reason: 'disruption-budget' });
  t.true(ledgerWrites >= 3, 'the release was written again after the conflict');
  const deployment = await apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
  // Not pending: the next alert need not wait for the lease.
  t.like(readLedger(deployment.metadata?.annotations).last, { state: 'failed' });
  t.is(deployment.metadata?.labels?.touched, 'yes');
});

test('with SELFHEAL_ACTION_TOKEN an action refuses callers without it', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'restart-token');
  await applyRbac(kc, ns);
  const url = await startAction(t, 'restart-pod', restartPod, ns, {
    env: { SELFHEAL_ACTION_TOKEN: 'between-functions' },
  });
  const anonymous = await sendJson(url, { namespace: ns, pod: 'web-1' });
  t.is(anonymous.status, 401);
  t.like(anonymous.body, { kind: 'unauthorized', reason: 'missing-token' });
  const wrong = await sendJson(url, { namespace: ns, pod: 'web-1' }, { authorization: 'Bearer guess' });
  t.is(wrong.status, 401);
  const allowed = await sendJson(
    url,
    { namespace: ns, pod: 'web-1' },
    { authorization: 'Bearer between-functions' },
  );
  t.like(allowed, { status: 200, body: { outcome: 'skipped', reason: 'pod-gone' } });
});
