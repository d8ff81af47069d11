// Runs a measurement script as a child process (`node <script> ...args` from the repository root), streaming its
// lines as progress, and reads the figures it prints.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Benchmark } from './benchmark.ts';
import type { FigureBudget } from './budgets.ts';
import type { Figure } from './figures.ts';
import { printedFigures } from './printed.ts';
import { isReportLine } from './reported.ts';

export const ROOT = join(import.meta.dirname, '..');
const STOP_GRACE_MS = 15_000;

/** How a user runs the same script by hand. */
export const commandLine = (args: readonly string[]) => ['node', ...args].join(' ');

export interface ScriptOptions {
  onLine: (line: string) => void;
  timeoutMs: number;
}

export async function runScript(args: string[], { onLine, timeoutMs }: ScriptOptions): Promise<string> {
  // Same process group: Ctrl-C reaches the script too, and it stops what it started (control planes, pods).
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout }).on('line', (text) => {
    stdout.push(text);
    onLine(text);
  });
  createInterface({ input: child.stderr }).on('line', (text) => {
    stderr.push(text);
    onLine(text);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS).unref();
  }, timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve([c, s]));
  }).finally(() => clearTimeout(timer));
  const command = commandLine(args);
  if (timedOut) throw new Error(`${command} did not finish within ${Math.round(timeoutMs / 1000)} s`);
  if (code !== 0) {
    const tail = stderr.slice(-5).join('\n');
    throw new Error(
      `${command} ${signal ? `stopped by ${signal}` : `exited with ${code}`}${tail ? `: ${tail}` : ''}`,
    );
  }
  return `${stdout.join('\n')}\n`;
}

/**
 * A benchmark that runs one measurement script and reads its budgeted figures from what it prints: by default from
 * the lines the budgets name (printed.ts), or as the script reports them (reported.ts).
 */
export function scriptBenchmark(spec: {
  name: string;
  title: string;
  seconds: number;
  onlyByName?: boolean;
  args: (quick: boolean) => string[];
  figures?: (output: string, budgets: readonly FigureBudget[]) => Figure[];
}): Benchmark {
  const { args, figures = printedFigures, ...about } = spec;
  // Generous on a busy machine, but a script that hangs (waiting for a pod that never starts) does not stall the run.
  const timeoutMs = Math.max(180, 4 * spec.seconds) * 1000;
  return {
    ...about,
    command: (quick) => commandLine(args(quick)),
    async run({ quick, say, budgets }) {
      const onLine = (line: string) => {
        if (!isReportLine(line)) say(line);
      };
      return figures(await runScript(args(quick), { onLine, timeoutMs }), budgets.figures);
    },
  };
}
