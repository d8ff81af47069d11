// The runtime's bound on invocations in flight, over HTTP: the (N+1)th concurrent call is shed at once with 503 and
// Retry-After and counted; a slot comes back when a call ends, however it ends; refused calls take none. And its
// answers to bodies and CloudEvents it cannot take: a 400 that names the problems, before the function is called.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { SelfhealError } from './errors.ts';
import { createLogger } from './log.ts';
import { type FunctionModule, startFunction } from './runtime.ts';

type Gate = { entered: number; open: () => void; waitForEntered: (n: number) => Promise<void> };

// A function whose invocations wait until the gate opens, so a test controls how many are in flight.
function gatedFunction(): { mod: FunctionModule; gate: Gate } {
  let opened: () => void = () => {};
  const open = new Promise<void>((resolve) => {
    opened = resolve;
  });
  const waiters: Array<() => void> = [];
  const gate: Gate = {
    entered: 0,
    open: () => opened(),
    waitForEntered: (n) =>
      new Promise((resolve) => {
        const check = () => (gate.entered >= n ? resolve() : waiters.push(check));
        check();
      }),
  };
  const mod: FunctionModule = {
    handle: (async () => {
      gate.entered++;
      for (const waiter of waiters.splice(0)) waiter();
      await open;
      return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };
    }) as FunctionModule['handle'],
    // As the functions do (faas-js-runtime's default readiness answers 500 on a busy machine).
    readiness: (() => 'OK') as FunctionModule['readiness'],
    authorize: (headers) =>
      headers.authorization === 'Bearer ok' ? undefined : new SelfhealError('unauthorized', 'no token'),
  };
  return { mod, gate };
}

const JSON_HEADERS = { 'content-type': 'application/json', authorization: 'Bearer ok' };
const post = (url: string, init: RequestInit = {}) =>
  fetch(url, { method: 'POST', headers: JSON_HEADERS, body: '{}', ...init });

async function start(
  t: ExecutionContext,
  { mod, gate }: { mod: FunctionModule; gate: Gate },
  maxInflight: number,
) {
  const running = await startFunction(mod, {
    name: 'inflight-test',
    host: '127.0.0.1',
    port: 0,
    bodyLimit: 1_048_576,
    log: createLogger('inflight-test', 'silent'),
    maxInflight,
  });
  // Open first: closing waits for the calls in flight.
  t.teardown(() => {
    gate.open();
    return running.close();
  });
  return running.url;
}

async function shedCount(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^selfheal_invocations_shed_total (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

// Serial: the shed counter is the process's, and the other tests shed too.
test.serial(
  'the (N+1)th concurrent call gets 503 with Retry-After at once; the first N finish',
  async (t) => {
    const fn = gatedFunction();
    const { gate } = fn;
    const url = await start(t, fn, 2);
    const before = await shedCount(url);
    const first = [post(url), post(url)];
    await gate.waitForEntered(2);

    const started = performance.now();
    const shed = await post(url);
    const ms = performance.now() - started;
    t.is(shed.status, 503);
    t.is(shed.headers.get('retry-after'), '1');
    t.like(await shed.json(), { kind: 'unavailable', reason: 'overloaded' });
    t.true(ms < 1000, `answered in ${ms.toFixed(0)} ms, without waiting for a slot`);
    t.is(await shedCount(url), before + 1, 'counted in selfheal_invocations_shed_total');
    t.is(gate.entered, 2, 'the shed call never reached the function');

    // Health checks and metrics are not invocations: they answer while the function is full.
    t.is((await fetch(`${url}/health/readiness`)).status, 200);

    gate.open();
    for (const res of await Promise.all(first)) t.is(res.status, 200);
    t.is((await post(url)).status, 200, 'slots come back when calls end');
  },
);

test('a call abandoned by its client gives its slot back', async (t) => {
  const fn = gatedFunction();
  const { gate } = fn;
  const url = await start(t, fn, 1);
  const abort = new AbortController();
  const abandoned = post(url, { signal: abort.signal }).catch((err: Error) => err);
  await gate.waitForEntered(1);
  t.is((await post(url)).status, 503);
  abort.abort();
  t.true((await abandoned) instanceof Error);
  gate.open();
  // The slot is released when the abandoned response closes; until then a call may still be shed.
  const deadline = Date.now() + 10_000;
  let status = (await post(url)).status;
  while (status !== 200 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    status = (await post(url)).status;
  }
  t.is(status, 200);
});

test('calls refused before the body is read take no slot', async (t) => {
  const fn = gatedFunction();
  const { gate } = fn;
  const url = await start(t, fn, 1);
  const held = post(url);
  await gate.waitForEntered(1);
  // Refused callers and bad envelopes are answered 401 and 400, not shed: they never needed a slot.
  t.is((await post(url, { headers: { 'content-type': 'application/json' } })).status, 401);
  t.is((await post(url, { headers: { ...JSON_HEADERS, 'content-type': '' } })).status, 400);
  const badEvent = await post(url, { headers: { ...JSON_HEADERS, 'ce-id': 'x', 'ce-specversion': '9.9' } });
  t.is(badEvent.status, 400);
  gate.open();
  t.is((await held).status, 200);
});

// What the router sends an action (binary mode), and the same event in structured mode.
const EVENT_HEADERS = {
  ...JSON_HEADERS,
  'ce-specversion': '1.0',
  'ce-id': '5b0c3f0e2d4a4e1b9a7c6d5e4f3a2b1c',
  'ce-source': 'selfheal/router',
  'ce-type': 'dev.selfheal.action.scale',
};
const EVENT_DATA = { target: { namespace: 'demo', kind: 'Deployment', name: 'web' }, params: { step: 1 } };
const STRUCTURED_HEADERS = { ...JSON_HEADERS, 'content-type': 'application/cloudevents+json' };
const structuredEvent = (attributes: Record<string, unknown>) =>
  JSON.stringify({
    specversion: '1.0',
    id: '5b0c3f0e2d4a4e1b9a7c6d5e4f3a2b1c',
    source: 'selfheal/router',
    type: 'dev.selfheal.action.scale',
    datacontenttype: 'application/json',
    data: EVENT_DATA,
    ...attributes,
  });
const firing = readFileSync(
  join(import.meta.dirname, 'fixtures', 'alertmanager-0.35.0', 'firing.json'),
  'utf8',
);

test('what the runtime cannot take is a 400 naming the problems; the function is not called', async (t) => {
  const fn = gatedFunction();
  fn.gate.open();
  const url = await start(t, fn, 8);
  const cases: Array<[string, Record<string, string>, string, Record<string, unknown>, RegExp]> = [
    [
      "binary, 0.3's ce-schemaurl",
      { ...EVENT_HEADERS, 'ce-schemaurl': 'https://example.com/scale.json' },
      JSON.stringify(EVENT_DATA),
      { reason: 'invalid-cloudevent' },
      /^ce-schemaurl: a CloudEvents 0\.3 attribute; 1\.0 uses ce-dataschema$/,
    ],
    [
      "structured, 0.3's schemaurl",
      STRUCTURED_HEADERS,
      structuredEvent({ schemaurl: 'https://example.com/scale.json' }),
      { reason: 'invalid-cloudevent' },
      /^schemaurl: a CloudEvents 0\.3 attribute; 1\.0 uses dataschema$/,
    ],
    [
      'structured, a data_base64 the SDK cannot decode (its TypeError)',
      STRUCTURED_HEADERS,
      structuredEvent({ data: undefined, data_base64: 5 }),
      { reason: 'invalid-cloudevent' },
      /must be of type string/,
    ],
    [
      'binary, an extension name the SDK refuses',
      { ...EVENT_HEADERS, 'ce-bad_ext': 'x' },
      JSON.stringify(EVENT_DATA),
      { reason: 'invalid-cloudevent' },
      /^invalid attribute name: "bad_ext"$/,
    ],
    [
      'binary, data that is not JSON',
      EVENT_HEADERS,
      JSON.stringify(EVENT_DATA).slice(0, -3),
      { reason: 'invalid-cloudevent' },
      /^body: not JSON/,
    ],
    [
      'plain, malformed JSON',
      JSON_HEADERS,
      firing.slice(0, 200),
      { reason: 'invalid', error: /^malformed JSON body/ },
      /^body: not JSON/,
    ],
    ['plain, an empty JSON body', JSON_HEADERS, '', { reason: 'invalid' }, /^body: empty/],
    [
      'plain, no content type',
      { authorization: 'Bearer ok', 'content-type': '' },
      firing,
      { reason: 'invalid', error: /^missing or empty content-type/ },
      /^content-type: required$/,
    ],
  ];
  for (const [label, headers, body, expected, problem] of cases) {
    const res = await fetch(url, { method: 'POST', headers, body: Buffer.from(body) });
    const text = await res.text();
    t.is(res.status, 400, `${label}: ${text}`);
    const json = JSON.parse(text) as { error: string; problems?: string[] };
    const { error, ...rest } = expected;
    t.like(json, { kind: 'invalid', ...rest }, label);
    if (error instanceof RegExp) t.regex(json.error, error, label);
    t.true(
      json.problems?.some((p) => problem.test(p)),
      `${label}: ${JSON.stringify(json.problems)}`,
    );
  }
  t.is(fn.gate.entered, 0, 'no bad request reached the function');
  // The same events, well formed, do.
  t.is((await post(url, { headers: EVENT_HEADERS, body: JSON.stringify(EVENT_DATA) })).status, 200);
  t.is((await post(url, { headers: STRUCTURED_HEADERS, body: structuredEvent({}) })).status, 200);
  t.is(fn.gate.entered, 2);
});
