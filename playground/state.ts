// Where a running playground says what it runs, so `npm run scenario` can find it (and knows when none runs).
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

export const PlaygroundState = z.object({
  pid: z.number().int().positive(),
  profile: z.enum(['production', 'fast']),
  platform: z.enum(['kubernetes', 'openfaas-ce']).default('kubernetes'),
  /** Where the functions run: selfheal, or openfaas-fn on OpenFaaS CE. */
  functionNamespace: z.string().default('selfheal'),
  startedAt: z.string(),
  kubeconfig: z.string(),
  prometheusUrl: z.string().url(),
  alertmanagerUrl: z.string().url(),
  appUrl: z.string().url(),
  appNamespace: z.string(),
  appDeployment: z.string(),
  functionUrls: z.record(z.string(), z.string().url()),
  logDir: z.string(),
});
export type PlaygroundState = z.infer<typeof PlaygroundState>;

export class PlaygroundNotRunningError extends Error {
  constructor(reason: string) {
    super(
      `no playground is running (${reason}): start one with \`npm start\` (or \`npm start -- --fast\`) first`,
    );
    this.name = 'PlaygroundNotRunningError';
  }
}

export function stateFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.SELFHEAL_PLAYGROUND_STATE ?? join(tmpdir(), 'selfheal-playground.json');
}

export async function writeState(state: PlaygroundState, path = stateFilePath()): Promise<void> {
  await writeFile(path, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

export async function removeState(path = stateFilePath()): Promise<void> {
  await rm(path, { force: true });
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The state of the running playground; throws PlaygroundNotRunningError at once when there is none. */
export async function readRunningState(path = stateFilePath()): Promise<PlaygroundState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new PlaygroundNotRunningError(`${path} does not exist`);
  }
  const parsed = PlaygroundState.safeParse(JSON.parse(text));
  if (!parsed.success) throw new PlaygroundNotRunningError(`${path} is not a playground state file`);
  if (!isAlive(parsed.data.pid)) throw new PlaygroundNotRunningError(`process ${parsed.data.pid} has exited`);
  return parsed.data;
}
