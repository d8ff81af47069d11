// `npm start` as a user runs it, for the end-to-end suites: started with its arguments, ready at its READY line, and
// stopped with Ctrl-C.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type PlaygroundState, readRunningState } from '../../playground/state.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const tail = (text: string, lines = 40) => text.split('\n').slice(-lines).join('\n');

export type PlaygroundProcess = {
  state: PlaygroundState;
  statePath: string;
  /** Everything it printed so far. */
  output(): string;
  /** Ctrl-C; resolves with its exit code. */
  stop(): Promise<number | null>;
  /** Removes the state folder (after stop). */
  cleanup(): void;
};

/** Starts `npm start -- <args>` (its command) and resolves once it prints that the loop is armed. */
export async function startPlaygroundProcess(args: string[]): Promise<PlaygroundProcess> {
  const stateDir = mkdtempSync(join(tmpdir(), 'selfheal-e2e-'));
  const statePath = join(stateDir, 'state.json');
  const child: ChildProcess = spawn(process.execPath, ['playground/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, SELFHEAL_PLAYGROUND_STATE: statePath },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const stop = (): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
    return new Promise((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.once('exit', (code) => {
        clearTimeout(kill);
        resolve(code);
      });
      child.kill('SIGINT');
    });
  };
  const cleanup = () => rmSync(stateDir, { recursive: true, force: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no READY line within 5 minutes:\n${tail(output)}`)),
        300_000,
      );
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('READY: the self-healing loop is armed')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the playground exited with ${code} before it was ready:\n${tail(output)}`));
      });
    });
    const state = await readRunningState(statePath);
    return { state, statePath, output: () => output, stop, cleanup };
  } catch (error) {
    await stop();
    cleanup();
    throw error;
  }
}
