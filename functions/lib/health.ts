// The OpenFaaS watchdog's health contract, which faas-netes Community Edition probes whatever a stack file says:
// GET /_/health and /_/ready answer 200 once the function is ready and 503 while it starts or drains, and the
// watchdog's lock file (read by the exec probe `cat /tmp/.lock` when the chart turns HTTP probes off) exists exactly
// while it is ready. faas-js-runtime's own /health/liveness and /health/readiness stay as they are.
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const HEALTH_PATH = '/_/health';
export const READY_PATH = '/_/ready';

export type HealthState = 'starting' | 'ready' | 'draining';

/** Where the watchdog writes its lock: os.TempDir() in Go, TMPDIR or else /tmp (faas-netes' exec probe reads /tmp/.lock). */
export function watchdogLockFile(): string {
  return join(tmpdir(), '.lock');
}

/** What the two health paths answer in a state: the watchdog's 200 "OK", or 503 with the reason. */
export function healthAnswer(state: HealthState): { status: number; body: string } {
  return state === 'ready' ? { status: 200, body: 'OK' } : { status: 503, body: state };
}

type Reply = {
  code: (status: number) => Reply;
  header: (name: string, value: string) => Reply;
  send: (body: string) => unknown;
};
/** The part of a Fastify instance the health paths need. */
export type HealthHost = {
  get: (
    path: string,
    options: Record<string, unknown>,
    handler: (request: unknown, reply: Reply) => unknown,
  ) => unknown;
  addHook: (name: string, hook: (...args: never[]) => unknown) => unknown;
};

export type PlatformHealth = {
  readonly state: HealthState;
  /** The function is initialised and listening: answer 200 and write the lock file. */
  ready(): void;
  /** Shutting down: answer 503 and remove the lock file, so no new work is routed here. */
  drain(): void;
};

/**
 * Serves the watchdog's health paths on `host` (starting: 503). Draining starts at SIGTERM (before faas-js-runtime's
 * own shutdown runs) or when the server closes; the lock file is removed then, and at the latest when the process
 * exits. `lockFile` undefined: no lock file (tests that start several functions in one process). A lock file that
 * cannot be written (a read-only /tmp, as on Knative, which probes the HTTP paths) is reported, not fatal.
 */
export function attachPlatformHealth(
  host: HealthHost,
  lockFile: string | undefined,
  onLockError: (error: Error) => void = () => {},
): PlatformHealth {
  let state: HealthState = 'starting';
  const removeLock = () => {
    try {
      if (lockFile) rmSync(lockFile, { force: true });
    } catch {
      // Nothing to remove where nothing could be written.
    }
  };
  const drain = () => {
    if (state === 'draining') return;
    state = 'draining';
    removeLock();
    process.off('SIGTERM', drain);
  };
  const exit = () => removeLock();
  process.on('SIGTERM', drain);
  process.on('exit', exit);

  const answer = (_request: unknown, reply: Reply) => {
    const { status, body } = healthAnswer(state);
    return reply.code(status).header('content-type', 'text/plain; charset=utf-8').send(body);
  };
  host.get(HEALTH_PATH, { logLevel: 'warn' }, answer);
  host.get(READY_PATH, { logLevel: 'warn' }, answer);
  host.addHook('preClose', ((done: () => void) => {
    drain();
    done();
  }) as never);
  host.addHook('onClose', ((_instance: unknown, done: () => void) => {
    process.off('SIGTERM', drain);
    process.off('exit', exit);
    done();
  }) as never);

  return {
    get state() {
      return state;
    },
    ready() {
      if (state !== 'starting') return;
      state = 'ready';
      try {
        if (lockFile) writeFileSync(lockFile, '');
      } catch (error) {
        onLockError(error as Error);
      }
    },
    drain,
  };
}
