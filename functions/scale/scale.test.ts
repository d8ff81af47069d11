// scale against the real API server with its own ServiceAccount: replicas rise by a step through the scale
// subresource, stop at the maximum, survive a real 409, and neither redelivery nor dry-run changes anything.
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
} from '../test-helpers.ts';
import { scale } from './scale.ts';

// The ledger of deployment `api` after event `id`'s claim to scale 1 → 2 failed.
const failedClaim = (id: string, namespace: string) => ({
  'selfheal.dev/last-action': JSON.stringify({
    id,
    action: 'scale',
    target: `${namespace}/Deployment/api`,
    state: 'failed',
    at: new Date().toISOString(),
    detail: { from: 1, to: 2, max: 10, step: 1 },
  }),
});

const replicas = async (apps: AppsV1Api, namespace: string) =>
  (await apps.readNamespacedDeploymentScale({ namespace, name: 'api' })).spec?.replicas;

test('raises replicas by the step up to the maximum, then skips at the maximum', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'scale');
  await applyRbac(kc, ns);
  const apps = kc.makeApiClient(AppsV1Api);
  await createDeployment(kc, ns, 'api', { replicas: 1, annotations: { 'selfheal.dev/max-replicas': '3' } });
  const url = await startAction(t, 'scale', scale, ns);
  const target = { namespace: ns, kind: 'Deployment' as const, name: 'api' };

  const first = alertEvent('scale', target, 'HighCPUUsage');
  const res = await sendEvent(url, first);
  t.is(res.status, 200);
  t.like(res.body, { outcome: 'applied', reason: 'scaled', detail: { from: 1, to: 2, max: 3 } });
  t.is(await replicas(apps, ns), 2);

  const redelivered = await sendEvent(url, first);
  t.like(redelivered.body, { outcome: 'skipped', reason: 'already-done' });
  t.is(await replicas(apps, ns), 2);

  const big = await sendJson(url, { namespace: ns, deployment: 'api', step: 5 });
  t.like(big.body, { outcome: 'applied', detail: { from: 2, to: 3 } });
  t.is(await replicas(apps, ns), 3);

  const atMax = await sendEvent(url, alertEvent('scale', target, 'HighCPUUsage'));
  t.is(atMax.status, 200);
  t.like(atMax.body, { outcome: 'skipped', reason: 'at-maximum' });
  t.regex(String(atMax.body.message), /maximum of 3 \(selfheal\.dev\/max-replicas\)/);
  t.is(await replicas(apps, ns), 3);

  const deployment = await apps.readNamespacedDeployment({ namespace: ns, name: 'api' });
  t.is(readLedger(deployment.metadata?.annotations).history.length, 2);
  const reasons = (await eventsAbout(kc, ns, 'api')).map((e) => e.reason).sort();
  t.deepEqual(reasons, ['ScaledUp', 'ScaledUp', 'Skipped', 'Skipped']);
});

test('SELFHEAL_MAX_REPLICAS caps when the Deployment has no annotation', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'scale-max');
  await applyRbac(kc, ns);
  await createDeployment(kc, ns, 'api', { replicas: 2 });
  const url = await startAction(t, 'scale', scale, ns, { env: { SELFHEAL_MAX_REPLICAS: '2' } });
  const res = await sendJson(url, { namespace: ns, deployment: 'api' });
  t.like(res.body, { outcome: 'skipped', reason: 'at-maximum' });
  t.regex(String(res.body.message), /SELFHEAL_MAX_REPLICAS/);
});

test('a 409 on the scale subresource is retried and the result is still one step', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'scale-conflict');
  await applyRbac(kc, ns);
  const apps = kc.makeApiClient(AppsV1Api);
  await createDeployment(kc, ns, 'api', { replicas: 1 });
  let interfered = 0;
  const url = await startAction(t, 'scale', scale, ns, {
    // Another writer changes the Deployment between the action's read of the scale and its replace.
    beforeWrite: async (stage) => {
      if (stage !== 'scale' || interfered++ > 0) return;
      await apps.patchNamespacedDeployment({
        namespace: ns,
        name: 'api',
        body: [{ op: 'add', path: '/metadata/labels/touched', value: 'yes' }],
      });
    },
  });
  const res = await sendJson(url, { namespace: ns, deployment: 'api' });
  t.is(res.status, 200);
  t.like(res.body, { outcome: 'applied', detail: { from: 1, to: 2 } });
  // At least the provoked conflict (the Deployment controller's own status writes can add one).
  t.true(Number((res.body.detail as { conflicts: number }).conflicts) >= 1);
  t.is(await replicas(apps, ns), 2);
  const deployment = await apps.readNamespacedDeployment({ namespace: ns, name: 'api' });
  t.like(readLedger(deployment.metadata?.annotations).last, { state: 'done', detail: { from: 1, to: 2 } });
});

test('dry-run validates the change with the API server but changes nothing', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'scale-dry');
  await applyRbac(kc, ns);
  const apps = kc.makeApiClient(AppsV1Api);
  await createDeployment(kc, ns, 'api', { replicas: 1 });
  const url = await startAction(t, 'scale', scale, ns, { env: { SELFHEAL_DRY_RUN: 'true' } });
  const res = await sendJson(url, { namespace: ns, deployment: 'api' });
  t.like(res.body, { outcome: 'dry-run', detail: { from: 1, to: 2 } });
  t.is(await replicas(apps, ns), 1);
  const deployment = await apps.readNamespacedDeployment({ namespace: ns, name: 'api' });
  t.is(readLedger(deployment.metadata?.annotations).last, undefined);
  t.like((await eventsAbout(kc, ns, 'api'))[0], { reason: 'DryRun' });
});

test('two replicas of the action receiving the same event at once scale only once', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'scale-twice');
  await applyRbac(kc, ns);
  const apps = kc.makeApiClient(AppsV1Api);
  await createDeployment(kc, ns, 'api', { replicas: 1 });
  const [one, two] = await Promise.all([
    startAction(t, 'scale', scale, ns),
    startAction(t, 'scale', scale, ns),
  ]);
  const event = alertEvent('scale', { namespace: ns, kind: 'Deployment', name: 'api' }, 'HighCPUUsage');
  const answers = await Promise.all([sendEvent(one as string, event), sendEvent(two as string, event)]);
  t.is(await replicas(apps, ns), 2);
  const outcomes = answers.map((a) => `${a.status} ${a.body.outcome} ${a.body.reason}`).sort();
  t.is(outcomes.filter((o) => o === '200 applied scaled').length, 1, outcomes.join(', '));
  // The other one found the claim: done already (2xx) or still in progress (503, so its caller retries).
  t.true(
    outcomes.some((o) => o === '200 skipped already-done' || o === '503 failed in-progress'),
    outcomes.join(', '),
  );
  // A retry of the loser changes nothing.
  const retry = await sendEvent(two as string, event);
  t.like(retry.body, { outcome: 'skipped', reason: 'already-done' });
  t.is(await replicas(apps, ns), 2);
});

test('a failed attempt is replayed under a fresh claim: a redelivery arriving meanwhile waits, and it acts once', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'scale-replay');
  await applyRbac(kc, ns);
  const apps = kc.makeApiClient(AppsV1Api);
  const event = alertEvent('scale', { namespace: ns, kind: 'Deployment', name: 'api' }, 'HighCPUUsage');
  // An earlier delivery of this event claimed 1 → 2 and failed (e.g. its answer timed out).
  await createDeployment(kc, ns, 'api', { replicas: 1, annotations: failedClaim(event.id, ns) });
  // The replay is held just before it scales, while the redelivery comes in.
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let holding = false;
  const first = await startAction(t, 'scale', scale, ns, {
    beforeWrite: async (stage) => {
      if (stage !== 'scale' || holding) return;
      holding = true;
      await held;
    },
  });
  const second = await startAction(t, 'scale', scale, ns);
  t.teardown(() => release());

  const replaying = sendEvent(first, event);
  await eventually('the replay is about to scale', async () => holding);
  const redelivery = await sendEvent(second, event);
  t.is(redelivery.status, 503);
  t.like(redelivery.body, { outcome: 'failed', reason: 'in-progress' });
  t.is(await replicas(apps, ns), 1, 'the redelivery changed nothing');

  release();
  t.like((await replaying).body, { outcome: 'applied', reason: 'scaled', detail: { from: 1, to: 2 } });
  t.like((await sendEvent(second, event)).body, { outcome: 'skipped', reason: 'already-done' });
  t.is(await replicas(apps, ns), 2);
  t.is((await eventsAbout(kc, ns, 'api')).filter((e) => e.reason === 'ScaledUp').length, 1);
});

test("an event whose unfinished claim another event's replaced is never acted on again: it may have scaled", async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'scale-superseded');
  await applyRbac(kc, ns);
  const apps = kc.makeApiClient(AppsV1Api);
  const target = { namespace: ns, kind: 'Deployment' as const, name: 'api' };
  const first = alertEvent('scale', target, 'HighCPUUsage');
  // The first event's attempt scaled 1 → 2, then failed before it was marked done (its answer timed out).
  await createDeployment(kc, ns, 'api', { replicas: 2, annotations: failedClaim(first.id, ns) });
  const url = await startAction(t, 'scale', scale, ns);
  // Another alert's scale comes first: 2 → 3.
  const other = alertEvent('scale', target, 'HighLatency');
  t.like((await sendEvent(url, other)).body, { outcome: 'applied', detail: { from: 2, to: 3 } });
  // Then the first event is delivered again: it must not scale a second time.
  const again = await sendEvent(url, first);
  t.like(again.body, { outcome: 'skipped', reason: 'already-done' });
  t.is(await replicas(apps, ns), 3, 'scaled once per event');
});

test("an event asking for a dry run (the router's SELFHEAL_DRY_RUN) is decided and validated, and scales nothing", async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'scale-event-dry');
  await applyRbac(kc, ns);
  const apps = kc.makeApiClient(AppsV1Api);
  await createDeployment(kc, ns, 'api', { replicas: 1 });
  const url = await startAction(t, 'scale', scale, ns);
  const event = alertEvent('scale', { namespace: ns, kind: 'Deployment', name: 'api' }, 'HighCPUUsage');
  const res = await sendEvent(url, event.cloneWith({ selfhealdryrun: 'true' }));
  t.is(res.status, 200);
  t.like(res.body, { outcome: 'dry-run', detail: { from: 1, to: 2 } });
  t.is(await replicas(apps, ns), 1);
  // Nothing recorded: the same event, no longer a dry run, acts.
  t.like((await sendEvent(url, event)).body, { outcome: 'applied', reason: 'scaled' });
  t.is(await replicas(apps, ns), 2);
});
