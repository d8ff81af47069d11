// Knative Eventing for real (built from knative.dev/eventing, run against a control plane of its own): the Knative
// overlay's Broker and Triggers become Ready, the router with SELFHEAL_SINK=knative posts to the real Broker ingress,
// the Triggers deliver each event to its action by type, and a failing delivery is retried as the Broker's delivery
// spec says.
import { AppsV1Api } from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import { loadRouterConfig } from '../../functions/lib/config.ts';
import { createLogger } from '../../functions/lib/log.ts';
import { startFunction } from '../../functions/lib/runtime.ts';
import { redeploy } from '../../functions/redeploy/redeploy.ts';
import { restartPod } from '../../functions/restart-pod/restart-pod.ts';
import { routerFunction } from '../../functions/router/index.ts';
import { scale } from '../../functions/scale/scale.ts';
import {
  alertEvent,
  createDeployment,
  podsOf,
  sendEvent,
  startAction,
  waitForPods,
} from '../../functions/test-helpers.ts';
import { publishService } from '../../playground/knative/serving.ts';
import { eventually } from '../helpers/wait.ts';
import {
  applyOverlay,
  type KnativeEnv,
  overlayObjects,
  readKnative,
  startKnativeEnv,
  startTap,
  type Tap,
  waitForReady,
} from './support.ts';

const NS = 'selfheal';
const DEMO = 'demo';
const TOKEN = 'knative-test-token';
const BROKER_ADDRESS = 'http://broker-ingress.knative-eventing.svc.cluster.local/selfheal/selfheal';
const silent = createLogger('test', 'silent');

let env: KnativeEnv;
test.before(async () => {
  env = await startKnativeEnv();
  await applyOverlay(env.cluster, await overlayObjects());
});
test.after.always(async () => {
  await env?.stop();
});

const ACTIONS = { 'restart-pod': restartPod, redeploy, scale } as const;
type Action = keyof typeof ACTIONS;

/** The three actions, each behind a tap, published as their Knative Services. */
async function startActions(t: ExecutionContext): Promise<Record<Action, Tap>> {
  const taps = {} as Record<Action, Tap>;
  for (const [name, logic] of Object.entries(ACTIONS) as [Action, (typeof ACTIONS)[Action]][]) {
    const token = await env.cluster.mintToken(NS, name);
    const url = await startAction(t, name, logic, DEMO, {
      kubeConfig: env.cluster.kubeConfigForToken(token, NS),
      env: { SELFHEAL_NAMESPACES: DEMO },
    });
    const tap = await startTap({ forward: url });
    t.teardown(() => tap.close());
    await publishService(env.kc, env.eventing.dns, NS, name, tap.endpoint);
    taps[name] = tap;
  }
  return taps;
}

async function startRouter(t: ExecutionContext): Promise<string> {
  const config = loadRouterConfig({
    SELFHEAL_WEBHOOK_TOKEN: TOKEN,
    SELFHEAL_SINK: 'knative',
    // The Broker's address as Knative publishes it, reached here through the cluster-DNS stand-in.
    K_SINK: env.eventing.localUrl(BROKER_ADDRESS),
    SELFHEAL_NAMESPACES: DEMO,
    SELFHEAL_ACTION_AUTH: 'platform',
  });
  const mod = routerFunction({ config: () => config, log: silent });
  const running = await startFunction(mod, {
    name: 'router',
    host: '127.0.0.1',
    port: 0,
    bodyLimit: config.maxBodyBytes,
    log: silent,
  });
  t.teardown(() => running.close());
  return running.url;
}

function alert(action: Action, alertname: string, labels: Record<string, string>) {
  return {
    status: 'firing',
    labels: { alertname, action, namespace: DEMO, severity: 'critical', ...labels },
    annotations: { summary: `${alertname} in a test` },
    startsAt: new Date().toISOString(),
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: '',
    fingerprint: Math.random().toString(16).slice(2, 18),
  };
}

async function notify(routerUrl: string, alerts: ReturnType<typeof alert>[]) {
  const res = await fetch(routerUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({
      version: '4',
      groupKey: `{}:{alertname="${alerts[0]?.labels.alertname}"}`,
      truncatedAlerts: 0,
      status: 'firing',
      receiver: 'selfheal-router',
      groupLabels: {},
      commonLabels: {},
      commonAnnotations: {},
      externalURL: 'http://alertmanager.test',
      alerts,
    }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test.serial("the overlay's Broker and its Triggers become Ready on Knative Eventing", async (t) => {
  await startActions(t);
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
    const taps = await startActions(t);
    for (const name of Object.keys(ACTIONS)) await waitForReady(env.kc, 'triggers', NS, name);
    const router = await startRouter(t);

    const answer = await notify(router, [
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
  const taps = await startActions(t);
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
