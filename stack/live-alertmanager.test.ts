// Live check of the production alert routing: a real Alertmanager (Debian's 0.25 and a current build) runs
// stack/alertmanager/alertmanager.yml (fast profile timings) in front of the real router and actions and the real
// control plane. Alerts with the labels the rules give them become webhooks, CloudEvents and exactly one change to
// the right object; a resolution changes nothing; a router answering 5xx is retried until it succeeds.
import { accessSync, constants } from 'node:fs';
import { AppsV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import { type CloudEvent, HTTP } from 'cloudevents';
import { EPISODES_ANNOTATION, readEpisodes } from '../functions/lib/episodes.ts';
import { ACTIONS, type ActionEventData, type ActionName } from '../functions/lib/events.ts';
import { RESTARTED_AT_ANNOTATION } from '../functions/redeploy/redeploy.ts';
import {
  applyRbac,
  createDeployment,
  eventsAbout,
  markReady,
  podsOf,
  waitForPods,
} from '../functions/test-helpers.ts';
import { resolveBinaries } from '../playground/cluster/binaries.ts';
import { useNamespace } from '../test/helpers/cluster.ts';
import { eventually } from '../test/helpers/wait.ts';
import { type DeliveryPath, startDeliveryPath } from './live/delivery-path.ts';
import type { Exchange } from './live/recording-proxy.ts';
import { loadStack, ROUTER_RECEIVER } from './profile.ts';

const DEBIAN_ALERTMANAGER = '/usr/bin/prometheus-alertmanager';

const ALERTMANAGERS: Array<[string, () => string]> = [
  [
    "Debian's Alertmanager 0.25",
    () => {
      try {
        accessSync(DEBIAN_ALERTMANAGER, constants.X_OK);
      } catch {
        throw new Error(`${DEBIAN_ALERTMANAGER} is missing: apt-get install prometheus-alertmanager`);
      }
      return DEBIAN_ALERTMANAGER;
    },
  ],
  ['Alertmanager built from its Go module', () => resolveBinaries(['alertmanager']).alertmanager],
];

interface PostedAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
}

/** An alert as Prometheus sends it for the first rule that asks for `action`: the rule's labels plus the target's. */
async function ruleAlert(action: ActionName, namespace: string, pod: string): Promise<PostedAlert> {
  const rule = (await loadStack()).rules.find((candidate) => candidate.labels.action === action);
  if (!rule) throw new Error(`no alert rule has action=${action}`);
  return {
    labels: { alertname: rule.alert, ...rule.labels, namespace, pod, container: 'app' },
    annotations: { summary: `${rule.alert} on ${namespace}/${pod}` },
    startsAt: new Date().toISOString(),
  };
}

interface WebhookBody {
  version: string;
  receiver: string;
  status: 'firing' | 'resolved';
  groupLabels: Record<string, string>;
  alerts: Array<{ status: string; labels: Record<string, string> }>;
}
const webhookOf = (exchange: Exchange) => JSON.parse(exchange.body) as WebhookBody;
const answerOf = (exchange: Exchange | undefined) =>
  exchange?.upstream && (JSON.parse(exchange.upstream.body) as Record<string, unknown>);

function cloudEventOf(exchange: Exchange): CloudEvent<ActionEventData> {
  const event = HTTP.toEvent({ headers: exchange.headers, body: exchange.body });
  if (Array.isArray(event)) throw new Error('expected one CloudEvent, got a batch');
  return event as CloudEvent<ActionEventData>;
}

/** What selfheal's actions may change in the namespace (controllers' own bookkeeping left out), to compare later. */
// The state the actions may change, without the episodes (a resolution closes them) and their Healed Events. The
// generation is left out: the API server counts a Deployment's annotation changes in it too; replicas and template
// are what a change of the workload would move.
async function stateBesideEpisodes(kc: KubeConfig, namespace: string) {
  const state = await selfhealState(kc, namespace);
  return {
    ...state,
    deployments: state.deployments.map(({ annotations, generation: _generation, ...d }) => ({
      ...d,
      annotations: Object.fromEntries(Object.entries(annotations).filter(([k]) => k !== EPISODES_ANNOTATION)),
    })),
    events: state.events.filter((e) => !e.startsWith('Healed ')),
  };
}

async function selfhealState(kc: KubeConfig, namespace: string) {
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const [deployments, replicaSets, pods, events] = await Promise.all([
    apps.listNamespacedDeployment({ namespace }),
    apps.listNamespacedReplicaSet({ namespace }),
    core.listNamespacedPod({ namespace }),
    core.listNamespacedEvent({ namespace }),
  ]);
  const selfhealOnly = (annotations: Record<string, string> = {}) =>
    Object.fromEntries(Object.entries(annotations).filter(([key]) => key.startsWith('selfheal.dev/')));
  return {
    deployments: deployments.items.map((d) => ({
      name: d.metadata?.name,
      generation: d.metadata?.generation,
      replicas: d.spec?.replicas,
      annotations: selfhealOnly(d.metadata?.annotations),
      template: d.spec?.template.metadata?.annotations ?? {},
    })),
    replicaSets: replicaSets.items.map((rs) => rs.metadata?.name).sort(),
    pods: pods.items
      .filter((p) => !p.metadata?.deletionTimestamp)
      .map((p) => p.metadata?.uid)
      .sort(),
    events: events.items
      .filter((e) => e.reportingComponent?.startsWith('selfheal/'))
      .map((e) => `${e.reason} ${e.involvedObject.kind}/${e.involvedObject.name}`)
      .sort(),
  };
}

function checkWebhook(t: ExecutionContext, exchange: Exchange, path: DeliveryPath, namespace: string) {
  t.is(exchange.headers.authorization, `Bearer ${path.webhookToken}`, 'the token from credentials_file');
  const body = webhookOf(exchange);
  t.is(body.version, '4');
  t.is(body.receiver, ROUTER_RECEIVER);
  // Production grouping: by alert name and namespace.
  t.deepEqual(Object.keys(body.groupLabels).sort(), ['alertname', 'namespace']);
  t.is(body.groupLabels.namespace, namespace);
}

for (const [label, alertmanager] of ALERTMANAGERS) {
  test(`${label}: each rule's alert changes the right object once through the production routing; its resolution heals the episode and changes nothing else`, async (t) => {
    const binary = alertmanager();
    const { name: ns, kc } = await useNamespace(t, 'live-am');
    await applyRbac(kc, ns);
    await Promise.all([
      createDeployment(kc, ns, 'web', { replicas: 2 }),
      createDeployment(kc, ns, 'worker', { replicas: 1 }),
      createDeployment(kc, ns, 'api', { replicas: 1 }),
    ]);
    const [web, worker, api] = await Promise.all([
      waitForPods(kc, ns, 'web', 2),
      waitForPods(kc, ns, 'worker', 1),
      waitForPods(kc, ns, 'api', 1),
    ]);
    const podName = (pods: typeof web, i = 0) => pods[i]?.metadata?.name as string;
    const targets: Record<ActionName, string> = {
      'restart-pod': podName(web),
      redeploy: podName(worker),
      scale: podName(api),
    };
    const path = await startDeliveryPath(t, { alertmanager: binary, namespace: ns });
    const alerts = await Promise.all(ACTIONS.map((action) => ruleAlert(action, ns, targets[action])));
    await path.alertmanager.post(alerts);

    const apps = kc.makeApiClient(AppsV1Api);
    const deployment = (name: string) => apps.readNamespacedDeployment({ namespace: ns, name });
    await eventually('restart-pod: the pod replaced by its ReplicaSet', async () => {
      const names = (await podsOf(kc, ns, 'web')).map((p) => p.metadata?.name);
      return names.length === 2 && !names.includes(targets['restart-pod']) && names.includes(podName(web, 1));
    });
    const restarted = await eventually('redeploy: a rolling restart with a new ReplicaSet', async () => {
      const d = await deployment('worker');
      const { items } = await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: 'app=worker' });
      return items.length === 2 && d;
    });
    t.truthy(restarted.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]);
    await eventually('scale: one more replica', async () => (await deployment('api')).spec?.replicas === 2);
    // Nothing else moved: the other Deployments keep their replicas and templates.
    t.is((await deployment('web')).spec?.replicas, 2);
    t.is((await deployment('worker')).spec?.replicas, 1);
    for (const name of ['web', 'api']) {
      t.falsy((await deployment(name)).spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]);
    }
    // A redelivery (Alertmanager retries a notification the router answered 503 at its deadline, on a busy machine)
    // is recorded as Skipped already-done: it changes nothing, so only the other Events are counted.
    const eventReasons = async (name: string) =>
      (await eventsAbout(kc, ns, name))
        .filter((e) => !(e.reason === 'Skipped' && /already acted on/.test(e.message ?? '')))
        .map((e) => e.reason);
    t.deepEqual(
      await eventually('the Events of the three actions', async () => {
        const reasons = [
          await eventReasons(targets['restart-pod']),
          await eventReasons('worker'),
          await eventReasons('api'),
        ];
        return reasons.every((r) => r.length > 0) && reasons;
      }),
      [['RestartedPod'], ['RestartedRollout'], ['ScaledUp']],
    );

    // One webhook per group (alert name and namespace), one CloudEvent per alert, each to its own action.
    t.is(path.webhooks.exchanges.length, ACTIONS.length);
    for (const exchange of path.webhooks.exchanges) {
      checkWebhook(t, exchange, path, ns);
      t.is(exchange.status, 200);
      t.like(webhookOf(exchange), { status: 'firing', alerts: [{ status: 'firing' }] });
    }
    for (const [i, action] of ACTIONS.entries()) {
      const calls = path.actions[action].exchanges;
      t.is(calls.length, 1, `${action} called once`);
      const event = cloudEventOf(calls[0] as Exchange);
      t.is(event.type, `dev.selfheal.action.${action}`);
      t.is(event.subject, `${ns}/Pod/${targets[action]}`);
      t.is(event.data?.alert?.name, alerts[i]?.labels.alertname);
      t.like(answerOf(calls[0]), { outcome: 'applied' });
    }

    // Resolved (endsAt in the past): Alertmanager sends the resolution at the group's next flush. Compared with the
    // state once the controllers have created the pods the changes call for (the new ReplicaSet's, the new replica).
    await eventually('the pods of the new ReplicaSet and of the new replica', async () => {
      const counts = await Promise.all(
        ['web', 'worker', 'api'].map(async (app) => (await podsOf(kc, ns, app)).length),
      );
      return counts.every((count) => count === 2);
    });
    // No kubelet here: the test reports every pod Ready, so each step can be verified (a replaced pod available,
    // the rollout finished, the added replica available) before its alert resolves.
    await eventually('every Deployment fully available', async () => {
      const all = await Promise.all(
        ['web', 'worker', 'api'].map(async (app) => {
          for (const pod of await podsOf(kc, ns, app)) {
            if (!pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) {
              await markReady(kc, ns, [pod]).catch(() => undefined);
            }
          }
          const d = await deployment(app);
          const st = d.status;
          return (
            (st?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
            st?.updatedReplicas === d.spec?.replicas &&
            st?.availableReplicas === d.spec?.replicas &&
            st?.replicas === d.spec?.replicas
          );
        }),
      );
      return all.every(Boolean);
    });
    const before = await stateBesideEpisodes(kc, ns);
    const endsAt = new Date(Date.now() - 1000).toISOString();
    await path.alertmanager.post(alerts.map((alert) => ({ ...alert, endsAt })));
    const resolved = await eventually('a resolved notification for every alert', () => {
      const done = path.webhooks.exchanges.filter((e) => webhookOf(e).status === 'resolved');
      return done.length === ACTIONS.length && done;
    });
    for (const exchange of resolved) {
      checkWebhook(t, exchange, path, ns);
      t.is(exchange.status, 200);
      t.like(answerOf(exchange), {
        status: 'ok',
        results: [{ status: 'resolved', outcome: 'resolved', reason: 'healed' }],
      });
    }
    // Each action was told its alert resolved (the router answers after its deliveries), and acted on nothing.
    for (const action of ACTIONS) {
      const calls = path.actions[action].exchanges;
      t.is(calls.length, 2, `${action} told of the resolution once`);
      t.is(cloudEventOf(calls[1] as Exchange).type, 'dev.selfheal.resolved');
      t.like(answerOf(calls[1]), { outcome: 'applied', reason: 'healed' });
    }
    t.deepEqual(await stateBesideEpisodes(kc, ns), before);
    for (const name of ['web', 'worker', 'api']) {
      const [episode] = readEpisodes((await deployment(name)).metadata?.annotations);
      t.like(episode, { state: 'healed', firing: [] }, name);
    }
  });

  test(`${label}: a router answering 503 is retried until it succeeds, and the action is applied once`, async (t) => {
    const binary = alertmanager();
    const { name: ns, kc } = await useNamespace(t, 'live-am-retry');
    await applyRbac(kc, ns);
    await createDeployment(kc, ns, 'api', { replicas: 1 });
    const [pod] = await waitForPods(kc, ns, 'api', 1);
    // The router answers 503 while its delivery fails: first the action is down, then it scales but its answer
    // is lost, so Alertmanager's retry brings the same CloudEvent a second time.
    const path = await startDeliveryPath(t, {
      alertmanager: binary,
      namespace: ns,
      actionFaults: { scale: ['unavailable', 'answer-lost'] },
    });
    await path.alertmanager.post([await ruleAlert('scale', ns, pod?.metadata?.name as string)]);

    await eventually(
      'a webhook the router accepts',
      () => path.webhooks.exchanges.some((e) => e.status === 200),
      { timeoutMs: 30_000 },
    );
    // 503 until the delivery succeeds (at least the two the faults cause; a busy machine may add a deadline or an
    // in-progress answer), then 200.
    const webhooks = path.webhooks.exchanges;
    t.regex(webhooks.map((e) => e.status).join(' '), /^503 503 (503 )*200$/);
    for (const exchange of webhooks) checkWebhook(t, exchange, path, ns);
    t.like(answerOf(webhooks[0]), { status: 'retry', results: [{ outcome: 'failed' }] });

    const calls = path.actions.scale.exchanges;
    t.deepEqual(
      calls.map((c) => c.fault),
      ['unavailable', 'answer-lost', ...calls.slice(2).map(() => 'pass')],
    );
    t.is(new Set(calls.map((c) => cloudEventOf(c).id)).size, 1, 'the same event id every time');
    t.like(answerOf(calls[1]), { outcome: 'applied' });
    t.like(answerOf(calls.at(-1)), { outcome: 'skipped', reason: 'already-done' });
    t.is(calls.filter((c) => answerOf(c)?.outcome === 'applied').length, 1, 'applied once');
    const api = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: ns, name: 'api' });
    t.is(api.spec?.replicas, 2, 'scaled up by one, not two');
    t.deepEqual((await eventsAbout(kc, ns, 'api')).filter((e) => e.reason === 'ScaledUp').length, 1);
  });
}
