// The router under an alert storm, over real HTTP under faas-js-runtime: notifications of 1,000 and 5,000 alerts
// cloned from a captured Alertmanager payload, actions that hang, an answer by the deadline whatever they do,
// retries that finish the work without redoing it, Alertmanager's truncation made visible.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { type Env, loadRouterConfig } from '../lib/config.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { startFunction } from '../lib/runtime.ts';
import { routerFunction } from './index.ts';
import { idOf, stormPayload } from './storm-payload.ts';

const TOKEN = 'storm-webhook-token';
const fixtures = join(import.meta.dirname, '..', 'lib', 'fixtures', 'alertmanager-0.35.0');
const captured = (name: string) => JSON.parse(readFileSync(join(fixtures, `${name}.json`), 'utf8'));
const silent = createLogger('router', 'silent');

type Mode = 'answer' | 'hang';
type Sink = {
  url: string;
  ids: string[];
  // How requests are answered from now on; `after` answers that many more, then switches to 'hang'.
  set: (mode: Mode, after?: number) => void;
  openSockets: () => number;
};

// An action stand-in that answers 200 at once or never answers at all (it reads the request and waits).
async function startSink(t: ExecutionContext): Promise<Sink> {
  const ids: string[] = [];
  let mode: Mode = 'answer';
  let budget = Number.POSITIVE_INFINITY;
  const sockets = new Set<Socket>();
  const server: Server = createServer(async (req, res) => {
    for await (const _ of req);
    ids.push(String(req.headers['ce-id']));
    if (mode === 'hang' || budget <= 0) return;
    budget--;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ outcome: 'applied', reason: 'restarted', message: 'acted' }));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    ids,
    set: (next, after) => {
      mode = next;
      budget = after ?? Number.POSITIVE_INFINITY;
    },
    openSockets: () => sockets.size,
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
    SELFHEAL_NAMESPACES: 'demo',
    // The stand-in actions take no token.
    SELFHEAL_ACTION_AUTH: 'platform',
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
  return running.url;
}

type Result = {
  outcome: string;
  reason?: string;
  message?: string;
  eventId: string;
  earlierAttempt?: boolean;
};
type Answer = {
  status: number;
  body: {
    status: string;
    deadline?: { ms: number; inFlight: number; notAttempted: number };
    truncatedAlerts: number;
    results: Result[];
  };
};

async function notify(url: string, body: string): Promise<Answer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body,
  });
  return { status: res.status, body: JSON.parse(await res.text()) };
}

test('actions that never answer: a 1,000-alert notification is answered 503 at the deadline, listing what was not delivered', async (t) => {
  const sink = await startSink(t);
  sink.set('hang');
  // Only the answer deadline can end this: the delivery timeout is far beyond it.
  const url = await startRouter(t, sink.url, {
    SELFHEAL_ANSWER_DEADLINE_MS: '1500',
    SELFHEAL_DELIVERY_TIMEOUT_MS: '120000',
  });
  const { body, alerts } = stormPayload(1000);
  const started = performance.now();
  const answer = await notify(url, body);
  const seconds = (performance.now() - started) / 1000;
  t.log(`answered ${answer.status} after ${seconds.toFixed(2)} s`);
  // Without the deadline the hung deliveries would hold the answer for at least their 120 s timeout.
  t.true(seconds < 60, 'answered long before any delivery could time out');

  t.is(answer.status, 503);
  t.is(answer.body.status, 'retry');
  t.deepEqual(answer.body.deadline, { ms: 1500, inFlight: 4, notAttempted: 996 });
  const { results } = answer.body;
  t.is(results.length, 1000);
  t.deepEqual(
    results.map((r) => r.eventId),
    alerts.map(idOf),
  );
  t.true(results.every((r) => r.outcome === 'failed' && r.reason === 'deadline'));
  t.is(results.filter((r) => /^no answer before/.test(r.message ?? '')).length, 4);
  t.is(results.filter((r) => /^not attempted before/.test(r.message ?? '')).length, 996);
  t.true(
    sink.ids.length <= 4,
    'at most four deliveries in flight (SELFHEAL_DELIVERY_CONCURRENCY), none started after',
  );
  // The abandoned deliveries are aborted, not left hanging until their own timeout.
  const closed = await waitFor(() => sink.openSockets() === 0);
  t.true(closed, 'the router closed its connections to the hung action');
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > until) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

test("Alertmanager's retries finish a storm the deadline cut, and what was accepted is not sent again", async (t) => {
  const sink = await startSink(t);
  const url = await startRouter(t, sink.url, { SELFHEAL_ANSWER_DEADLINE_MS: '3000' });
  const { body, alerts } = stormPayload(1000);
  const ids = alerts.map(idOf);

  // First attempt: the action answers 300 deliveries, then hangs; the deadline cuts the rest.
  sink.set('answer', 300);
  const first = await notify(url, body);
  t.is(first.status, 503);
  t.truthy(first.body.deadline);
  const accepted = new Set(first.body.results.filter((r) => r.outcome === 'accepted').map((r) => r.eventId));
  t.true(accepted.size > 0 && accepted.size <= 300);
  let abandoned = new Set(first.body.results.filter((r) => r.reason === 'deadline').map((r) => r.eventId));

  // Then the action works again, and Alertmanager retries the same notification until it is answered 200.
  sink.set('answer');
  const attempts: Answer[] = [first];
  while ((attempts.at(-1) as Answer).status !== 200 && attempts.length < 50) {
    const before = sink.ids.length;
    const answer = await notify(url, body);
    attempts.push(answer);
    const sent = sink.ids.slice(before);
    t.deepEqual(
      sent.filter((id) => accepted.has(id)),
      [],
      'nothing accepted on an earlier attempt is sent again',
    );
    t.deepEqual(
      answer.body.results.map((r) => r.eventId),
      ids,
      'the same event ids on every attempt',
    );
    for (const r of answer.body.results) {
      if (r.outcome === 'accepted' && !r.earlierAttempt) accepted.add(r.eventId);
      if (r.earlierAttempt) t.true(accepted.has(r.eventId));
    }
    abandoned = new Set([
      ...abandoned,
      ...answer.body.results.filter((r) => r.reason === 'deadline').map((r) => r.eventId),
    ]);
  }
  const last = attempts.at(-1) as Answer;
  t.log(`${attempts.length} attempts`);
  t.is(last.status, 200);
  t.true(last.body.results.every((r) => r.outcome === 'accepted'));
  t.deepEqual([...new Set(sink.ids)].sort(), [...ids].sort(), 'every alert delivered');
  // Only a delivery abandoned at a deadline reaches the action twice, with the same id: its ledger dedupes it.
  const counts = new Map<string, number>();
  for (const id of sink.ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
  t.true(twice.every((id) => abandoned.has(id)));

  // Another replica (no memory of these attempts) re-sends everything, with the very same event ids.
  const other = await startRouter(t, sink.url, { SELFHEAL_ANSWER_DEADLINE_MS: '60000' });
  const before = sink.ids.length;
  const again = await notify(other, body);
  t.is(again.status, 200);
  t.deepEqual(sink.ids.slice(before).sort(), [...ids].sort());
});

test('two attempts of the same notification at once split the work instead of sending it twice', async (t) => {
  const sink = await startSink(t);
  const url = await startRouter(t, sink.url, { SELFHEAL_ANSWER_DEADLINE_MS: '60000' });
  const { body, alerts } = stormPayload(400);
  // As when Alertmanager sends again while the router is still working on its earlier call.
  const [a, b] = await Promise.all([notify(url, body), notify(url, body)]);
  t.deepEqual(sink.ids.length, new Set(sink.ids).size, 'no event sent twice');
  t.deepEqual([...sink.ids].sort(), alerts.map(idOf).sort(), 'every alert sent once');
  for (const answer of [a, b]) {
    for (const r of answer.body.results) {
      if (r.outcome === 'failed') t.is(r.reason, 'concurrent');
    }
  }
  // The next attempt finds everything settled and sends nothing.
  const before = sink.ids.length;
  const again = await notify(url, body);
  t.is(again.status, 200);
  t.is(sink.ids.length, before);
  t.true(again.body.results.every((r) => r.earlierAttempt));
});

test('a 5,000-alert notification (over 5.6 MB) is accepted with the default body limit and delivered', async (t) => {
  const sink = await startSink(t);
  // The deadline is not what this test is about: on a busy machine 5,000 deliveries may take a while.
  const url = await startRouter(t, sink.url, {
    SELFHEAL_ANSWER_DEADLINE_MS: '120000',
    SELFHEAL_DELIVERY_CONCURRENCY: '16',
  });
  const { body, alerts } = stormPayload(5000);
  t.log(`payload ${(body.length / 1e6).toFixed(2)} MB`);
  t.true(body.length > 5.6e6);
  const answer = await notify(url, body);
  t.is(answer.status, 200);
  t.is(answer.body.results.length, 5000);
  t.true(answer.body.results.every((r) => r.outcome === 'accepted'));
  t.deepEqual([...new Set(sink.ids)].sort(), alerts.map(idOf).sort());
});

test('alerts Alertmanager truncated (max_alerts) are counted on /metrics and logged as a warning', async (t) => {
  const sink = await startSink(t);
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'info', formatters: { level: (label) => ({ level: label }) } },
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  );
  const url = await startRouter(t, sink.url, {}, log);
  const payload = captured('truncated');
  payload.receiver = 'selfheal-storm-truncated';
  payload.truncatedAlerts = 4321;
  const answer = await notify(url, JSON.stringify(payload));
  t.is(answer.status, 200);
  t.is(answer.body.truncatedAlerts, 4321);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  t.regex(metrics, /selfheal_router_truncated_alerts_total\{receiver="selfheal-storm-truncated"\} 4321\b/);
  const warning = lines.find((l) => l.truncatedAlerts === 4321);
  t.like(warning, { level: 'warn', receiver: 'selfheal-storm-truncated' });
  t.regex(String(warning?.msg), /max_alerts/);
});

// Serial: the counters are shared by every router of this process.
test.serial('undelivered alerts at the deadline are counted on /metrics', async (t) => {
  const sink = await startSink(t);
  sink.set('hang');
  const url = await startRouter(t, sink.url, {
    SELFHEAL_ANSWER_DEADLINE_MS: '500',
    SELFHEAL_DELIVERY_CONCURRENCY: '2',
  });
  const read = async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const count = (stage: string) =>
      Number(
        new RegExp(`selfheal_router_deadline_alerts_total\\{stage="${stage}"\\} (\\d+)`).exec(text)?.[1] ?? 0,
      );
    return { inFlight: count('in-flight'), notAttempted: count('not-attempted') };
  };
  const before = await read();
  t.is((await notify(url, stormPayload(10).body)).status, 503);
  const after = await read();
  t.is(after.inFlight - before.inFlight, 2);
  t.is(after.notAttempted - before.notAttempted, 8);
});
