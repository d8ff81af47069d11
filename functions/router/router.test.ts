// The router over real HTTP under faas-js-runtime (127.0.0.1, port 0), driven by captured Alertmanager
// payloads; the actions are small HTTP servers that answer as a real action would (200, 4xx, 503, slow).
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { freePort } from '../../devkit/ports.ts';
import { type Env, loadRouterConfig } from '../lib/config.ts';
import { eventId } from '../lib/events.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { startFunction } from '../lib/runtime.ts';
import { routerFunction } from './index.ts';

const TOKEN = 'test-webhook-token';
const fixtures = join(import.meta.dirname, '..', 'lib', 'fixtures');
const versions = readdirSync(fixtures).filter((d) => /^alertmanager-\d/.test(d));
const raw = (version: string, name: string) => readFileSync(join(fixtures, version, `${name}.json`), 'utf8');
const silent = createLogger('router', 'silent');

type Received = { headers: IncomingHttpHeaders; body: string };
type Sink = { url: string; received: Received[]; maxInFlight: () => number };

// The next step of the chain after each action, as an action that escalates hands it on.
const NEXT = { 'restart-pod': 'redeploy', redeploy: 'scale', scale: 'restart-pod' } as const;

// An action stand-in: answers by the target's name prefix (ok-, reject-, fail-, slow-), 200 otherwise. escalate-:
// restart-pod hands on to redeploy (the reply is the next step's structured CloudEvent); forever-: every step hands
// on to the next, without end.
async function startSink(t: ExecutionContext): Promise<Sink> {
  const received: Received[] = [];
  let inFlight = 0;
  let max = 0;
  const server: Server = createServer(async (req, res) => {
    inFlight++;
    max = Math.max(max, inFlight);
    let body = '';
    for await (const chunk of req) body += chunk;
    received.push({ headers: req.headers, body });
    // Binary mode from the router; structured mode when the router passes on a reply.
    const structured = String(req.headers['content-type']).startsWith('application/cloudevents+json');
    const attributes = structured
      ? (JSON.parse(body) as { type: string; subject: string; id: string })
      : {
          type: String(req.headers['ce-type']),
          subject: String(req.headers['ce-subject'] ?? ''),
          id: String(req.headers['ce-id']),
        };
    const subject = attributes.subject;
    const name = subject.split('/')[2] ?? '';
    const reply = (status: number, payload: object) => {
      inFlight--;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    };
    const action = attributes.type.replace('dev.selfheal.action.', '') as keyof typeof NEXT;
    if (
      (name.startsWith('escalate-') && action === 'restart-pod') ||
      (name.startsWith('forever-') && action in NEXT)
    ) {
      inFlight--;
      const next = {
        specversion: '1.0',
        id: `${attributes.id}-next`,
        type: `dev.selfheal.action.${NEXT[action]}`,
        source: `selfheal/${action}`,
        subject,
        datacontenttype: 'application/json',
        data: { target: { namespace: 'demo', kind: 'Pod', name } },
      };
      res
        .writeHead(200, { 'content-type': 'application/cloudevents+json; charset=utf-8' })
        .end(JSON.stringify(next));
      return;
    }
    if (name.startsWith('reject-'))
      return reply(422, {
        error: 'Deployment demo/web does not carry the label selfheal.dev/enabled: "true"',
        reason: 'not-opted-in',
      });
    if (name.startsWith('fail-'))
      return reply(503, { error: 'API server unavailable', reason: 'unavailable' });
    if (name.startsWith('slow-')) {
      await new Promise((r) => setTimeout(r, 3000));
      if (!res.destroyed) return reply(200, { outcome: 'applied', reason: 'restarted', message: 'late' });
      inFlight--;
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
    reply(200, { outcome: 'applied', reason: 'restarted', message: `acted on ${subject}` });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    received,
    maxInFlight: () => max,
  };
}

async function startRouter(
  t: ExecutionContext,
  actionUrl: string,
  env: Env = {},
  log: Logger = silent,
): Promise<string> {
  const config = loadRouterConfig({
    SELFHEAL_WEBHOOK_TOKEN: TOKEN,
    SELFHEAL_SINK: 'direct',
    SELFHEAL_ACTION_URLS: `restart-pod=${actionUrl},redeploy=${actionUrl},scale=${actionUrl}`,
    SELFHEAL_DELIVERY_TIMEOUT_MS: '30000',
    SELFHEAL_NAMESPACES: '*',
    SELFHEAL_ACTION_AUTH: 'platform',
    // Not what these tests are about (storm.test.ts is): room for a busy machine.
    SELFHEAL_ANSWER_DEADLINE_MS: '60000',
    ...env,
  });
  const mod = routerFunction({ config: () => config, log });
  const running = await startFunction(mod, {
    name: 'router',
    host: '127.0.0.1',
    port: 0,
    bodyLimit: config.maxBodyBytes,
    log: silent,
  });
  t.teardown(async () => {
    await running.close();
    await mod.shutdown();
  });
  t.regex(running.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  return running.url;
}

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
    body,
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`the router answered ${res.status} with a body that is not JSON: ${text}`);
  }
  return { status: res.status, json, contentType: res.headers.get('content-type') };
}

// A captured payload with its alerts' labels changed (still a real Alertmanager payload otherwise).
function relabel(
  version: string,
  name: string,
  change: (labels: Record<string, string>, i: number) => void,
): string {
  const payload = JSON.parse(raw(version, name));
  for (const [i, a] of (payload.alerts as Array<{ labels: Record<string, string> }>).entries())
    change(a.labels, i);
  return JSON.stringify(payload);
}

for (const version of versions) {
  test(`${version}: a firing alert is delivered as a binary CloudEvent and answered 200 with its result`, async (t) => {
    const sink = await startSink(t);
    const url = await startRouter(t, sink.url);
    const payload = raw(version, 'firing');
    const { status, json } = await post(url, payload);
    t.is(status, 200);
    t.is(json.status, 'ok');
    const [result] = json.results as Array<Record<string, unknown>>;
    const alert = JSON.parse(payload).alerts[0];
    t.like(result, {
      alertname: 'HighMemoryUsage',
      outcome: 'accepted',
      action: 'restart-pod',
      target: `demo/Pod/${alert.labels.pod}`,
      eventId: eventId(alert.fingerprint, alert.startsAt, 'restart-pod'),
      result: { outcome: 'applied' },
    });
    t.is(sink.received.length, 1);
    const [delivered] = sink.received;
    t.is(delivered?.headers['ce-type'], 'dev.selfheal.action.restart-pod');
    t.is(delivered?.headers['ce-id'], result?.eventId as string);
    t.is(delivered?.headers['ce-specversion'], '1.0');
    t.is(delivered?.headers['ce-source'], 'selfheal/router');
    t.is(delivered?.headers.authorization, undefined);
    const data = JSON.parse(delivered?.body ?? '{}');
    t.deepEqual(data.target, { namespace: 'demo', kind: 'Pod', name: alert.labels.pod });
    t.is(data.alert.fingerprint, alert.fingerprint);
  });

  test(`${version}: the same notification delivered twice carries the same event ids`, async (t) => {
    const sink = await startSink(t);
    const url = await startRouter(t, sink.url);
    await post(url, raw(version, 'multi'));
    await post(url, raw(version, 'multi'));
    const ids = sink.received.map((r) => r.headers['ce-id']);
    t.is(ids.length, 6);
    t.deepEqual(ids.slice(0, 3).sort(), ids.slice(3).sort());
    t.is(new Set(ids).size, 3);
  });

  test(`${version}: a resolved alert is told to its action as a resolution, not an action`, async (t) => {
    const sink = await startSink(t);
    const url = await startRouter(t, sink.url);
    const { status, json } = await post(url, raw(version, 'resolved'));
    t.is(status, 200);
    t.like((json.results as unknown[])[0], {
      status: 'resolved',
      outcome: 'resolved',
      action: 'restart-pod',
    });
    t.is(sink.received.length, 1);
    t.is(sink.received[0]?.headers['ce-type'], 'dev.selfheal.resolved');
  });
}

const version = versions[0] as string;

test('deliveries run in parallel, bounded by SELFHEAL_DELIVERY_CONCURRENCY', async (t) => {
  const sink = await startSink(t);
  const url = await startRouter(t, sink.url, { SELFHEAL_DELIVERY_CONCURRENCY: '2' });
  const payload = JSON.parse(raw(version, 'multi'));
  payload.alerts = [
    ...payload.alerts,
    ...payload.alerts.map((a: { fingerprint: string }) => ({
      ...a,
      fingerprint: `f${a.fingerprint.slice(1)}`,
    })),
  ];
  const { status } = await post(url, JSON.stringify(payload));
  t.is(status, 200);
  t.is(sink.received.length, 6);
  t.is(sink.maxInFlight(), 2);
});

test('each alert’s line in the log says how long from the webhook’s arrival to its action’s answer', async (t) => {
  const sink = await startSink(t);
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  );
  const url = await startRouter(t, sink.url, { SELFHEAL_DELIVERY_CONCURRENCY: '1' }, log);
  const started = performance.now();
  const { status } = await post(url, raw(version, 'multi'));
  const elapsed = performance.now() - started;
  t.is(status, 200);
  const delivered = lines.filter((l) => l.outcome === 'accepted');
  t.is(delivered.length, 3);
  // The sink answers each after 20 ms, one at a time: every alert waited for its own and those before it.
  const ms = delivered.map((l) => l.ms as number).sort((a, b) => a - b);
  ms.forEach((m, i) => {
    t.true(m >= 20 * (i + 1) - 1 && m <= elapsed + 1, `${m} ms`);
  });
});

test('an action that answers 4xx makes its alert rejected, and the notification still succeeds', async (t) => {
  const sink = await startSink(t);
  const url = await startRouter(t, sink.url);
  const body = relabel(version, 'multi', (labels, i) => {
    if (i === 0) labels.pod = 'reject-web';
  });
  const { status, json } = await post(url, body);
  t.is(status, 200);
  const results = json.results as Array<Record<string, unknown>>;
  t.like(results[0], { outcome: 'rejected', httpStatus: 422, reason: 'not-opted-in' });
  t.regex(String(results[0]?.message), /selfheal\.dev\/enabled/);
  t.like(results[1], { outcome: 'accepted' });
});

test('an action that answers 503 makes the router answer 503 so Alertmanager retries', async (t) => {
  const sink = await startSink(t);
  const url = await startRouter(t, sink.url);
  const body = relabel(version, 'multi', (labels, i) => {
    if (i === 1) labels.pod = 'fail-web';
  });
  const { status, json } = await post(url, body);
  t.is(status, 503);
  t.is(json.status, 'retry');
  const results = json.results as Array<Record<string, unknown>>;
  t.like(results[1], { outcome: 'failed', httpStatus: 503 });
  t.is(results.filter((r) => r.outcome === 'accepted').length, 2);
});

test('an action that escalates answers with the next step: the router delivers it there and says so', async (t) => {
  const sink = await startSink(t);
  const url = await startRouter(t, sink.url);
  const { status, json } = await post(
    url,
    relabel(version, 'firing', (labels) => (labels.pod = 'escalate-web')),
  );
  t.is(status, 200);
  t.like((json.results as unknown[])[0], {
    outcome: 'accepted',
    action: 'restart-pod',
    escalatedTo: ['redeploy'],
    result: { outcome: 'applied' },
  });
  t.is(sink.received.length, 2);
  // The reply goes on as it came: the same structured CloudEvent, with the router's credentials.
  const [, handedOn] = sink.received;
  t.regex(String(handedOn?.headers['content-type']), /^application\/cloudevents\+json/);
  t.is(JSON.parse(handedOn?.body ?? '{}').type, 'dev.selfheal.action.redeploy');
});

test('an escalation that never ends is cut after a bounded number of hops, and not retried', async (t) => {
  const sink = await startSink(t);
  const url = await startRouter(t, sink.url);
  const { status, json } = await post(
    url,
    relabel(version, 'firing', (labels) => (labels.pod = 'forever-web')),
  );
  t.is(status, 200);
  const [result] = json.results as Array<Record<string, unknown>>;
  t.like(result, { outcome: 'rejected', reason: 'too-many-hops', httpStatus: 508 });
  // Each hop handed on was delivered; the last one handed on was not.
  t.is((result?.escalatedTo as string[] | undefined)?.length, sink.received.length - 1);
  t.is(sink.received.length, 5);
});

test('a retry of the notification does not send again what an earlier attempt escalated, and reports the escalation', async (t) => {
  const sink = await startSink(t);
  const url = await startRouter(t, sink.url);
  const body = relabel(version, 'multi', (labels, i) => {
    if (i === 0) labels.pod = 'escalate-web';
    if (i === 1) labels.pod = 'fail-web';
  });
  const first = await post(url, body);
  t.is(first.status, 503);
  const sent = sink.received.length;
  t.is(sent, 4, 'the escalated alert twice (restart-pod, redeploy), the others once');
  const retry = await post(url, body);
  t.is(retry.status, 503);
  const [escalated, failed] = retry.json.results as Array<Record<string, unknown>>;
  t.like(escalated, { outcome: 'accepted', earlierAttempt: true, escalatedTo: ['redeploy'] });
  t.like(failed, { outcome: 'failed', httpStatus: 503 });
  t.is(sink.received.length, sent + 1, 'only the failed alert is sent again');
});

test('an action that does not answer in time makes the router answer 503', async (t) => {
  const sink = await startSink(t);
  const url = await startRouter(t, sink.url, { SELFHEAL_DELIVERY_TIMEOUT_MS: '300' });
  const { status, json } = await post(
    url,
    relabel(version, 'firing', (labels) => (labels.pod = 'slow-web')),
  );
  t.is(status, 503);
  // The router gave up at the delivery timeout, not when the action answered (3 s later).
  t.like((json.results as unknown[])[0], {
    outcome: 'failed',
    reason: 'timeout',
    message: 'no answer within 300 ms',
  });
});

test('an action that refuses connections makes the router answer 503', async (t) => {
  const deadUrl = `http://127.0.0.1:${await freePort()}/`;
  const url = await startRouter(t, deadUrl);
  const { status, json } = await post(url, raw(version, 'firing'));
  t.is(status, 503);
  t.like((json.results as unknown[])[0], { outcome: 'failed', reason: 'unreachable' });
  t.regex(String((json.results as Array<{ message: string }>)[0]?.message), /ECONNREFUSED/);
});

test('alerts that can never be acted on are rejected with a reason, not retried', async (t) => {
  const sink = await startSink(t);
  const url = await startRouter(t, sink.url, { SELFHEAL_NAMESPACES: 'demo' });
  const body = relabel(version, 'multi', (labels, i) => {
    if (i === 0) labels.action = 'reboot-node';
    if (i === 1) delete labels.pod;
    if (i === 2) labels.namespace = 'kube-system';
  });
  const { status, json } = await post(url, body);
  t.is(status, 200);
  const reasons = (json.results as Array<{ outcome: string; reason: string }>).map((r) => [
    r.outcome,
    r.reason,
  ]);
  t.deepEqual(reasons, [
    ['rejected', 'unknown-action'],
    ['rejected', 'no-target'],
    ['rejected', 'namespace-not-allowed'],
  ]);
  t.is(sink.received.length, 0);
});

test('the bearer token is required and compared exactly', async (t) => {
  const sink = await startSink(t);
  const url = await startRouter(t, sink.url);
  const missing = await post(url, raw(version, 'firing'), { authorization: '' });
  t.is(missing.status, 401);
  t.regex(String(missing.json.error), /missing bearer token/);
  for (const authorization of [
    `Bearer ${TOKEN}x`,
    `Basic ${TOKEN}`,
    `Bearer ${TOKEN.slice(0, -1)}`,
    'Bearer',
  ]) {
    const wrong = await post(url, raw(version, 'firing'), { authorization });
    t.is(wrong.status, 401, authorization);
  }
  t.is((await post(url, raw(version, 'firing'), { authorization: `bearer ${TOKEN}` })).status, 200);
  t.is(sink.received.length, 1);
});

test('bad bodies get 4xx with a readable JSON message', async (t) => {
  const sink = await startSink(t);
  const url = await startRouter(t, sink.url, { SELFHEAL_MAX_BODY_BYTES: '4096' });
  const malformed = await post(url, '{"receiver": "selfheal", "alerts": [');
  t.is(malformed.status, 400);
  t.regex(String(malformed.json.error), /malformed JSON body/);
  t.like(malformed.json, { kind: 'invalid', reason: 'invalid' });
  t.regex(String((malformed.json.problems as string[] | undefined)?.[0]), /^body: not JSON/);

  const wrongTypes = JSON.parse(raw(version, 'firing'));
  wrongTypes.alerts[0].startsAt = 12;
  wrongTypes.alerts[0].labels.namespace = ['demo'];
  wrongTypes.status = 'burning';
  const invalid = await post(url, JSON.stringify(wrongTypes));
  t.is(invalid.status, 400);
  t.deepEqual((invalid.json.problems as string[]).map((p) => p.split(':')[0]).sort(), [
    'alerts.0.labels.namespace',
    'alerts.0.startsAt',
    'status',
  ]);

  // A webhook format other than the one the schema reads (version 4, Alertmanager 0.25 → current).
  const otherFormat = await post(
    url,
    JSON.stringify({ ...JSON.parse(raw(version, 'firing')), version: '5' }),
  );
  t.is(otherFormat.status, 400);
  t.like(otherFormat.json, { kind: 'invalid', reason: 'invalid' });
  t.deepEqual(otherFormat.json.problems, [
    'version: must be "4", the webhook format selfheal reads, not "5"',
  ]);

  const oversized = JSON.parse(raw(version, 'firing'));
  oversized.alerts[0].annotations.description = 'x'.repeat(8000);
  const big = await post(url, JSON.stringify(oversized));
  t.is(big.status, 413);
  t.regex(String(big.json.error), /exceeds the limit of 4096 bytes/);
  t.is(big.contentType, 'application/json; charset=utf-8');

  const unauthenticatedBig = await post(url, JSON.stringify(oversized), { authorization: '' });
  t.is(unauthenticatedBig.status, 401, 'authentication comes before reading the body');

  const text = await post(url, 'alertname=HighMemoryUsage', { 'content-type': 'text/plain' });
  t.is(text.status, 415);
  t.regex(String(text.json.error), /text\/plain is not accepted: send application\/json/);

  const empty = await post(url, '', {});
  t.is(empty.status, 400);
  t.deepEqual(empty.json.problems, ['body: empty, expected JSON']);

  const get = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.is(get.status, 405);
  t.is(sink.received.length, 0);
});

test('with SELFHEAL_ACTION_TOKEN the router authenticates to the actions', async (t) => {
  const sink = await startSink(t);
  const url = await startRouter(t, sink.url, { SELFHEAL_ACTION_TOKEN: 'action-secret' });
  t.is((await post(url, raw(version, 'firing'))).status, 200);
  t.is(sink.received[0]?.headers.authorization, 'Bearer action-secret');
});

test('health and metrics endpoints answer, with selfheal counters on /metrics', async (t) => {
  const sink = await startSink(t);
  const url = await startRouter(t, sink.url);
  await post(url, raw(version, 'mixed'));
  t.is((await fetch(`${url}/health/readiness`)).status, 200);
  t.is((await fetch(`${url}/health/liveness`)).status, 200);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  t.regex(metrics, /faas_invocations\{faas_name="router"/);
  t.regex(metrics, /selfheal_router_alerts_total\{status="firing",outcome="accepted"\} \d+/);
  t.regex(metrics, /selfheal_router_alerts_total\{status="resolved",outcome="resolved"\} \d+/);
});

test('an alert whose startsAt no CloudEvent can carry (past 9999) is rejected alone; the others are delivered', async (t) => {
  const sink = await startSink(t);
  const url = await startRouter(t, sink.url);
  const payload = JSON.parse(raw(version, 'multi'));
  payload.alerts[0].startsAt = '9999-12-31T23:59:59.999999999-23:59';
  const { status, json } = await post(url, JSON.stringify(payload));
  t.is(status, 200);
  const results = json.results as Array<{ outcome: string; reason?: string }>;
  t.like(results[0], { outcome: 'rejected', reason: 'invalid-alert' });
  t.true(results.slice(1).every((r) => r.outcome === 'accepted'));
  t.is(sink.received.length, payload.alerts.length - 1);
});

test('with SELFHEAL_DRY_RUN the router asks every action for a dry run, resolutions included', async (t) => {
  const sink = await startSink(t);
  const url = await startRouter(t, sink.url, { SELFHEAL_DRY_RUN: 'true' });
  for (const name of ['multi', 'resolved']) {
    const { status } = await post(url, raw(version, name));
    t.is(status, 200, name);
  }
  t.true(sink.received.some((r) => r.headers['ce-type'] === 'dev.selfheal.resolved'));
  t.true(sink.received.some((r) => r.headers['ce-type'] !== 'dev.selfheal.resolved'));
  for (const { headers } of sink.received)
    t.is(headers['ce-selfhealdryrun'], 'true', String(headers['ce-type']));
});
