// Crash simulation: exit with a chosen code; with `loop`, a marker in the state directory makes every later start crash.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

export const crashParams = z.strictObject({
  exitCode: z.number().int().min(1).max(255).default(1),
  loop: z.boolean().default(false),
  /** Time left for the 202 answer to reach the caller before the process exits. */
  delayMs: z.number().int().min(0).max(60_000).default(100),
});
export type CrashParams = z.output<typeof crashParams>;

export interface CrashLoopMarker {
  exitCode: number;
  createdAt: string;
  pod: string | null;
}

export function crashLoopMarkerPath(stateDir: string): string {
  return join(stateDir, 'crash-loop.json');
}

export function writeCrashLoopMarker(stateDir: string, marker: CrashLoopMarker): string {
  mkdirSync(stateDir, { recursive: true });
  const path = crashLoopMarkerPath(stateDir);
  writeFileSync(path, `${JSON.stringify(marker)}\n`);
  return path;
}

/** The marker when one is present; a marker that cannot be read still means "crash", with exit code 1. */
export function readCrashLoopMarker(stateDir: string): CrashLoopMarker | undefined {
  const path = crashLoopMarkerPath(stateDir);
  if (!existsSync(path)) return undefined;
  try {
    return z
      .object({
        exitCode: z.number().int().min(1).max(255),
        createdAt: z.string(),
        pod: z.string().nullable(),
      })
      .parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return { exitCode: 1, createdAt: 'unknown', pod: null };
  }
}

/** Removes the marker; answers whether there was one. */
export function removeCrashLoopMarker(stateDir: string): boolean {
  const path = crashLoopMarkerPath(stateDir);
  const present = existsSync(path);
  rmSync(path, { force: true });
  return present;
}
