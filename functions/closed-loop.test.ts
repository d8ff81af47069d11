// The closed loop with real parts only: webhooks posted to the router, which delivers to the three actions (each
// with its own ServiceAccount) on the real control plane and follows their escalations; the breaker notifies a real
// Alertmanager (the alert is visible in its API) and a recording Slack-compatible webhook.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import { startAlertmanager } from '../devkit/alertmanager.ts';
import { MissingBinariesError, resolveBinaries } from '../devkit/binaries.ts';
import { useNamespace } from '../test/helpers/cluster.ts';
import { eventually } from '../test/helpers/wait.ts';
import { readBreaker } from './lib/breaker.ts';
import { loadRouterConfig } from './lib/config.ts';
import { readEpisodes } from './lib/episodes.ts';
import { buildResolvedEvent } from './lib/events.ts';
import { createLogger } from './lib/log.ts';
import { registry } from './lib/metrics.ts';
import { startFunction } from './lib/runtime.ts';
import { redeploy } from './redeploy/redeploy.ts';
import { restartPod } from './restart-pod/restart-pod.ts';
import { routerFunction } from './router/index.ts';
import { scale } from './scale/scale.ts';
import {
  alertEvent,
  applyRbac,
  createDeployment,
  markReady,
  podsOf,
  postWebhook,
  rolledOut,
  sendEvent,
  startAction,
  waitForPods,
} from './test-helpers.ts';

const TOKEN = 'closed-loop-webhook-token';
const run = promisify(execFile);

type Clock = { now: () => Date; advance: (seconds: number) => void };

function clock(): Clock {
  let offset = 0;
  return { now: () => new Date(Date.now() + offset), advance: (s) => (offset += s * 1000) };
}

// The three actions and the router (direct sink), all on 127.0.0.1, the actions sharing one clock.
async function startLoop(
  t: ExecutionContext,
  ns: string,
  time: Clock,
  env: Record<string, string> = {},
  restartPodBeforeWrite?: (stage: string) => Promise<void>,
) {
  const options = { env: { SELFHEAL_VERIFY_SECONDS: '600', ...env }, now: time.now };
  const urls = {
    'restart-pod': await startAction(t, 'restart-pod', restartPod, ns, {
      ...options,
      ...(restartPodBeforeWrite ? { beforeWrite: restartPodBeforeWrite } : {}),
    }),
    redeploy: await startAction(t, 'redeploy', redeploy, ns, options),
    scale: await startAction(t, 'scale', scale, ns, options),
  };
  const config = loadRouterConfig({
    SELFHEAL_WEBHOOK_TOKEN: TOKEN,
    SELFHEAL_SINK: 'direct',
    SELFHEAL_ACTION_URLS: Object.entries(urls)
      .map(([a, u]) => `${a}=${u}`)
      .join(','),
    SELFHEAL_NAMESPACES: ns,
    SELFHEAL_ACTION_AUTH: 'platform',
  });
  const log = createLogger('router', 'silent');
  const router = routerFunction({ config: () => config, log });
  const running = await startFunction(router, {
    name: 'router',
    host: '127.0.0.1',
    port: 0,
    bodyLimit: 1 << 20,
    log,
  });
  t.teardown(async () => {
    await running.close();
    await router.shutdown();
  });
  return { router: running.url, urls };
}

type AlertShape = { pod: string; fingerprint: string; startsAt: string; endsAt?: string };

// An Alertmanager webhook of the production routing: the rule's labels, one group.
function notify(
  routerUrl: string,
  alertname: string,
  ns: string,
  alerts: AlertShape[],
  status: 'firing' | 'resolved' = 'firing',
) {
  return postWebhook(
    routerUrl,
    TOKEN,
    alerts.map(({ pod, ...a }) => ({
      ...a,
      labels: { alertname, namespace: ns, pod, action: 'restart-pod' },
    })),
    status,
  );
}

const fingerprint = () => randomBytes(8).toString('hex');
const secondsAgo = (s: number, time: Clock) => new Date(time.now().getTime() - s * 1000).toISOString();

async function annotations(kc: KubeConfig, ns: string) {
  const d = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: ns, name: 'web' });
  return d.metadata?.annotations ?? {};
}

async function reasons(kc: KubeConfig, ns: string): Promise<string[]> {
  const { items } = await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: ns });
  return items.filter((e) => e.reportingComponent?.startsWith('selfheal/')).map((e) => e.reason ?? '');
}

function metric(text: string, name: string, labels: Record<string, string>): number | undefined {
  const line = text
    .split('\n')
    .find(
      (l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)),
    );
  return line ? Number(line.split(' ').pop()) : undefined;
}

function alertmanagerBinary(): string {
  try {
    return resolveBinaries(['alertmanager']).alertmanager;
  } catch (err) {
    if (!(err instanceof MissingBinariesError)) throw err;
    const debian = '/usr/bin/prometheus-alertmanager';
    accessSync(debian, constants.X_OK);
    return debian;
  }
}

// A Slack-compatible incoming webhook that records what it is sent.
async function recordingWebhook(t: ExecutionContext) {
  const received: Array<{ text?: string }> = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    received.push(JSON.parse(body));
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/selfheal`, received };
}

// A namespace with the project's RBAC and Deployment web of two ready pods, at most one unavailable.
async function webOfTwo(t: ExecutionContext, prefix: string) {
  const namespace = await useNamespace(t, prefix);
  const { name: ns, kc } = namespace;
  await applyRbac(kc, ns);
  await createDeployment(kc, ns, 'web', { replicas: 2, maxUnavailable: 1 });
  return { ...namespace, pods: await markReady(kc, ns, await waitForPods(kc, ns, 'web', 2)) };
}

test('an alert that returns after a verified restart escalates to redeploy; its resolution heals the episode', async (t) => {
  const {
    name: ns,
    kc,
    pods: [a],
  } = await webOfTwo(t, 'loop-heal');
  const time = clock();
  const { router } = await startLoop(t, ns, time);

  const first = {
    pod: a?.metadata?.name as string,
    fingerprint: fingerprint(),
    startsAt: secondsAgo(120, time),
  };
  const restarted = await notify(router, 'HighMemoryUsage', ns, [first]);
  t.like(restarted.body.results[0], {
    outcome: 'accepted',
    action: 'restart-pod',
    result: { outcome: 'applied' },
  });

  // The replacement comes up and is Ready: the restart is verified…
  const replacement = await eventually('the replacement pod', async () => {
    const pods = await podsOf(kc, ns, 'web');
    return (
      pods.length === 2 &&
      !pods.some((p) => p.metadata?.name === first.pod) &&
      pods.find((p) => !p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
    );
  });
  await markReady(kc, ns, [replacement]);
  // …and the failure returns on it: selfheal does not restart again, it escalates, and the router delivers it.
  const second = {
    pod: replacement.metadata?.name as string,
    fingerprint: fingerprint(),
    startsAt: secondsAgo(10, time),
  };
  const escalated = await notify(router, 'HighMemoryUsage', ns, [second]);
  t.is(escalated.status, 200);
  t.like(escalated.body.results[0], {
    outcome: 'accepted',
    action: 'restart-pod',
    escalatedTo: ['redeploy'],
    result: { outcome: 'applied', reason: 'restarted' },
  });
  const [episode] = readEpisodes(await annotations(kc, ns));
  t.deepEqual(
    episode?.steps.map((s) => s.action),
    ['restart-pod', 'redeploy'],
  );
  t.like(episode, { alertname: 'HighMemoryUsage', state: 'open', startsAt: first.startsAt });
  t.true((await reasons(kc, ns)).includes('Escalated'));

  // The rollout of the redeploy finishes (the test plays the kubelet reporting the new pods Ready): it is verified.
  await rolledOut(kc, ns, 'web', 2);
  // Both instances resolve: the router tells restart-pod, which closes the episode once neither fires.
  const endsAt = time.now().toISOString();
  const resolved = await notify(
    router,
    'HighMemoryUsage',
    ns,
    [
      { ...first, endsAt },
      { ...second, endsAt },
    ],
    'resolved',
  );
  t.is(resolved.status, 200);
  t.deepEqual(
    resolved.body.results.map((r) => r.outcome),
    ['resolved', 'resolved'],
  );
  t.deepEqual(resolved.body.results.map((r) => r.reason).sort(), ['healed', 'resolved']);
  const [healed] = readEpisodes(await annotations(kc, ns));
  t.like(healed, { state: 'healed', closedAt: endsAt, firing: [] });
  t.true((await reasons(kc, ns)).includes('Healed'));
  const metrics = await registry.metrics();
  t.is(
    metric(metrics, 'selfheal_time_to_recovery_seconds_count', {
      alertname: 'HighMemoryUsage',
      action: 'redeploy',
    }),
    1,
  );
  t.is(
    metric(metrics, 'selfheal_escalations_total', {
      alertname: 'HighMemoryUsage',
      from: 'restart-pod',
      to: 'redeploy',
    }),
    1,
  );
});

test('a resolution in a dry run, or on a workload opted out since, closes no episode and writes nothing', async (t) => {
  const {
    name: ns,
    kc,
    pods: [a],
  } = await webOfTwo(t, 'loop-quiet');
  const time = clock();
  const { router, urls } = await startLoop(t, ns, time);
  const first = {
    pod: a?.metadata?.name as string,
    fingerprint: fingerprint(),
    startsAt: secondsAgo(120, time),
  };
  t.like((await notify(router, 'HighMemoryUsage', ns, [first])).body.results[0], {
    result: { outcome: 'applied' },
  });
  // The restart is verified: a resolution now would heal the episode.
  const replacement = await eventually('the replacement pod', async () => {
    const pods = await podsOf(kc, ns, 'web');
    return pods.length === 2 && !pods.some((p) => p.metadata?.name === first.pod) && pods;
  });
  await markReady(kc, ns, replacement);
  const open = await annotations(kc, ns);
  t.like(readEpisodes(open)[0], { state: 'open' });
  // About a pod of web still running (the alert's own pod is gone), so the resolution finds web itself.
  const live = replacement[0]?.metadata?.name as string;
  const resolution = (dryRun: boolean) =>
    buildResolvedEvent({
      alert: {
        name: 'HighMemoryUsage',
        fingerprint: first.fingerprint,
        startsAt: first.startsAt,
        endsAt: time.now().toISOString(),
        labels: {},
        annotations: {},
      },
      target: { namespace: ns, kind: 'Pod', name: live },
      dryRun,
    }) as unknown as Parameters<typeof sendEvent>[1];

  const dry = await sendEvent(urls['restart-pod'], resolution(true));
  t.is(dry.status, 200);
  t.like(dry.body, { outcome: 'dry-run' });
  t.deepEqual(await annotations(kc, ns), open, 'the dry run wrote nothing');

  await kc
    .makeApiClient(AppsV1Api)
    .patchNamespacedDeployment(
      { namespace: ns, name: 'web', body: { metadata: { labels: { 'selfheal.dev/enabled': null } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  const optedOut = await sendEvent(urls['restart-pod'], resolution(false));
  t.like(optedOut.body, { outcome: 'refused', reason: 'not-opted-in' });
  t.deepEqual(await annotations(kc, ns), open, 'nothing written on a workload opted out');
});

test('a breaker that opens while no human can be told still says so: a BreakerOpened Event, and 503 so the alert comes back', async (t) => {
  const {
    name: ns,
    kc,
    pods: [a, b],
  } = await webOfTwo(t, 'loop-untold');
  const time = clock();
  // A budget of one action, and a notification webhook nobody answers.
  const { urls } = await startLoop(t, ns, time, {
    SELFHEAL_ACTION_BUDGET: '1',
    SELFHEAL_NOTIFY_WEBHOOK_URL: 'http://127.0.0.1:9/hooks/selfheal',
    SELFHEAL_NOTIFY_TIMEOUT_MS: '1000',
  });
  const alertOn = (pod: string) =>
    alertEvent('restart-pod', { namespace: ns, kind: 'Pod', name: pod }, 'HighMemoryUsage');
  t.like((await sendEvent(urls['restart-pod'], alertOn(a?.metadata?.name as string))).body, {
    outcome: 'applied',
  });
  const tripped = await sendEvent(urls['restart-pod'], alertOn(b?.metadata?.name as string));
  t.is(tripped.status, 503, JSON.stringify(tripped.body));
  t.like(tripped.body, { reason: 'notify-failed' });
  t.like(readBreaker(await annotations(kc, ns)), { reason: 'budget-exhausted' });
  const { items } = await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: ns });
  const opened = items.find((e) => e.reason === 'BreakerOpened');
  t.like(opened, { type: 'Warning', reportingComponent: 'selfheal/restart-pod' });
  t.regex(opened?.message ?? '', /telling a human failed/);
});

test('a failure no action cures walks restart-pod → redeploy → scale, trips the breaker and tells a human; cleared, it acts again', async (t) => {
  const { name: ns, kc, cluster } = await webOfTwo(t, 'loop-breaker');
  const am = await startAlertmanager(
    alertmanagerBinary(),
    () => 'route:\n  receiver: pager\nreceivers:\n  - name: pager\n',
  );
  t.teardown(() => am.stop());
  const hook = await recordingWebhook(t);
  const time = clock();
  // Once armed, the next write of restart-pod meets a workload changed under it (as a controller's status update
  // would change it): the breaker's write conflicts once and its round is decided again.
  let conflictOnce = false;
  const touch = async () => {
    if (!conflictOnce) return;
    conflictOnce = false;
    await kc
      .makeApiClient(AppsV1Api)
      .patchNamespacedDeployment(
        { namespace: ns, name: 'web', body: { metadata: { annotations: { 'test/touched': 'yes' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
  };
  const { router } = await startLoop(
    t,
    ns,
    time,
    { SELFHEAL_ALERTMANAGER_URL: am.url, SELFHEAL_NOTIFY_WEBHOOK_URL: hook.url },
    touch,
  );
  // Each time the failure shows again on a pod that is there, past the time its last step had to be verified.
  const again = async () => {
    const [pod] = await podsOf(kc, ns, 'web');
    const shape = {
      pod: pod?.metadata?.name as string,
      fingerprint: fingerprint(),
      startsAt: secondsAgo(30, time),
    };
    return notify(router, 'HighErrorRate', ns, [shape]);
  };

  const steps: Array<Record<string, unknown> | undefined> = [];
  for (let i = 0; i < 4; i++) {
    conflictOnce = i === 3;
    steps.push((await again()).body.results[0]);
    time.advance(700);
  }
  t.false(conflictOnce, 'the breaker was written after a conflict');
  t.like(steps[0], { outcome: 'accepted', result: { outcome: 'applied', reason: 'restarted' } });
  t.like(steps[1], {
    outcome: 'accepted',
    escalatedTo: ['redeploy'],
    result: { outcome: 'applied', reason: 'restarted' },
  });
  t.like(steps[2], {
    outcome: 'accepted',
    escalatedTo: ['scale'],
    result: { outcome: 'applied', reason: 'scaled' },
  });
  t.like(steps[3], { outcome: 'accepted', result: { outcome: 'skipped', reason: 'breaker-opened' } });
  t.regex(
    String((steps[3]?.result as { message?: string } | undefined)?.message),
    /kubectl annotate deployment web -n \S+ selfheal\.dev\/breaker-/,
  );

  const breaker = readBreaker(await annotations(kc, ns));
  t.like(breaker, {
    reason: 'chain-exhausted',
    alertname: 'HighErrorRate',
    notified: { channels: ['alertmanager', 'webhook'] },
  });
  t.deepEqual(
    breaker?.steps.map((s) => s.action),
    ['restart-pod', 'redeploy', 'scale'],
  );
  // The human's alert is in Alertmanager's API, with the workload and the history; the webhook got one message.
  const [paged] = await eventually('SelfhealEscalation in Alertmanager', async () => {
    const alerts = (await (await fetch(`${am.url}/api/v2/alerts`)).json()) as Array<{
      labels: Record<string, string>;
      annotations: Record<string, string>;
      status: { state: string };
    }>;
    const found = alerts.filter((a) => a.labels.alertname === 'SelfhealEscalation');
    return found.length > 0 && found;
  });
  t.like(paged, {
    labels: {
      namespace: ns,
      deployment: 'web',
      source_alertname: 'HighErrorRate',
      reason: 'chain-exhausted',
    },
    status: { state: 'active' },
  });
  t.false('action' in (paged?.labels ?? {}), 'never routed back to selfheal');
  t.regex(paged?.annotations.description ?? '', /restart-pod[\s\S]*redeploy[\s\S]*scale/);
  t.is(hook.received.length, 1);
  t.regex(hook.received[0]?.text ?? '', /selfheal stopped acting on Deployment .*\/web for HighErrorRate/);

  // While it is open, nothing is done and nobody is told twice.
  const held = (await again()).body.results[0];
  t.like(held, { outcome: 'accepted', result: { outcome: 'skipped', reason: 'breaker-open' } });
  t.is(hook.received.length, 1);
  const replicas = (
    await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: ns, name: 'web' })
  ).spec?.replicas;
  t.is(replicas, 3, 'scaled once, then nothing');
  const seen = await reasons(kc, ns);
  for (const reason of ['Escalated', 'BreakerOpened', 'BreakerOpen']) t.true(seen.includes(reason), reason);
  const metrics = await registry.metrics();
  t.is(metric(metrics, 'selfheal_breaker_open', { namespace: ns, workload: `${ns}/web` }), 1);
  t.is(
    metric(metrics, 'selfheal_escalations_total', {
      alertname: 'HighErrorRate',
      from: 'scale',
      to: 'notify',
    }),
    1,
  );

  // A person fixes the release (its pods become Ready) and clears the breaker with the documented command; the next
  // alert is acted on again, as a new episode. (Until then the pods the loop left unready decide which pod restart-pod
  // may take: a ready one only while enough others are available.)
  await rolledOut(kc, ns, 'web', 3);
  await run(cluster.binaries.kubectl, [
    `--kubeconfig=${cluster.kubeconfigPath}`,
    'annotate',
    'deployment',
    'web',
    '-n',
    ns,
    'selfheal.dev/breaker-',
  ]);
  const rearmed = (await again()).body.results[0];
  t.like(rearmed, { outcome: 'accepted', result: { outcome: 'applied', reason: 'restarted' } });
  t.is(
    metric(await registry.metrics(), 'selfheal_breaker_open', { namespace: ns, workload: `${ns}/web` }),
    0,
  );
});
