// The app's settings, read from the environment and validated once at start-up (fail fast, one clear line).
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

export interface AppConfig {
  port: number;
  host: string;
  /** Scratch directory that outlives a container restart but not the pod (holds the crash-loop marker). */
  stateDir: string;
  podName: string | undefined;
  podNamespace: string | undefined;
  /** Grace period for draining in-flight requests after SIGTERM/SIGINT before a forced exit. */
  shutdownTimeoutMs: number;
  /** Time between readiness turning 503 and closing the listener, so endpoints stop routing to us first. */
  shutdownDelayMs: number;
  logLevel: LogLevel;
}

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

export class ConfigError extends Error {
  constructor(problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

// An empty variable (e.g. `PORT=`) means "not set", as shells and manifests often leave them.
const unsetIfEmpty = (value: unknown) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

function integer(min: number, max: number, fallback: number) {
  const range = `an integer from ${min} to ${max}`;
  return z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .regex(/^\s*\d+\s*$/, `must be ${range}`)
      .transform(Number)
      .pipe(z.number().int().min(min, `must be ${range}`).max(max, `must be ${range}`))
      .default(fallback),
  );
}

const text = () => z.preprocess(unsetIfEmpty, z.string().trim().optional());

const envSchema = z.object({
  PORT: integer(0, 65535, 3000),
  HOST: z.preprocess(unsetIfEmpty, z.string().trim().default('0.0.0.0')),
  STATE_DIR: z.preprocess(unsetIfEmpty, z.string().trim().default(join(tmpdir(), 'selfheal-app'))),
  POD_NAME: text(),
  POD_NAMESPACE: text(),
  SHUTDOWN_TIMEOUT_MS: integer(0, 600_000, 10_000),
  SHUTDOWN_DELAY_MS: integer(0, 600_000, 0),
  LOG_LEVEL: z.preprocess(
    unsetIfEmpty,
    z.enum(logLevels, { error: `must be one of ${logLevels.join(', ')}` }).default('info'),
  ),
});

/** Validates the environment; throws a ConfigError whose message names every bad variable and its value. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const name = String(issue.path[0]);
        return `${name} ${issue.message} (got ${JSON.stringify(env[name])})`;
      }),
    );
  }
  const vars = result.data;
  return {
    port: vars.PORT,
    host: vars.HOST,
    stateDir: vars.STATE_DIR,
    podName: vars.POD_NAME,
    podNamespace: vars.POD_NAMESPACE,
    shutdownTimeoutMs: vars.SHUTDOWN_TIMEOUT_MS,
    shutdownDelayMs: vars.SHUTDOWN_DELAY_MS,
    logLevel: vars.LOG_LEVEL,
  };
}
