// Input handling of every simulation endpoint: empty bodies use defaults; every bad input is a clear 400, never a crash.
import test from 'ava';
import { get, post, startInProcess } from '../test-support/in-process.ts';

const endpoints = ['memory-leak', 'crash', 'errors', 'not-ready', 'cpu', 'reset'] as const;

// [endpoint, raw body, expected problems]
const badBodies: Array<[string, string, string[]]> = [
  ['memory-leak', '{"mbPerSecond": "fast"}', ['mbPerSecond: must be a number (got a string)']],
  ['memory-leak', '{"mbPerSecond": 0}', ['mbPerSecond: must be greater than 0']],
  [
    'memory-leak',
    '{"maxMb": -5, "mbPerSecond": 5000}',
    ['mbPerSecond: must be at most 1024', 'maxMb: must be greater than 0'],
  ],
  ['memory-leak', '{"maxMB": 100}', ['maxMB: unknown field']],
  ['crash', '{"exitCode": 0}', ['exitCode: must be at least 1']],
  ['crash', '{"exitCode": 256}', ['exitCode: must be at most 255']],
  ['crash', '{"exitCode": 1.5}', ['exitCode: must be an integer (got 1.5)']],
  ['crash', '{"loop": "yes"}', ['loop: must be a boolean (got a string)']],
  ['crash', '{"delayMs": -1, "now": true}', ['delayMs: must be at least 0', 'now: unknown field']],
  ['errors', '{"ratio": 1.5}', ['ratio: must be at most 1']],
  ['errors', '{"ratio": -0.1}', ['ratio: must be at least 0']],
  ['errors', '{"ratio": null}', ['ratio: must be a number (got null)']],
  ['errors', '{"durationSeconds": 0}', ['durationSeconds: must be greater than 0']],
  ['errors', '{"rate": 0.5}', ['rate: unknown field']],
  ['not-ready', '{"durationSeconds": "10"}', ['durationSeconds: must be a number (got a string)']],
  ['not-ready', '{"durationSeconds": 1e9}', ['durationSeconds: must be at most 604800']],
  ['cpu', '{"cores": 0}', ['cores: must be at least 1']],
  ['cpu', '{"cores": 1.5}', ['cores: must be an integer (got 1.5)']],
  [
    'cpu',
    '{"cores": 65, "durationSeconds": -1}',
    ['cores: must be at most 64', 'durationSeconds: must be greater than 0'],
  ],
  ['reset', '{"all": true}', ['all: unknown field']],
  ['errors', '[0.5]', ['body: must be a JSON object (got an array)']],
  ['errors', 'null', ['body: must be a JSON object (got null)']],
  ['errors', '"0.5"', ['body: must be a JSON object (got a string)']],
];

for (const [endpoint, body, problems] of badBodies) {
  test(`POST /simulate/${endpoint} ${body} → 400 ${problems.join(', ')}`, async (t) => {
    const { url, app } = await startInProcess(t);
    const answer = await post(`${url}/simulate/${endpoint}`, body);
    t.is(answer.status, 400);
    t.is(answer.json.error, 'invalid body');
    t.deepEqual(answer.json.problems, problems);
    t.false(JSON.stringify(answer.json).includes('    at '), 'no stack trace');
    t.false(Object.values(app.simulations.active()).some(Boolean), 'nothing started');
  });
}

test('malformed JSON gets a 400 naming the parse error, on every endpoint', async (t) => {
  const { url } = await startInProcess(t);
  for (const endpoint of endpoints) {
    for (const body of ['{"ratio": ', '{ratio: 1}', "{'a': 1}", 'ratio=1']) {
      const answer = await post(`${url}/simulate/${endpoint}`, body);
      t.is(answer.status, 400, `${endpoint} ${body}`);
      t.is(answer.json.error, 'malformed JSON body');
      t.is((answer.json.problems as string[]).length, 1);
      t.regex((answer.json.problems as string[])[0] ?? '', /^body: .*JSON/);
    }
  }
  t.is((await get(`${url}/health`)).status, 200, 'still alive');
});

test('a body over 16 KiB is refused with 413', async (t) => {
  const { url } = await startInProcess(t);
  const answer = await post(`${url}/simulate/errors`, JSON.stringify({ pad: 'x'.repeat(20_000) }));
  t.is(answer.status, 413);
  t.deepEqual(answer.json.problems, ['body: must be at most 16384 bytes']);
});

test('every simulation starts with no body and with {} (the defaults)', async (t) => {
  const { url, app, exits } = await startInProcess(t);
  for (const body of [undefined, {}]) {
    for (const endpoint of ['memory-leak', 'errors', 'not-ready', 'cpu']) {
      const answer = await post(`${url}/simulate/${endpoint}`, body);
      t.is(answer.status, 200, `${endpoint} ${JSON.stringify(body)}`);
      t.true(app.simulations.active()[endpoint as 'cpu'], `${endpoint} active`);
    }
    const crash = await post(`${url}/simulate/crash`, body);
    t.is(crash.status, 202);
    t.deepEqual(crash.json.params, { exitCode: 1, loop: false, delayMs: 100 });

    const reset = await post(`${url}/simulate/reset`, body);
    t.is(reset.status, 200);
    t.deepEqual(reset.json.ended, ['memory-leak', 'errors', 'not-ready', 'cpu']);
  }
  await new Promise((resolve) => setTimeout(resolve, 250));
  t.deepEqual(exits, [1, 1]);
});

test('the form content type curl uses by default is read as JSON too', async (t) => {
  const { url } = await startInProcess(t);
  const response = await fetch(`${url}/simulate/errors`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: '{"ratio": 0.25}',
  });
  t.is(response.status, 200);
  t.is(((await response.json()) as { params: { ratio: number } }).params.ratio, 0.25);
});

test('GET /simulate shows the state of every simulation', async (t) => {
  const { url } = await startInProcess(t);
  await post(`${url}/simulate/errors`, { ratio: 0.2 });
  const state = await get(`${url}/simulate`);
  t.is(state.status, 200);
  t.deepEqual(Object.keys(state.json).sort(), ['cpu', 'crash-loop', 'errors', 'memory-leak', 'not-ready']);
  t.like(state.json, {
    errors: { active: true, ratio: 0.2 },
    cpu: { active: false },
    'not-ready': { active: false },
  });
});
