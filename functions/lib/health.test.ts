// The watchdog health contract faas-netes CE probes: /_/health and /_/ready, and the lock file, through a function's
// whole life (starting, ready, draining after SIGTERM) in a real process under faas-js-runtime.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { freePort } from '../../devkit/ports.ts';
import { eventually } from '../../test/helpers/wait.ts';
import { attachPlatformHealth, HEALTH_PATH, type HealthHost, healthAnswer, READY_PATH } from './health.ts';

test('the watchdog answers: 200 OK when ready, 503 while starting or draining', (t) => {
  t.deepEqual(healthAnswer('ready'), { status: 200, body: 'OK' });
  t.deepEqual(healthAnswer('starting'), { status: 503, body: 'starting' });
  t.deepEqual(healthAnswer('draining'), { status: 503, body: 'draining' });
});

/** A host that records routes and hooks, so the handlers can be called as Fastify would. */
function recordingHost() {
  const routes = new Map<string, (request: unknown, reply: never) => unknown>();
  const hooks = new Map<string, (...args: never[]) => unknown>();
  const host: HealthHost = {
    get: (path, _options, handler) => routes.set(path, handler as never),
    addHook: (name, hook) => hooks.set(name, hook),
  };
  const call = (path: string) => {
    const sent: { status?: number; body?: string } = {};
    const reply = {
      code: (status: number) => {
        sent.status = status;
        return reply;
      },
      header: () => reply,
      send: (body: string) => {
        sent.body = body;
        return reply;
      },
    };
    routes.get(path)?.(undefined, reply as never);
    return sent;
  };
  return { host, routes, hooks, call };
}

test('the lock file exists exactly while ready; closing the server drains', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'selfheal-health-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lock = join(dir, '.lock');
  const { host, routes, hooks, call } = recordingHost();
  const health = attachPlatformHealth(host, lock);
  t.teardown(() => (hooks.get('onClose') as (i: unknown, done: () => void) => void)?.(undefined, () => {}));
  t.deepEqual([...routes.keys()].sort(), [HEALTH_PATH, READY_PATH].sort());

  t.like(call(HEALTH_PATH), { status: 503, body: 'starting' });
  t.false(existsSync(lock));
  health.ready();
  t.like(call(HEALTH_PATH), { status: 200, body: 'OK' });
  t.like(call(READY_PATH), { status: 200, body: 'OK' });
  t.true(existsSync(lock), 'written once ready');

  (hooks.get('preClose') as (done: () => void) => void)(() => {});
  t.is(health.state, 'draining');
  t.like(call(READY_PATH), { status: 503, body: 'draining' });
  t.false(existsSync(lock), 'removed when draining');
  health.ready();
  t.is(health.state, 'draining', 'a draining function never turns ready again');
});

test('a lock file that cannot be written (read-only /tmp, as on Knative) is reported, and the function is ready', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'selfheal-health-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { host, hooks, call } = recordingHost();
  const errors: Error[] = [];
  const health = attachPlatformHealth(host, join(dir, 'missing', '.lock'), (err) => errors.push(err));
  t.teardown(() => (hooks.get('onClose') as (i: unknown, done: () => void) => void)?.(undefined, () => {}));
  health.ready();
  t.is(health.state, 'ready');
  t.like(call(HEALTH_PATH), { status: 200 });
  t.is(errors.length, 1);
  t.regex(errors[0]?.message ?? '', /ENOENT/);
});

const runtimeUrl = new URL('./runtime.ts', import.meta.url).href;
const logUrl = new URL('./log.ts', import.meta.url).href;

/** A function under faas-js-runtime in its own process, with a shutdown() that takes `shutdownMs`. */
function startChild(port: number, dir: string, shutdownMs: number): ChildProcess {
  const script = `
    import { startFunction } from ${JSON.stringify(runtimeUrl)};
    import { createLogger } from ${JSON.stringify(logUrl)};
    const mod = {
      handle: () => ({ ok: true }),
      shutdown: () => new Promise((resolve) => setTimeout(resolve, ${shutdownMs})),
    };
    await startFunction(mod, {
      host: '127.0.0.1', port: ${port}, bodyLimit: 1024, log: createLogger('health-test', 'silent'),
      lockFile: ${JSON.stringify(join(dir, '.lock'))},
    });
  `;
  return spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
}

const status = async (url: string) => {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
};

test('in a real process: ready after start, 503 and no lock file from SIGTERM until it exits', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'selfheal-health-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const child = startChild(port, dir, 2_000);
  t.teardown(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const base = `http://127.0.0.1:${port}`;

  await eventually('the function to be ready', async () => (await status(`${base}${HEALTH_PATH}`)) === 200);
  t.is(await status(`${base}${READY_PATH}`), 200);
  t.is(await status(`${base}/health/readiness`), 200, "faas-js-runtime's own readiness path stays");
  t.is(await status(`${base}/health/liveness`), 200, "faas-js-runtime's own liveness path stays");
  t.true(existsSync(join(dir, '.lock')), 'the lock file is written once ready');

  child.kill('SIGTERM');
  await eventually('503 while draining', async () => (await status(`${base}${HEALTH_PATH}`)) === 503);
  t.is(await status(`${base}${READY_PATH}`), 503);
  t.false(existsSync(join(dir, '.lock')), 'the lock file is gone while draining');
  t.is(await exited, 0, 'faas-js-runtime exits cleanly after the shutdown hook');
});
