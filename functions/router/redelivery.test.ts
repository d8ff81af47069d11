// What the router's answer deadline relies on, checked with the real scale action against the real API server: a
// delivery abandoned at the deadline still finishes in the action, and Alertmanager's retry, which carries the same
// event id, is recognised by the action's ledger and changes nothing more.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api } from '@kubernetes/client-node';
import test from 'ava';
import { useNamespace } from '../../test/helpers/cluster.ts';
import { eventually } from '../../test/helpers/wait.ts';
import { loadRouterConfig } from '../lib/config.ts';
import { createLogger } from '../lib/log.ts';
import { startFunction } from '../lib/runtime.ts';
import { scale } from '../scale/scale.ts';
import { applyRbac, createDeployment, eventsAbout, startAction } from '../test-helpers.ts';
import { routerFunction } from './index.ts';

const TOKEN = 'redelivery-webhook-token';
const silent = createLogger('router', 'silent');

test('a delivery abandoned at the deadline still acts once; the retry with the same event id is a no-op', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'redelivery');
  await applyRbac(kc, ns);
  const apps = kc.makeApiClient(AppsV1Api);
  await createDeployment(kc, ns, 'api', { replicas: 1 });

  // The action holds its first scale until the router has answered: the router's deadline comes first.
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let reached = false;
  const actionUrl = await startAction(t, 'scale', scale, ns, {
    beforeWrite: async (stage) => {
      if (stage !== 'scale' || reached) return;
      reached = true;
      await held;
    },
  });
  t.teardown(() => release());

  const config = loadRouterConfig({
    SELFHEAL_WEBHOOK_TOKEN: TOKEN,
    SELFHEAL_SINK: 'direct',
    SELFHEAL_ACTION_URLS: `restart-pod=${actionUrl},redeploy=${actionUrl},scale=${actionUrl}`,
    SELFHEAL_NAMESPACES: ns,
    // The test's action runs without a token.
    SELFHEAL_ACTION_AUTH: 'platform',
    SELFHEAL_ANSWER_DEADLINE_MS: '2000',
  });
  const router = routerFunction({ config: () => config, log: silent });
  const running = await startFunction(router, {
    name: 'router',
    host: '127.0.0.1',
    port: 0,
    bodyLimit: config.maxBodyBytes,
    log: silent,
  });
  t.teardown(async () => {
    await running.close();
    await router.shutdown();
  });

  // A captured notification, its alert aimed at this namespace's Deployment.
  const payload = JSON.parse(
    readFileSync(
      join(import.meta.dirname, '..', 'lib', 'fixtures', 'alertmanager-0.35.0', 'firing.json'),
      'utf8',
    ),
  );
  const [alert] = payload.alerts;
  alert.labels = {
    alertname: 'HighCPUUsage',
    action: 'scale',
    severity: 'critical',
    namespace: ns,
    deployment: 'api',
  };
  const notify = async () => {
    const res = await fetch(running.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(payload),
    });
    return { status: res.status, body: JSON.parse(await res.text()) };
  };

  const first = await notify();
  t.is(first.status, 503);
  t.like(first.body, { status: 'retry', deadline: { inFlight: 1, notAttempted: 0 } });
  t.like(first.body.results[0], { outcome: 'failed', reason: 'deadline' });
  t.true(reached, 'the action had the event when the router gave up on it');
  const id = first.body.results[0].eventId as string;

  // The action finishes what it started although nobody waits for its answer any more.
  release();
  const replicas = async () =>
    (await apps.readNamespacedDeploymentScale({ namespace: ns, name: 'api' })).spec?.replicas;
  await eventually('the abandoned delivery scaled the Deployment', async () => (await replicas()) === 2);

  // Alertmanager retries until answered 200: the same event id each time. While the action is still recording
  // what it did, its ledger says "in progress" (503, retried); then "already done".
  const retries: Array<Awaited<ReturnType<typeof notify>>> = [];
  const retry = await eventually('a retry answered 200', async () => {
    const answer = await notify();
    retries.push(answer);
    return answer.status === 200 && answer;
  });
  for (const earlier of retries.slice(0, -1)) {
    t.like(earlier.body.results[0], { eventId: id, outcome: 'failed', reason: 'in-progress' });
  }
  t.like(retry.body.results[0], {
    eventId: id,
    outcome: 'accepted',
    result: { outcome: 'skipped', reason: 'already-done' },
  });
  t.is(await replicas(), 2, 'scaled once, not twice');
  t.is((await eventsAbout(kc, ns, 'api')).filter((e) => e.reason === 'ScaledUp').length, 1);
});
