// Knative Eventing for real (built from knative.dev/eventing, run against a control plane of its own): the Knative
// overlay's Broker and Triggers become Ready, the router with SELFHEAL_SINK=knative posts to the real Broker ingress,
// the Triggers deliver each event to its action by type, and a failing delivery is retried as the Broker's delivery
// spec says.
import { randomBytes } from 'node:crypto';
import { AppsV1Api } from '@kubernetes/client-node';
import test from 'ava';
import {
  alertEvent,
  createDeployment,
  podsOf,
  sendEvent,
  waitForPods,
} from '../../functions/test-helpers.ts';
import { publishService } from '../../playground/knative/serving.ts';
import { eventually } from '../helpers/wait.ts';
import {
  ACTIONS,
  type Action,
  applyOverlay,
  BROKER_ADDRESS,
  DEMO,
  type KnativeEnv,
  NS,
  notify,
  overlayObjects,
  readKnative,
  startActions,
  startKnativeEnv,
  startRouter,
  startTap,
  type Tap,
  type WebhookAlert,
  waitForReady,
} from './support.ts';

const TOKEN = 'knative-test-token';

let env: KnativeEnv;
test.before(async () => {
  env = await startKnativeEnv();
  await applyOverlay(env.cluster, await overlayObjects());
});
test.after.always(async () => {
  await env?.stop();
});

function alert(action: Action, alertname: string, labels: Record<string, string>): WebhookAlert {
  return {
    labels: { alertname, action, ...labels },
    startsAt: new Date().toISOString(),
    fingerprint: randomBytes(8).toString('hex'),
  };
}

test.serial("the overlay's Broker and its Triggers become Ready on Knative Eventing", async (t) => {
  await startActions(t, env);
  const broker = await waitForReady(env.kc, 'brokers', NS, 'selfheal');
  t.is(broker.status?.address?.url, BROKER_ADDRESS);
  for (const name of Object.keys(ACTIONS)) {
    const trigger = await waitForReady(env.kc, 'triggers', NS, name);
    // The subscriber resolved through the Knative Service's published address.
    t.is(trigger.status?.subscriberUri, `http://${name}.${NS}.svc.cluster.local`, name);
  }
});

test.serial(
  'the router posts to the real Broker ingress; each Trigger delivers its type to its action only',
  async (t) => {
    const apps = env.kc.makeApiClient(AppsV1Api);
    for (const name of ['web-a', 'web-b', 'web-c'])
      await createDeployment(env.kc, DEMO, name, { replicas: 2 });
    const [victim] = await waitForPods(env.kc, DEMO, 'web-a', 2);
    await waitForPods(env.kc, DEMO, 'web-c', 2);
    const taps = await startActions(t, env);
    for (const name of Object.keys(ACTIONS)) await waitForReady(env.kc, 'triggers', NS, name);
    const router = await startRouter(t, env, TOKEN);

    const answer = await notify(router, TOKEN, [
      alert('restart-pod', 'PodNotReady', { pod: victim?.metadata?.name as string }),
      alert('redeploy', 'PodCrashLooping', { deployment: 'web-b' }),
      alert('scale', 'HighCPUUsage', { deployment: 'web-c' }),
    ]);
    t.is(answer.status, 200, JSON.stringify(answer.body));

    for (const [name, tap] of Object.entries(taps) as [Action, Tap][]) {
      const [delivered] = await eventually(
        `${name} receives its event`,
        () => tap.received.length > 0 && tap.received,
      );
      t.is(delivered?.type, `dev.selfheal.action.${name}`);
      t.is(delivered?.status, 200, `${name} acted on it`);
      t.is(delivered?.replyType, 'dev.selfheal.result', `${name} answered a result CloudEvent`);
    }
    // The effects, read from the cluster.
    await eventually('the restarted pod replaced', async () => {
      const names = (await podsOf(env.kc, DEMO, 'web-a')).map((p) => p.metadata?.name);
      return !names.includes(victim?.metadata?.name) && names.length === 2;
    });
    const b = await apps.readNamespacedDeployment({ namespace: DEMO, name: 'web-b' });
    t.truthy(b.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'], 'web-b rolled');
    const c = await apps.readNamespacedDeployment({ namespace: DEMO, name: 'web-c' });
    t.is(c.spec?.replicas, 3, 'web-c scaled up');
    // Each action got its own event and nothing else.
    for (const [name, tap] of Object.entries(taps) as [Action, Tap][]) {
      t.deepEqual(
        tap.received.map((r) => r.type),
        [`dev.selfheal.action.${name}`],
        `${name} received only its own type`,
      );
    }
  },
);

test.serial("a failing action is retried as the Broker's delivery spec says", async (t) => {
  const taps = await startActions(t, env);
  const failing = await startTap({ status: 503 });
  t.teardown(() => failing.close());
  await publishService(env.kc, env.eventing.dns, NS, 'scale', failing.endpoint);
  for (const name of Object.keys(ACTIONS)) await waitForReady(env.kc, 'triggers', NS, name);
  const broker = await readKnative(env.kc, 'brokers', NS, 'selfheal');
  const delivery = broker.spec?.delivery as { retry: number; backoffPolicy: string; backoffDelay: string };
  const delayMs = Number(/^PT([\d.]+)S$/.exec(delivery.backoffDelay)?.[1]) * 1000;

  const event = alertEvent(
    'scale',
    { namespace: DEMO, kind: 'Deployment', name: 'web-retry' },
    'HighCPUUsage',
  );
  const sent = Date.now();
  const answer = await sendEvent(env.eventing.localUrl(BROKER_ADDRESS), event).catch((err: Error) => err);
  const answeredAfter = Date.now() - sent;

  const attempts = failing.received;
  t.is(attempts.length, delivery.retry + 1, `the first delivery and ${delivery.retry} retries`);
  t.true(
    attempts.every((a) => a.id === event.id),
    'the same event every time',
  );
  const gaps = attempts.slice(1).map((a, i) => a.at - (attempts[i]?.at ?? 0));
  for (const [i, gap] of gaps.entries()) {
    const expected = delivery.backoffPolicy === 'exponential' ? delayMs * 2 ** i : delayMs * (i + 1);
    t.true(gap >= expected * 0.9, `retry ${i + 1} waited ${gap} ms, at least ${expected} ms`);
  }
  // The in-memory channel dispatches synchronously: the Broker answers once the delivery and its retries are over.
  t.true(answeredAfter >= gaps.reduce((a, b) => a + b, 0), `answered after ${answeredAfter} ms`);
  t.log(
    `ingress answered ${answer instanceof Error ? answer.message : answer.status} after ${answeredAfter} ms; gaps ${gaps.join(', ')} ms`,
  );
  t.is(taps.scale.received.length, 0, 'the real scale action was not reached');
});
