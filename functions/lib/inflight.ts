// Bounds the invocations a function works on at once, so a storm of alerts cannot grow its memory past its
// container's limit: beyond the bound a request is shed at once with 503 and Retry-After (the router and
// Alertmanager retry 5xx), and counted.
import { Counter, Gauge } from 'prom-client';
import { SelfhealError } from './errors.ts';
import { registry } from './metrics.ts';

export const DEFAULT_MAX_INFLIGHT = 8;
// Seconds a shed caller is asked to wait: about one action's round trip to the API server, and short next to
// Alertmanager's group_interval.
export const RETRY_AFTER_SECONDS = 1;

export const shedInvocations = new Counter({
  name: 'selfheal_invocations_shed_total',
  help: 'Invocations answered 503 at once because the function already had its maximum in flight',
  registers: [registry],
});

export const inflightInvocations = new Gauge({
  name: 'selfheal_invocations_in_flight',
  help: 'Invocations the function is working on now (their body being read, decided or answered)',
  registers: [registry],
});

export type Admission = { release: () => void } | { shed: SelfhealError };

export type InflightLimiter = {
  // Takes a slot or says why not; `release` is idempotent, so it may be tied to every way a request ends.
  admit: () => Admission;
  readonly inFlight: number;
  readonly max: number;
};

export function inflightLimiter(max: number): InflightLimiter {
  if (!Number.isInteger(max) || max < 1)
    throw new RangeError(`max in flight must be a whole number ≥ 1: ${max}`);
  let current = 0;
  return {
    get inFlight() {
      return current;
    },
    max,
    admit() {
      if (current >= max) {
        shedInvocations.inc();
        return {
          shed: new SelfhealError(
            'unavailable',
            `overloaded: ${max} invocations already in flight (SELFHEAL_MAX_INFLIGHT); retry after ${RETRY_AFTER_SECONDS} s`,
            { reason: 'overloaded' },
          ),
        };
      }
      current++;
      inflightInvocations.inc();
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          current--;
          inflightInvocations.dec();
        },
      };
    },
  };
}
