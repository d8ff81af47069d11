// Knative Eventing for real (built from knative.dev/eventing, run against a control plane of its own): the Knative
// overlay's Broker, Triggers and SinkBinding become Ready, the router with SELFHEAL_SINK=knative posts to the real
// Broker ingress, the Triggers deliver each event to its action by type, a failing delivery is retried as the
// Broker's delivery spec says and then recorded by the dead-letter sink. And the closed loop through the Broker: an
// alert heals end to end; when it returns, restart-pod's reply is redeploy's event, which the Broker publishes and
// routes through redeploy's Trigger on purpose; the resolution reaches restart-pod through its Trigger and heals the
// episode. Every plain result reply goes back into the Broker too: a Trigger of the test sees each one, and no action
// ever receives one, so no reply loops.
import { randomBytes } from 'node:crypto';
import { AppsV1Api, type KubernetesObject } from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import { readEpisodes } from '../../functions/lib/episodes.ts';
import {
  createDeployment,
  eventsAbout,
  markReady,
  podsOf,
  rolledOut,
  waitForPods,
} from '../../functions/test-helpers.ts';
import type { K8sObject } from '../../manifests/render.ts';
import { applyObjects } from '../../playground/knative/eventing.ts';
import { publishService } from '../../playground/knative/serving.ts';
import { eventually } from '../helpers/wait.ts';
import {
  ACTIONS,
  type Action,
  aboutWorkloads,
  applyOverlay,
  BROKER_ADDRESS,
  boundSink,
  DEMO,
  type KnativeEnv,
  NS,
  notify,
  overlayObjects,
  type Received,
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
  await startActions(t, env, []);
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
    const taps = await startActions(t, env, ['web-a', 'web-b', 'web-c']);
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
      // Delivered at least once: an answer that asks for a retry (503) is retried by the Broker.
      const delivered = await eventually(`${name} receives its event and acts on it`, () =>
        tap.received.find((r) => r.status === 200),
      );
      for (const retried of tap.received.filter((r) => r.status !== 0 && r !== delivered))
        t.log(`${name} answered ${retried.status} to a delivery: ${retried.answer}`);
      t.true(
        tap.received.every((r) => r.status === 200 || r.status === 503 || r.status === 0),
        `${name} answered only 200 or a retryable 503`,
      );
      t.is(delivered?.type, `dev.selfheal.action.${name}`);
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
    // Each action got its own event (once, or again when it asked for a retry) and nothing else.
    for (const [name, tap] of Object.entries(taps) as [Action, Tap][]) {
      t.deepEqual(
        [...new Set(tap.received.map((r) => `${r.type} ${r.id}`))],
        [`dev.selfheal.action.${name} ${tap.received[0]?.id}`],
        `${name} received only its own type, one event`,
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
    const taps = await startActions(t, env, ['web-d']);
    const failing = await startTap({ status: 503, about: aboutWorkloads(['web-d']) });
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

const LOOP_TOKEN = 'knative-loop-token';
// The workload the closed loop heals: named apart from the other tests', so their late retries are told apart.
const LOOPED = 'shop';
const RESULTS_HOST = 'results.selfheal.svc.cluster.local';
const RESULT = 'dev.selfheal.result';

// What a user would subscribe to see the actions' results: a Trigger on their type, to a tap of this test.
async function observeResults(t: ExecutionContext, workloads: readonly string[]): Promise<Tap> {
  const results = await startTap({ about: aboutWorkloads(workloads) });
  t.teardown(() => results.close());
  env.eventing.dns.route(RESULTS_HOST, results.endpoint);
  await applyObjects(env.cluster, [
    {
      apiVersion: 'eventing.knative.dev/v1',
      kind: 'Trigger',
      metadata: { name: 'results-observer', namespace: NS },
      spec: {
        broker: 'selfheal',
        filter: { attributes: { type: RESULT } },
        subscriber: { uri: `http://${RESULTS_HOST}` },
      },
    } as KubernetesObject,
  ]);
  return results;
}

async function startLoop(
  t: ExecutionContext,
  workloads: readonly string[],
): Promise<{ router: string; taps: Record<Action, Tap> }> {
  const taps = await startActions(t, env, workloads, { SELFHEAL_VERIFY_SECONDS: '600' });
  for (const name of [...Object.keys(ACTIONS), 'resolved', 'results-observer'])
    await waitForReady(env.kc, 'triggers', NS, name);
  await waitForDispatch(env.kc, NS, 'selfheal');
  return { router: await startRouter(t, env, LOOP_TOKEN), taps };
}

type Instance = { pod: string; fingerprint: string; startsAt: string; endsAt?: string };
const highMemory = (i: Instance): WebhookAlert => ({
  labels: { alertname: 'HighMemoryUsage', pod: i.pod, action: 'restart-pod' },
  fingerprint: i.fingerprint,
  startsAt: i.startsAt,
  ...(i.endsAt ? { endsAt: i.endsAt } : {}),
});

const ready = (p: { status?: { conditions?: { type: string; status: string }[] } }) =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

const types = (received: Received[]) => received.map((r) => r.type);

test.serial(
  'an alert heals through the Broker; its return escalates to redeploy by its Trigger; its resolution heals the episode; results never reach an action',
  async (t) => {
    await createDeployment(env.kc, DEMO, LOOPED, { replicas: 2, maxUnavailable: 1 });
    const [a] = await markReady(env.kc, DEMO, await waitForPods(env.kc, DEMO, LOOPED, 2));
    const results = await observeResults(t, [LOOPED]);
    const { router, taps } = await startLoop(t, [LOOPED]);
    const now = Date.now();

    // 1. The alert fires: router → Broker → restart-pod's Trigger → the pod is evicted and replaced.
    const first: Instance = {
      pod: a?.metadata?.name as string,
      fingerprint: randomBytes(8).toString('hex'),
      startsAt: new Date(now - 120_000).toISOString(),
    };
    const fired = await notify(router, LOOP_TOKEN, [highMemory(first)]);
    t.is(fired.status, 200, JSON.stringify(fired.body));
    const replacement = await eventually('the replacement pod', async () => {
      const pods = await podsOf(env.kc, DEMO, LOOPED);
      return (
        pods.length === 2 && !pods.some((p) => p.metadata?.name === first.pod) && pods.find((p) => !ready(p))
      );
    });
    const [acted] = await taps['restart-pod'].answered(1);
    t.like(
      acted,
      { type: 'dev.selfheal.action.restart-pod', replyType: RESULT },
      'restart-pod answered its result',
    );

    // 2. The replacement is Ready (the restart is verified) and the failure returns on it: restart-pod answers with
    // redeploy's event, which the Broker publishes and delivers through redeploy's Trigger.
    await markReady(env.kc, DEMO, [replacement]);
    const second: Instance = {
      pod: replacement.metadata?.name as string,
      fingerprint: randomBytes(8).toString('hex'),
      startsAt: new Date(now - 10_000).toISOString(),
    };
    const returned = await notify(router, LOOP_TOKEN, [highMemory(second)]);
    t.is(returned.status, 200, JSON.stringify(returned.body));
    const [escalation] = await taps.redeploy.answered(1);
    const escalating = (await taps['restart-pod'].answered(2))[1];
    t.is(escalating?.replyType, 'dev.selfheal.action.redeploy', "restart-pod's reply");
    t.like(escalation, { type: 'dev.selfheal.action.redeploy', source: 'selfheal/restart-pod', status: 200 });
    t.is(escalation?.replyType, RESULT, 'redeploy answered its result');
    const [episode] = readEpisodes(
      (await env.kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: DEMO, name: LOOPED }))
        .metadata?.annotations ?? {},
    );
    t.deepEqual(
      episode?.steps.map((s) => s.action),
      ['restart-pod', 'redeploy'],
    );

    // 3. The rollout finishes; both instances resolve: the resolution reaches restart-pod through its Trigger.
    await rolledOut(env.kc, DEMO, LOOPED, 2);
    const endsAt = new Date().toISOString();
    const resolved = await notify(
      router,
      LOOP_TOKEN,
      [highMemory({ ...first, endsAt }), highMemory({ ...second, endsAt })],
      'resolved',
    );
    t.is(resolved.status, 200, JSON.stringify(resolved.body));
    const healed = await eventually('the episode healed', async () => {
      const d = await env.kc
        .makeApiClient(AppsV1Api)
        .readNamespacedDeployment({ namespace: DEMO, name: LOOPED });
      const [e] = readEpisodes(d.metadata?.annotations ?? {});
      return e?.state === 'healed' && e;
    });
    t.like(healed, { state: 'healed', firing: [] });

    // Every answer that was a result went back into the Broker: the results Trigger saw each one.
    await taps['restart-pod'].answered(4);
    // Its last one is the answer to the last event of the chain; the recorder answers nothing, so nothing follows it.
    const answered = [
      ...taps['restart-pod'].received,
      ...taps.redeploy.received,
      ...taps.scale.received,
    ].filter((r) => r.replyType === RESULT);
    const seen = await eventually('every result seen by the results Trigger', () =>
      results.received.length >= answered.length ? results.received : undefined,
    );
    t.is(seen.length, answered.length, 'each result once');
    t.true(
      seen.every((r) => r.type === RESULT),
      'only results reach the results Trigger',
    );
    t.deepEqual(types(taps['restart-pod'].received), [
      'dev.selfheal.action.restart-pod',
      'dev.selfheal.action.restart-pod',
      'dev.selfheal.resolved',
      'dev.selfheal.resolved',
    ]);
    t.deepEqual(types(taps.redeploy.received), ['dev.selfheal.action.redeploy']);
    t.deepEqual(
      types(taps.scale.received),
      [],
      'scale was never asked: the chain stopped where the alert healed',
    );
  },
);

type EnvVar = { name: string; value?: string };
const envOf = (service: K8sObject) =>
  new Map(
    (
      (service.spec as { template: { spec: { containers: { env?: EnvVar[] }[] } } }).template.spec
        .containers[0]?.env ?? []
    ).map((e) => [e.name, e.value ?? '']),
  );

test.serial(
  "the OIDC component: each Trigger's token is for the audience its action verifies, from an account it accepts; Knative's webhooks admit it",
  async (t) => {
    const objects = await overlayObjects('examples/knative-oidc');
    const services = new Map(
      objects
        .filter((o) => o.kind === 'Service' && o.apiVersion.startsWith('serving.knative.dev/'))
        .map((s) => [s.metadata.name, envOf(s)]),
    );
    // Knative names a Trigger's OIDC account <trigger>-oidc-<group>-<kind> (pkg/auth/serviceaccount.go).
    const account = (trigger: string) =>
      `system:serviceaccount:${NS}:${trigger}-oidc-eventing.knative.dev-trigger`;
    const accepts = (action: string) =>
      (services.get(action)?.get('SELFHEAL_OIDC_SUBJECTS') ?? '').split(',');
    const triggers = objects.filter((o) => o.kind === 'Trigger');
    t.is(triggers.length, 4);
    for (const trigger of triggers) {
      const spec = trigger.spec as {
        subscriber: { ref: { name: string }; audience?: string };
        delivery?: { deadLetterSink?: { audience?: string } };
      };
      const action = spec.subscriber.ref.name;
      t.is(services.get(action)?.get('SELFHEAL_ACTION_AUTH'), 'oidc', action);
      t.is(spec.subscriber.audience, `selfheal/${action}`, trigger.metadata.name);
      t.true(
        accepts(action).includes(account(trigger.metadata.name)),
        `${action} accepts ${trigger.metadata.name}`,
      );
      // Its dead letters come with its own account, to restart-pod's audience.
      t.true(
        accepts('restart-pod').includes(account(trigger.metadata.name)),
        `dead letters of ${trigger.metadata.name}`,
      );
      if (spec.delivery?.deadLetterSink) t.is(spec.delivery.deadLetterSink.audience, 'selfheal/restart-pod');
    }
    const broker = objects.find((o) => o.kind === 'Broker')?.spec as
      | { delivery?: { deadLetterSink?: { audience?: string } } }
      | undefined;
    t.is(broker?.delivery?.deadLetterSink?.audience, 'selfheal/restart-pod');
    // Through the real admission webhooks of Knative Eventing (which refuse an EventPolicy while OIDC is off), and the
    // API server's own validation for the rest: OIDC on, as the component requires, then off again.
    const features = (value: string) =>
      applyObjects(env.cluster, [
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'config-features', namespace: 'knative-eventing' },
          data: { 'authentication-oidc': value },
        } as KubernetesObject,
      ]);
    await features('enabled');
    t.teardown(() => features('disabled'));
    // The webhook reads the feature flags from its informer: a moment after they are written.
    await eventually('the OIDC component admitted by Knative', async () => {
      try {
        await applyObjects(env.cluster, objects as KubernetesObject[], { dryRun: true });
        return true;
      } catch (err) {
        if (/feature not enabled/.test((err as Error).message)) return false;
        throw err;
      }
    });
    t.pass();
  },
);
