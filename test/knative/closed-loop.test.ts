// The closed loop through a real Knative Broker: an alert heals end to end (router → Broker → restart-pod, the pod
// replaced); when it returns, restart-pod's reply is redeploy's event, which the Broker publishes and routes through
// redeploy's Trigger on purpose; the resolution reaches restart-pod through its Trigger and heals the episode. Every
// plain result reply goes back into the Broker too: a Trigger of this test sees each one, and no action ever receives
// one, so no reply loops.
import { randomBytes } from 'node:crypto';
import { AppsV1Api } from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import { readEpisodes } from '../../functions/lib/episodes.ts';
import { createDeployment, markReady, podsOf, rolledOut, waitForPods } from '../../functions/test-helpers.ts';
import { applyObjects } from '../../playground/knative/eventing.ts';
import { eventually } from '../helpers/wait.ts';
import {
  ACTIONS,
  type Action,
  applyOverlay,
  DEMO,
  type KnativeEnv,
  NS,
  notify,
  overlayObjects,
  type Received,
  startActions,
  startKnativeEnv,
  startRouter,
  startTap,
  type Tap,
  type WebhookAlert,
  waitForDispatch,
  waitForReady,
} from './support.ts';

const TOKEN = 'knative-loop-token';
const RESULTS_HOST = 'results.selfheal.svc.cluster.local';
const RESULT = 'dev.selfheal.result';

let env: KnativeEnv;
let results: Tap;
test.before(async () => {
  env = await startKnativeEnv();
  await applyOverlay(env.cluster, await overlayObjects());
  // What a user would subscribe to see the actions' results: a Trigger on their type.
  results = await startTap();
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
    } as never,
  ]);
});
test.after.always(async () => {
  await results?.close();
  await env?.stop();
});

async function startLoop(t: ExecutionContext): Promise<{ router: string; taps: Record<Action, Tap> }> {
  const taps = await startActions(t, env, { SELFHEAL_VERIFY_SECONDS: '600' });
  for (const name of [...Object.keys(ACTIONS), 'resolved', 'results-observer'])
    await waitForReady(env.kc, 'triggers', NS, name);
  await waitForDispatch(env.kc, NS, 'selfheal');
  return { router: await startRouter(t, env, TOKEN), taps };
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
    await createDeployment(env.kc, DEMO, 'web', { replicas: 2, maxUnavailable: 1 });
    const [a] = await markReady(env.kc, DEMO, await waitForPods(env.kc, DEMO, 'web', 2));
    const { router, taps } = await startLoop(t);
    const now = Date.now();

    // 1. The alert fires: router → Broker → restart-pod's Trigger → the pod is evicted and replaced.
    const first: Instance = {
      pod: a?.metadata?.name as string,
      fingerprint: randomBytes(8).toString('hex'),
      startsAt: new Date(now - 120_000).toISOString(),
    };
    const fired = await notify(router, TOKEN, [highMemory(first)]);
    t.is(fired.status, 200, JSON.stringify(fired.body));
    const replacement = await eventually('the replacement pod', async () => {
      const pods = await podsOf(env.kc, DEMO, 'web');
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
    const returned = await notify(router, TOKEN, [highMemory(second)]);
    t.is(returned.status, 200, JSON.stringify(returned.body));
    const [escalation] = await taps.redeploy.answered(1);
    const escalating = (await taps['restart-pod'].answered(2))[1];
    t.is(escalating?.replyType, 'dev.selfheal.action.redeploy', "restart-pod's reply");
    t.like(escalation, { type: 'dev.selfheal.action.redeploy', source: 'selfheal/restart-pod', status: 200 });
    t.is(escalation?.replyType, RESULT, 'redeploy answered its result');
    const [episode] = readEpisodes(
      (await env.kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: DEMO, name: 'web' }))
        .metadata?.annotations ?? {},
    );
    t.deepEqual(
      episode?.steps.map((s) => s.action),
      ['restart-pod', 'redeploy'],
    );

    // 3. The rollout finishes; both instances resolve: the resolution reaches restart-pod through its Trigger.
    await rolledOut(env.kc, DEMO, 'web', 2);
    const endsAt = new Date().toISOString();
    const resolved = await notify(
      router,
      TOKEN,
      [highMemory({ ...first, endsAt }), highMemory({ ...second, endsAt })],
      'resolved',
    );
    t.is(resolved.status, 200, JSON.stringify(resolved.body));
    const healed = await eventually('the episode healed', async () => {
      const d = await env.kc
        .makeApiClient(AppsV1Api)
        .readNamespacedDeployment({ namespace: DEMO, name: 'web' });
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
