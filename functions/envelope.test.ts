// The CloudEvents envelope over HTTP, against actions started under faas-js-runtime with their own ServiceAccount
// on the real control plane: an event without id, source or a known type, with a specversion other than 1.0, or
// without a content type is answered 400 with the problems and changes nothing; exactly-once holds for the
// structured events the cloudevents SDK would have given an invented id. The router still takes Alertmanager's JSON.
// A Knative dead letter passes whatever its type and is recorded, never acted on.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import { useNamespace } from '../test/helpers/cluster.ts';
import { loadRouterConfig } from './lib/config.ts';
import { readLedger } from './lib/ledger.ts';
import { createLogger } from './lib/log.ts';
import { startFunction } from './lib/runtime.ts';
import { restartPod } from './restart-pod/restart-pod.ts';
import { routerFunction } from './router/index.ts';
import { scale } from './scale/scale.ts';
import { applyRbac, createDeployment, eventsAbout, startAction, waitForPods } from './test-helpers.ts';

// These calls carry no token: the platform is said to protect the hop (what the Knative overlay does).
const PLATFORM_AUTH = { SELFHEAL_ACTION_AUTH: 'platform' };

type Answer = { status: number; body: Record<string, unknown>; text: string };

// Bytes, not a string: fetch adds `content-type: text/plain` to a string body that has none.
async function post(url: string, headers: Record<string, string>, body: string): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', headers, body: Buffer.from(body) });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), text };
}

// A 400 that says what is wrong in JSON, never a stack trace.
function assertRejected(t: ExecutionContext, answer: Answer, problem: RegExp, label = ''): void {
  t.is(answer.status, 400, `${label}: ${answer.text}`);
  t.is(answer.body.kind, 'invalid', label);
  t.regex(String(answer.body.error), problem, label);
  t.true(Array.isArray(answer.body.problems), label);
  t.notRegex(answer.text, /\n\s+at |\.ts:\d+/, `${label}: no stack trace`);
}

// restart-pod, started for a namespace of its own that holds one opted-in Deployment with its one pod.
async function restartPodOfOne(t: ExecutionContext, prefix: string) {
  const { name: ns, kc } = await useNamespace(t, prefix);
  await applyRbac(kc, ns);
  await createDeployment(kc, ns, 'web', { replicas: 1 });
  const [pod] = await waitForPods(kc, ns, 'web', 1);
  const name = pod?.metadata?.name as string;
  const url = await startAction(t, 'restart-pod', restartPod, ns, { env: PLATFORM_AUTH });
  return { ns, kc, pod, name, url };
}

// The pod is the one there was, and not being deleted.
async function assertPodStays(t: ExecutionContext, kc: KubeConfig, pod: V1Pod | undefined): Promise<void> {
  const { namespace = '', name = '' } = pod?.metadata ?? {};
  const after = await kc.makeApiClient(CoreV1Api).readNamespacedPod({ namespace, name });
  t.is(after.metadata?.uid, pod?.metadata?.uid);
  t.falsy(after.metadata?.deletionTimestamp, 'the pod was not deleted');
}

const scaleData = (namespace: string) =>
  ({ target: { namespace, kind: 'Deployment', name: 'api' }, params: { step: 2 } }) as const;

test('an id-less structured scale event is refused every time and scales nothing', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'envelope-scale');
  await applyRbac(kc, ns);
  await createDeployment(kc, ns, 'api', { replicas: 1 });
  const url = await startAction(t, 'scale', scale, ns, { env: PLATFORM_AUTH });
  const apps = kc.makeApiClient(AppsV1Api);

  const event = JSON.stringify({
    specversion: '1.0',
    source: 'test/storm',
    type: 'dev.selfheal.action.scale',
    datacontenttype: 'application/json',
    data: scaleData(ns),
  });
  for (const attempt of [1, 2]) {
    const answer = await post(url, { 'content-type': 'application/cloudevents+json' }, event);
    assertRejected(t, answer, /^invalid structured-mode CloudEvent: id: required/);
    t.is(
      (await apps.readNamespacedDeploymentScale({ namespace: ns, name: 'api' })).spec?.replicas,
      1,
      `attempt ${attempt}`,
    );
  }
  const deployment = await apps.readNamespacedDeployment({ namespace: ns, name: 'api' });
  t.deepEqual(readLedger(deployment.metadata?.annotations), { last: undefined, history: [] });
  t.deepEqual(await eventsAbout(kc, ns, 'api'), [], 'no decision was taken, so none is recorded');

  // The same event with an id goes through, once.
  const withId = JSON.stringify({ ...JSON.parse(event), id: 'storm-1' });
  const applied = await post(url, { 'content-type': 'application/cloudevents+json' }, withId);
  t.is(applied.status, 200, applied.text);
  const again = await post(url, { 'content-type': 'application/cloudevents+json' }, withId);
  t.is(again.status, 200, again.text);
  t.is((await apps.readNamespacedDeploymentScale({ namespace: ns, name: 'api' })).spec?.replicas, 3);
});

test('binary and structured events without source, of an unknown type, of specversion 9.9 or without a content type are refused; the pod stays', async (t) => {
  const { ns, kc, pod, name, url } = await restartPodOfOne(t, 'envelope-restart');
  const data = JSON.stringify({ target: { namespace: ns, kind: 'Pod', name } });
  const binary = {
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-id': 'envelope-1',
    'ce-source': 'test/envelope',
    'ce-type': 'dev.selfheal.action.restart-pod',
  };
  const without = (header: keyof typeof binary) =>
    Object.fromEntries(Object.entries(binary).filter(([h]) => h !== header));
  const structured = (attributes: Record<string, unknown>) =>
    JSON.stringify({
      specversion: '1.0',
      id: 'envelope-2',
      source: 'test/envelope',
      type: 'dev.selfheal.action.restart-pod',
      data: JSON.parse(data),
      ...attributes,
    });
  const cases: Array<[string, Record<string, string>, string, RegExp]> = [
    [
      'binary, specversion 9.9',
      { ...binary, 'ce-specversion': '9.9' },
      data,
      /ce-specversion: 9\.9 is not supported, only 1\.0/,
    ],
    ['binary, no source', without('ce-source'), data, /ce-source: required/],
    ['binary, no id', without('ce-id'), data, /ce-id: required/],
    [
      'binary, unknown type',
      { ...binary, 'ce-type': 'com.example.cleanup' },
      data,
      /ce-type: unknown type com\.example\.cleanup/,
    ],
    ['binary, empty content-type', { ...binary, 'content-type': '' }, data, /missing or empty content-type/],
    ['binary, no content-type', without('content-type'), data, /missing or empty content-type/],
    [
      'structured, specversion 9.9',
      { 'content-type': 'application/cloudevents+json' },
      structured({ specversion: '9.9' }),
      /specversion: 9\.9 is not supported/,
    ],
    [
      'structured, no source',
      { 'content-type': 'application/cloudevents+json' },
      structured({ source: undefined }),
      /source: required/,
    ],
    [
      'structured, unknown type',
      { 'content-type': 'application/cloudevents+json' },
      structured({ type: 'dev.selfheal.result' }),
      /type: unknown type dev\.selfheal\.result/,
    ],
  ];
  for (const [label, headers, body, problem] of cases) {
    assertRejected(t, await post(url, headers, body), problem, label);
  }
  await assertPodStays(t, kc, pod);
  t.deepEqual(await eventsAbout(kc, ns, name), []);
});

test('the router takes Alertmanager 0.25 and 0.35 JSON as sent, and its CloudEvents pass the actions’ check', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'envelope-router');
  await applyRbac(kc, ns);
  const actionUrl = await startAction(t, 'restart-pod', restartPod, ns, {
    env: { SELFHEAL_ACTION_TOKEN: 'between-functions' },
  });
  const config = loadRouterConfig({
    SELFHEAL_WEBHOOK_TOKEN: 'router-token',
    SELFHEAL_ACTION_TOKEN: 'between-functions',
    SELFHEAL_SINK: 'direct',
    SELFHEAL_ACTION_URLS: `restart-pod=${actionUrl},redeploy=${actionUrl},scale=${actionUrl}`,
    SELFHEAL_NAMESPACES: ns,
  });
  const log = createLogger('router', 'silent');
  const router = routerFunction({ config: () => config, log });
  const running = await startFunction(router, {
    name: 'router',
    host: '127.0.0.1',
    port: 0,
    bodyLimit: config.maxBodyBytes,
    log,
  });
  t.teardown(async () => {
    await running.close();
    await router.shutdown();
  });
  for (const version of ['0.25.0', '0.35.0']) {
    const dir = join(import.meta.dirname, 'lib', 'fixtures', `alertmanager-${version}`);
    const { 'content-length': _length, ...headers } = JSON.parse(
      readFileSync(join(dir, 'firing.headers.json'), 'utf8'),
    );
    const webhook = JSON.parse(readFileSync(join(dir, 'firing.json'), 'utf8'));
    for (const alert of webhook.alerts) alert.labels.namespace = ns;
    const answer = await post(
      running.url,
      { ...headers, authorization: 'Bearer router-token' },
      JSON.stringify(webhook),
    );
    t.is(answer.status, 200, answer.text);
    // Delivered as a binary-mode CloudEvent; the pod does not exist, which restart-pod says in its result.
    t.like((answer.body.results as unknown[])[0], {
      outcome: 'accepted',
      result: { outcome: 'skipped', reason: 'pod-gone' },
    });
  }
});

test('an id that is not one short printable value, a form post, or an extension name the SDK refuses: 4xx saying why, nothing changes, no web page may read the answer', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'envelope-edges');
  await applyRbac(kc, ns);
  await createDeployment(kc, ns, 'api', { replicas: 1 });
  const url = await startAction(t, 'scale', scale, ns, { env: PLATFORM_AUTH });
  const apps = kc.makeApiClient(AppsV1Api);
  const binary = {
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-source': 'test/edges',
    'ce-type': 'dev.selfheal.action.scale',
  };
  const data = JSON.stringify(scaleData(ns));

  // Two ce-id headers arrive joined ("e1, e2"); an id of 300 characters would not fit the ledger.
  const twoIds = new Headers({ ...binary, 'ce-id': 'e1' });
  twoIds.append('ce-id', 'e2');
  const joined = await fetch(url, { method: 'POST', headers: twoIds, body: Buffer.from(data) });
  const joinedText = await joined.text();
  assertRejected(
    t,
    { status: joined.status, body: JSON.parse(joinedText), text: joinedText },
    /ce-id: must be 1-128/,
  );
  assertRejected(t, await post(url, { ...binary, 'ce-id': 'x'.repeat(300) }, data), /ce-id: must be 1-128/);

  // A form post (what a web page can send without asking) is not read at all.
  const form = await post(
    url,
    { 'content-type': 'application/x-www-form-urlencoded' },
    `namespace=${ns}&deployment=api`,
  );
  t.is(form.status, 415, form.text);
  t.like(form.body, { kind: 'unsupported-media-type' });
  t.regex(String(form.body.error), /application\/x-www-form-urlencoded is not accepted/);

  // The SDK's own validation (an extension name with an underscore) says what it refused.
  const badExtension = await post(url, { ...binary, 'ce-id': 'e3', 'ce-bad_ext': 'x' }, data);
  assertRejected(t, badExtension, /invalid CloudEvent: invalid attribute name: "bad_ext"/);
  t.is(badExtension.body.reason, 'invalid-cloudevent');

  // No answer lets a browser page read it, the preflight of a cross-origin JSON post included.
  const preflight = await fetch(url, {
    method: 'OPTIONS',
    headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
  });
  await preflight.arrayBuffer();
  t.is(preflight.headers.get('access-control-allow-origin'), null);
  const plain = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: 'http://evil.example' },
    body: Buffer.from(JSON.stringify({ namespace: ns, deployment: 'api', dryRun: true })),
  });
  await plain.arrayBuffer();
  t.is(plain.status, 200);
  t.is(plain.headers.get('access-control-allow-origin'), null);

  t.is((await apps.readNamespacedDeploymentScale({ namespace: ns, name: 'api' })).spec?.replicas, 1);
});

// What Knative's Broker adds to an event it gives up on (knative.dev/eventing pkg/kncloudevents/attributes/
// knative_error.go): where it failed, the last status, the start of the last answer in base64.
const knativeError = (destination: string) => ({
  'ce-knativeerrordest': destination,
  'ce-knativeerrorcode': '503',
  'ce-knativeerrordata': Buffer.from('{"error":"unavailable"}').toString('base64'),
});

test("a Broker's dead letter of a type no action handles is recorded, 202, and nothing is acted on", async (t) => {
  const { ns, kc, pod, name, url } = await restartPodOfOne(t, 'envelope-dead-letter');

  // A real result of restart-pod (a dry run: the pod stays), as a user's Trigger on dev.selfheal.result would get it.
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': 'dead-letter-1',
      'ce-source': 'selfheal/router',
      'ce-type': 'dev.selfheal.action.restart-pod',
      'ce-selfhealdryrun': 'true',
    },
    body: Buffer.from(JSON.stringify({ target: { namespace: ns, kind: 'Pod', name } })),
  });
  const result = {
    headers: Object.fromEntries(
      [...res.headers].filter(([h]) => h.startsWith('ce-') || h === 'content-type'),
    ),
    body: await res.text(),
  };
  t.is(res.status, 200, result.body);
  t.is(result.headers['ce-type'], 'dev.selfheal.result');
  t.like(JSON.parse(result.body), { outcome: 'dry-run' });

  // Its dead letter: the same event with Knative's extensions, to the dead-letter sink.
  const letter = await post(
    url,
    { ...result.headers, ...knativeError(`http://results.${ns}.svc.cluster.local`) },
    result.body,
  );
  t.is(letter.status, 202, letter.text);
  t.like(letter.body, { outcome: 'recorded', reason: 'dead-letter', type: 'dev.selfheal.result' });
  const undelivered = (await eventsAbout(kc, ns, name)).filter((e) => e.reason === 'Undelivered');
  t.is(undelivered.length, 1, 'recorded on the pod the result was about');
  t.regex(undelivered[0]?.message ?? '', /^dev\.selfheal\.result .* was not delivered to http:\/\/results\./);

  // Someone else's event (a PingSource's, as Knative sends it) about no workload: recorded in the log only.
  const ping = {
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-id': 'a4b9a5c0-5d3b-4e0e-9a55-4c1c5a3ad1f2',
    'ce-source': `/apis/v1/namespaces/${ns}/pingsources/test-ping-source`,
    'ce-type': 'dev.knative.sources.ping',
    'ce-time': '2026-11-26T10:10:00.000Z',
  };
  const pingData = JSON.stringify({ message: 'Hello world!' });
  const foreign = await post(
    url,
    { ...ping, ...knativeError(`http://event-display.${ns}.svc.cluster.local`) },
    pingData,
  );
  t.is(foreign.status, 202, foreign.text);
  t.like(foreign.body, { outcome: 'recorded', reason: 'dead-letter', type: 'dev.knative.sources.ping' });
  // Without knativeerrordest it is an event of a type no action handles.
  assertRejected(t, await post(url, ping, pingData), /ce-type: unknown type dev\.knative\.sources\.ping/);

  await assertPodStays(t, kc, pod);
  const { items } = await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: ns });
  t.is(items.filter((e) => e.reason === 'Undelivered').length, 1, 'the foreign event recorded no Event');
});
