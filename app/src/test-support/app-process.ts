// Spawns the real app (`node app/src/main.ts`) as a child process for tests, and finds its address in the logs.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const mainPath = fileURLToPath(new URL('../main.ts', import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: string };

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface AppProcess {
  child: ChildProcess;
  stateDir: string;
  /** Base URL, once the app has logged that it listens. */
  url: string;
  lines: LogLine[];
  stderr: () => string;
  exited: Promise<Exit>;
  /** Resolves with the first log line (past or future) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  stateDir?: string;
  /** Wait for the "listening" line (default); false for starts that are expected to fail. */
  waitForListening?: boolean;
  /** Run something other than app/src/main.ts (e.g. a bundle). */
  entry?: string;
}

/** What spawnApp needs from its caller: somewhere to register clean-up (an ava test, or a script's own list). */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

export async function spawnApp(t: Teardown, options: SpawnOptions = {}): Promise<AppProcess> {
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'selfheal-app-test-'));
  if (options.stateDir === undefined) t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    PORT: '0',
    HOST: '127.0.0.1',
    STATE_DIR: stateDir,
    LOG_LEVEL: 'info',
    ...options.env,
  };
  const child = spawn(process.execPath, [options.entry ?? mainPath], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });

  const lines: LogLine[] = [];
  const waiters: Array<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text, unparsed: true };
    }
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.match(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });

  // A bound, not a schedule: a Node start takes well over 10 s on a machine busy with other builds.
  function waitForLog(match: (line: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    const seen = lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `no matching log line within ${timeoutMs} ms; stderr: ${stderr}; lines: ${JSON.stringify(lines)}`,
          ),
        );
      }, timeoutMs);
      const done = (line: LogLine) => {
        clearTimeout(timer);
        resolve(line);
      };
      waiters.push({ match, resolve: done });
      void exited.then((exit) => {
        clearTimeout(timer);
        reject(new Error(`app exited (${JSON.stringify(exit)}) before the log line; stderr: ${stderr}`));
      });
    });
  }

  let url = '';
  if (options.waitForListening !== false) {
    const listening = await waitForLog((line) => line.msg === 'listening');
    url = String(listening.url);
  }
  return { child, stateDir, url, lines, stderr: () => stderr, exited, waitForLog };
}
