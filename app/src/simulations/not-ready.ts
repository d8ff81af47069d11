// Not-ready simulation: /ready answers 503 until reset or until the optional duration ends.
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { durationSeconds, type Expiry, expireAfter, untilIso } from './duration.ts';

export const notReadyParams = z.strictObject({
  durationSeconds: durationSeconds.optional(),
});
export type NotReadyParams = z.output<typeof notReadyParams>;

export interface NotReadyState {
  active: boolean;
  until: string | null;
}

export interface NotReady {
  start(params: NotReadyParams): void;
  stop(): boolean;
  state(): NotReadyState;
}

export function createNotReady(logger: Logger): NotReady {
  let run: { expiry?: Expiry } | undefined;

  function stop(): boolean {
    if (run === undefined) return false;
    if (run.expiry) clearTimeout(run.expiry.timer);
    run = undefined;
    return true;
  }

  return {
    start(params) {
      stop();
      run = {};
      if (params.durationSeconds !== undefined) {
        run.expiry = expireAfter(params.durationSeconds, () => {
          stop();
          logger.info({ simulation: 'not-ready' }, 'not-ready simulation ended (duration elapsed)');
        });
      }
    },
    stop,
    state() {
      return { active: run !== undefined, until: untilIso(run?.expiry) };
    },
  };
}
