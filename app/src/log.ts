// Structured JSON logs (pino) that carry the pod's name and namespace on every line.
import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogLevel } from './config.ts';

export type { Logger };

export interface LogOptions {
  level?: LogLevel;
  podName?: string | undefined;
  podNamespace?: string | undefined;
  /** Where lines go; stdout (written synchronously, so a crash or exit loses nothing) when omitted. */
  destination?: DestinationStream;
}

export function createLogger(options: LogOptions = {}): Logger {
  const base: Record<string, string> = { service: 'selfheal-app' };
  if (options.podName) base.pod = options.podName;
  if (options.podNamespace) base.namespace = options.podNamespace;
  return pino(
    {
      level: options.level ?? 'info',
      base,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
