// Knative Eventing for real (built from knative.dev/eventing, run against a control plane of its own): the Knative
// overlay's Broker and Triggers become Ready, the router with SELFHEAL_SINK=knative posts to the real Broker ingress,
// the Triggers deliver each event to its action by type, and a failing delivery is retried as the Broker's delivery
// spec says.
import { randomBytes } from 'node:crypto';
import { AppsV1Api } from '@kubernetes/client-node';
import test from 'ava';
import { createDeployment, eventsAbout, podsOf, waitForPods } from '../../functions/test-helpers.ts';
import { publishService } from '../../playground/knative/serving.ts';
import { eventually } from '../helpers/wait.ts';
import {
  ACTIONS,
  type Action,
  applyOverlay,
  BROKER_ADDRESS,
  boundSink,
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
  waitForDispatch,
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
    await waitForDispatch(env.kc, NS, 'selfheal');
    const router = await startRouter(t, env, TOKEN);

    const answer = await notify(router, TOKEN, [
      alert('restart-pod', 'PodNotReady', { pod: victim?.metadata?.name as string }),
      alert('redeploy', 'PodCrashLooping', { deployment: 'web-b' }),
      alert('scale', 'HighCPUUsage', { deployment: 'web-c' }),
    ]);
    t.is(answer.status, 200, JSON.stringify(answer.body));

    for (const [name, tap] of Object.entries(taps) as [Action, Tap][]) {
      const delivered = await eventually(`${name} receives its event and answers`, () =>
        tap.received.find((r) => r.status !== 0),
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

test.serial("the router's K_SINK is bound to the Broker by the overlay's SinkBinding", async (t) => {
  await waitForReady(env.kc, 'sinkbindings', NS, 'router');
  t.is(
    await boundSink(env.kc),
    BROKER_ADDRESS,
    "Knative wrote the Broker's address into the router's Service",
  );
});

test.serial(
  "a failing action is retried as the Broker's delivery spec says, then recorded by the dead-letter sink",
  async (t) => {
    await createDeployment(env.kc, DEMO, 'web-d', { replicas: 1 });
    const taps = await startActions(t, env);
    const failing = await startTap({ status: 503 });
    t.teardown(() => failing.close());
    await publishService(env.kc, env.eventing.dns, NS, 'scale', failing.endpoint);
    for (const name of Object.keys(ACTIONS)) await waitForReady(env.kc, 'triggers', NS, name);
    await waitForDispatch(env.kc, NS, 'selfheal');
    const broker = await readKnative(env.kc, 'brokers', NS, 'selfheal');
    const delivery = broker.spec?.delivery as { retry: number; backoffPolicy: string; backoffDelay: string };
    const delayMs = Number(/^PT([\d.]+)S$/.exec(delivery.backoffDelay)?.[1]) * 1000;
    const router = await startRouter(t, env, TOKEN);

    const sent = Date.now();
    const answer = await notify(router, TOKEN, [alert('scale', 'HighCPUUsage', { deployment: 'web-d' })]);
    const answeredAfter = Date.now() - sent;
    t.is(answer.status, 200, JSON.stringify(answer.body));
    t.like(answer.body.results[0], { outcome: 'accepted', action: 'scale' });

    // Recorded by the sink once the retries are spent: the same event, with where and how it failed.
    const letter = await eventually(
      'the dead letter at the sink',
      () => taps['restart-pod'].received.find((r) => r.headers['ce-knativeerrordest'] && r.status !== 0),
      { timeoutMs: 60_000 },
    );
    const attempts = failing.received;
    t.is(attempts.length, delivery.retry + 1, `the first delivery and ${delivery.retry} retries`);
    t.true(
      attempts.every((a) => a.id === letter?.id),
      'the same event every time, and at the sink',
    );
    const gaps = attempts.slice(1).map((a, i) => a.at - (attempts[i]?.at ?? 0));
    for (const [i, gap] of gaps.entries()) {
      const expected = delivery.backoffPolicy === 'exponential' ? delayMs * 2 ** i : delayMs * (i + 1);
      t.true(gap >= expected * 0.9, `retry ${i + 1} waited ${gap} ms, at least ${expected} ms`);
    }
    t.true(
      answeredAfter < (gaps[0] ?? 0) + (gaps[1] ?? 0),
      `the router was answered (${answeredAfter} ms) without waiting for the retries: the channel delivers asynchronously`,
    );
    t.like(letter, { type: 'dev.selfheal.action.scale', status: 202 });
    t.is(letter?.headers['ce-knativeerrorcode'], '503');
    t.is(letter?.headers['ce-knativeerrordest'], `http://scale.${NS}.svc.cluster.local`, 'where it failed');
    const recorded = await eventually('the Undelivered Event on web-d', async () =>
      (await eventsAbout(env.kc, DEMO, 'web-d')).find((e) => e.reason === 'Undelivered'),
    );
    t.like(recorded, { type: 'Warning', reportingComponent: 'selfheal/restart-pod' });
    t.regex(
      recorded?.message ?? '',
      /dev\.selfheal\.action\.scale .* was not delivered .* \(last answer 503/,
    );
    t.is(taps.scale.received.length, 0, 'the real scale action was not reached');
  },
);
