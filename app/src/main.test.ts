// The real process: start-up (config validation, listening line) and graceful shutdown on SIGTERM/SIGINT.
import { spawnSync } from 'node:child_process';
import test from 'ava';
import { mainPath, spawnApp } from './test-support/app-process.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('it logs where it listens, honouring HOST and the pod name', async (t) => {
  const app = await spawnApp(t, { env: { POD_NAME: 'app-7d9c-x2', POD_NAMESPACE: 'demo' } });
  const listening = app.lines.find((line) => line.msg === 'listening');
  t.like(listening, { level: 'info', address: '127.0.0.1', pod: 'app-7d9c-x2', namespace: 'demo' });
  t.regex(app.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.is((await fetch(`${app.url}/health`)).status, 200);
});

const badConfigs: Array<[Record<string, string>, string]> = [
  [{ PORT: 'eighty' }, 'invalid configuration: PORT must be an integer from 0 to 65535 (got "eighty")'],
  [{ PORT: '70000' }, 'invalid configuration: PORT must be an integer from 0 to 65535 (got "70000")'],
  [
    { SHUTDOWN_TIMEOUT_MS: '-1', LOG_LEVEL: 'loud' },
    'invalid configuration: SHUTDOWN_TIMEOUT_MS must be an integer from 0 to 600000 (got "-1"); ' +
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
  ],
];

for (const [env, message] of badConfigs) {
  test(`bad configuration ${JSON.stringify(env)} exits 2 with one clear line`, (t) => {
    const result = spawnSync(process.execPath, [mainPath], {
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
    t.is(result.status, 2);
    t.is(result.stderr, `selfheal-app: ${message}\n`);
    t.is(result.stdout, '');
  });
}

test('a port already in use is a fatal log line and exit 1', async (t) => {
  const first = await spawnApp(t);
  const port = new URL(first.url).port;
  const second = await spawnApp(t, { env: { PORT: port }, waitForListening: false });
  t.is((await second.exited).code, 1);
  t.true(second.lines.some((line) => line.level === 'fatal' && /EADDRINUSE/.test(String(line.msg))));
});

test('SIGTERM drains an in-flight slow request, then exits 0', async (t) => {
  const app = await spawnApp(t);
  const slow = fetch(`${app.url}/?delayMs=2000`);
  await sleep(500);
  app.child.kill('SIGTERM');
  const answer = await slow;
  t.is(answer.status, 200);
  t.is(((await answer.json()) as { message: string }).message, 'hello from selfheal-app');
  t.deepEqual(await app.exited, { code: 0, signal: null });
  const messages = app.lines.map(
    (line) => `${line.msg} ${(line.req as { url?: string } | undefined)?.url ?? ''}`,
  );
  const signalled = messages.indexOf('signal received ');
  const answered = messages.indexOf('request /?delayMs=2000');
  t.true(
    signalled >= 0 && answered > signalled,
    `the request was in flight at SIGTERM: ${messages.join(' | ')}`,
  );
  t.is(messages.at(-1), 'stopped cleanly: all requests answered ');
  await t.throwsAsync(fetch(`${app.url}/health`), undefined, 'no longer accepting');
});

test('SIGINT also stops it cleanly', async (t) => {
  const app = await spawnApp(t);
  app.child.kill('SIGINT');
  t.deepEqual(await app.exited, { code: 0, signal: null });
});

test('during SHUTDOWN_DELAY_MS readiness answers 503 while requests are still served', async (t) => {
  const app = await spawnApp(t, { env: { SHUTDOWN_DELAY_MS: '2000' } });
  app.child.kill('SIGTERM');
  await app.waitForLog((line) => line.msg === 'shutting down: readiness is now 503');
  const ready = await fetch(`${app.url}/ready`);
  t.is(ready.status, 503);
  t.deepEqual(await ready.json(), { ready: false, reasons: ['shutting down'] });
  t.is((await fetch(`${app.url}/health`)).status, 200);
  t.is((await fetch(`${app.url}/`)).status, 200);
  t.is((await app.exited).code, 0);
});

test('a request that outlives SHUTDOWN_TIMEOUT_MS is cut off and the exit code is 1', async (t) => {
  const app = await spawnApp(t, { env: { SHUTDOWN_TIMEOUT_MS: '300' } });
  const slow = fetch(`${app.url}/?delayMs=10000`).catch((error: unknown) => error);
  await sleep(500);
  const signalled = Date.now();
  app.child.kill('SIGTERM');
  t.deepEqual(await app.exited, { code: 1, signal: null });
  const took = Date.now() - signalled;
  t.true(took < 3000, `forced exit soon after the grace period (${took} ms)`);
  t.true(app.lines.some((line) => /outlived the grace period/.test(String(line.msg))));
  t.true((await slow) instanceof Error, 'the slow request was cut off');
});

test('a second signal while draining exits at once with 1', async (t) => {
  const app = await spawnApp(t);
  const slow = fetch(`${app.url}/?delayMs=10000`).catch((error: unknown) => error);
  await sleep(500);
  app.child.kill('SIGTERM');
  await app.waitForLog((line) => line.msg === 'shutting down: readiness is now 503');
  app.child.kill('SIGINT');
  t.deepEqual(await app.exited, { code: 1, signal: null });
  t.true(app.lines.some((line) => line.msg === 'second signal while draining: exiting now'));
  await slow;
});
