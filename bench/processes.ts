// The processes of the side-by-side benchmarks: functions started as their image starts them (`node launch.mjs
// index.mjs` in the bundle's folder, with the compile cache and a memory limit), helper servers, each timed from
// spawn, asked over HTTP, measured (resident memory) and stopped; whatever is left is stopped at exit.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../devkit/ports.ts';

const ROOT = join(import.meta.dirname, '..');

export interface Started {
  name: string;
  child: ChildProcess;
  pid: number;
  /** performance.now() at spawn. */
  spawnedAt: number;
  /** The last 64 KiB of what it printed (stdout and stderr). */
  output(): string;
  /** What it printed since the last call (at most the last MiB). */
  fresh(): string;
}

export interface Listening extends Started {
  url: string;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** The last `limit` characters of a stream of text, in amortised constant time per chunk. */
function tailOf(limit: number) {
  let chunks: string[] = [];
  let size = 0;
  const text = () => {
    const joined = chunks.join('').slice(-limit);
    chunks = [joined];
    size = joined.length;
    return joined;
  };
  return {
    add(chunk: string) {
      chunks.push(chunk);
      size += chunk.length;
      if (size > 2 * limit) text();
    },
    text,
    clear() {
      chunks = [];
      size = 0;
    },
  };
}

function start(name: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Started {
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  // The last 64 KiB of what it printed, and the last MiB not read yet: kept in chunks, cut now and then, so that a
  // chatty process is read at once (a slow reader would fill the pipe and stall its writes).
  const output = tailOf(65_536);
  const unread = tailOf(1_048_576);
  const keep = (d: Buffer) => {
    const text = d.toString();
    output.add(text);
    unread.add(text);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const fresh = () => {
    const text = unread.text();
    unread.clear();
    return text;
  };
  return { name, child, pid: child.pid as number, spawnedAt, output: () => output.text(), fresh };
}

// The functions log as shipped (LOG_LEVEL info: a line per decision), part of what they cost.
const BASE_ENV = { PATH: process.env.PATH, HOME: process.env.HOME };

/** A bundle started as its image runs it, on a free port of 127.0.0.1. */
export async function startImage(
  name: string,
  bundle: { dir: string; compileCache: string; memoryLimit: string },
  env: NodeJS.ProcessEnv,
): Promise<Listening> {
  const port = await freePort();
  const started = start(name, ['launch.mjs', 'index.mjs'], bundle.dir, {
    ...BASE_ENV,
    HOST: '127.0.0.1',
    PORT: String(port),
    NODE_COMPILE_CACHE: bundle.compileCache,
    SELFHEAL_MEMORY_LIMIT: bundle.memoryLimit,
    ...env,
  });
  return { ...started, url: `http://127.0.0.1:${port}` };
}

/** `node ...args` in `cwd` with exactly `env`, once it prints `listening on <url>`. */
export async function startListening(
  name: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<Listening> {
  const started = start(name, args, cwd, env);
  const url = await waitFor(
    started,
    60_000,
    () => /listening on (http:\/\/\S+?)\/?$/m.exec(started.output())?.[1],
  );
  return { ...started, url };
}

/** `node <script>` from the repository's root, once it prints `listening on <url>`. */
export function startScript(name: string, script: string, env: NodeJS.ProcessEnv): Promise<Listening> {
  return startListening(name, [script], ROOT, { ...BASE_ENV, ...env });
}

async function waitFor<T>(
  p: Started,
  timeoutMs: number,
  check: () => T | undefined | Promise<T | undefined>,
) {
  for (;;) {
    if (p.child.exitCode !== null)
      throw new Error(`${p.name} exited ${p.child.exitCode}: ${p.output().trim()}`);
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() - p.spawnedAt > timeoutMs) {
      throw new Error(`${p.name} not ready after ${timeoutMs / 1000} s: ${p.output().trim()}`);
    }
    await sleep(5);
  }
}

/** Polls `path` every 5 ms, as a platform's probe or activator would, until 200: milliseconds since spawn. */
export async function untilReady(
  p: Listening,
  path = '/health/readiness',
  timeoutMs = 60_000,
): Promise<number> {
  return waitFor(p, timeoutMs, async () => {
    try {
      const response = await fetch(`${p.url}${path}`);
      await response.arrayBuffer();
      return response.status === 200 ? performance.now() - p.spawnedAt : undefined;
    } catch {
      return undefined;
    }
  });
}

export interface Answer {
  status: number;
  text: string;
  /** performance.now() when the answer was read. */
  at: number;
  ms: number;
}

/**
 * POSTs `body` and reads the answer. A kept connection that the server closed as idle (its keep-alive timeout, which a
 * busy machine's late timers let the client miss) fails before the request is read: sent again once, on a new
 * connection, and timed from there.
 */
export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  for (let attempt = 1; ; attempt++) {
    const started = performance.now();
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      const at = performance.now();
      return { status: response.status, text, at, ms: at - started };
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const closedIdle = cause?.code === 'UND_ERR_SOCKET' && /other side closed/.test(cause.message ?? '');
      if (!closedIdle || attempt > 1) throw err;
    }
  }
}

/** Resident memory (VmRSS) of a process, in MiB. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) / 1024;
}

export async function stop(p: Started): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = once(p.child, 'exit');
  p.child.kill('SIGTERM');
  const kill = setTimeout(() => p.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(kill);
}
