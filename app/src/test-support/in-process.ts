// Starts an app instance inside the test process on 127.0.0.1 and a free port, stopped when the test ends.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { createLogger } from '../log.ts';
import { type App, createApp } from '../server.ts';

export interface InProcessApp {
  app: App;
  url: string;
  stateDir: string;
  /** Log lines written so far, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Exit codes the crash simulation asked for (the test process does not exit). */
  exits: number[];
}

export async function startInProcess(
  t: ExecutionContext,
  options: { stateDir?: string } = {},
): Promise<InProcessApp> {
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'selfheal-app-test-'));
  const logs: Array<Record<string, unknown>> = [];
  const exits: number[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const app = createApp({ logger, stateDir, podName: 'test-pod', exit: (code) => void exits.push(code) });
  t.teardown(async () => {
    await app.close();
    if (options.stateDir === undefined) rmSync(stateDir, { recursive: true, force: true });
  });
  const address = await app.listen(0, '127.0.0.1');
  return { app, url: `http://127.0.0.1:${address.port}`, stateDir, logs, exits };
}

/** POSTs `body` (a string is sent as is; undefined sends no body) and answers status and parsed JSON. */
export async function post(
  url: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    json: (await response.json()) as Record<string, unknown>,
    headers: response.headers,
  };
}

export async function get(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(url, init);
  return {
    status: response.status,
    json: (await response.json()) as Record<string, unknown>,
    headers: response.headers,
  };
}
