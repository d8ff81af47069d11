// Error-rate simulation: a configured fraction of requests to `/` fail with 500, spread evenly and exactly.
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { durationSeconds, type Expiry, expireAfter, untilIso } from './duration.ts';

export const errorsParams = z.strictObject({
  ratio: z.number().min(0).max(1).default(0.5),
  durationSeconds: durationSeconds.optional(),
});
export type ErrorsParams = z.output<typeof errorsParams>;

/**
 * Decides request by request whether to fail, so that after n requests exactly floor(n × ratio) have failed
 * (error diffusion: deterministic, no randomness, failures evenly spread).
 */
export class ErrorDiffuser {
  readonly ratio: number;
  #requests = 0;
  #failures = 0;

  constructor(ratio: number) {
    this.ratio = ratio;
  }

  next(): boolean {
    this.#requests += 1;
    // The epsilon absorbs float error in n × ratio (0.3 × 10 = 3.0000000000000004 or 2.9999999999999996).
    const due = Math.floor(this.#requests * this.ratio + 1e-9);
    if (due > this.#failures) {
      this.#failures += 1;
      return true;
    }
    return false;
  }

  get requests(): number {
    return this.#requests;
  }

  get failures(): number {
    return this.#failures;
  }
}

export interface ErrorsState {
  active: boolean;
  ratio: number;
  until: string | null;
  requests: number;
  failures: number;
}

export interface ErrorInjection {
  start(params: ErrorsParams): void;
  stop(): boolean;
  /** Whether the current request to `/` must fail. */
  shouldFail(): boolean;
  state(): ErrorsState;
}

export function createErrorInjection(logger: Logger): ErrorInjection {
  let run: { diffuser: ErrorDiffuser; expiry?: Expiry } | undefined;

  function stop(): boolean {
    if (run === undefined) return false;
    if (run.expiry) clearTimeout(run.expiry.timer);
    run = undefined;
    return true;
  }

  return {
    start(params) {
      stop();
      run = { diffuser: new ErrorDiffuser(params.ratio) };
      if (params.durationSeconds !== undefined) {
        run.expiry = expireAfter(params.durationSeconds, () => {
          stop();
          logger.info({ simulation: 'errors' }, 'error simulation ended (duration elapsed)');
        });
      }
    },
    stop,
    shouldFail() {
      return run?.diffuser.next() ?? false;
    },
    state() {
      return {
        active: run !== undefined,
        ratio: run?.diffuser.ratio ?? 0,
        until: untilIso(run?.expiry),
        requests: run?.diffuser.requests ?? 0,
        failures: run?.diffuser.failures ?? 0,
      };
    },
  };
}
