// CPU simulation: busy loops on worker threads, one per requested core, for a duration.
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { durationSeconds, type Expiry, expireAfter, untilIso } from './duration.ts';

export const cpuParams = z.strictObject({
  cores: z.number().int().min(1).max(64).default(1),
  durationSeconds: durationSeconds.default(300),
});
export type CpuParams = z.output<typeof cpuParams>;

export interface CpuState {
  active: boolean;
  cores: number;
  until: string | null;
}

export interface CpuBurn {
  start(params: CpuParams): void;
  stop(): boolean;
  state(): CpuState;
}

// Plain JavaScript so the worker needs no file of its own (and survives bundling); terminate() interrupts the loop.
const busyLoop = 'let x = 0; for (;;) { x = (x + 1) | 0; }';

export function createCpuBurn(logger: Logger): CpuBurn {
  let run: { workers: Worker[]; expiry: Expiry } | undefined;

  function stop(): boolean {
    if (run === undefined) return false;
    clearTimeout(run.expiry.timer);
    for (const worker of run.workers) void worker.terminate();
    run = undefined;
    return true;
  }

  return {
    start(params) {
      stop();
      const workers = Array.from({ length: params.cores }, (_, index) => {
        const worker = new Worker(busyLoop, { eval: true, name: `cpu-burn-${index}` });
        worker.on('error', (error) =>
          logger.error({ err: error, simulation: 'cpu' }, 'cpu burn worker failed'),
        );
        worker.unref();
        return worker;
      });
      const expiry = expireAfter(params.durationSeconds, () => {
        stop();
        logger.info({ simulation: 'cpu' }, 'cpu simulation ended (duration elapsed)');
      });
      run = { workers, expiry };
    },
    stop,
    state() {
      return { active: run !== undefined, cores: run?.workers.length ?? 0, until: untilIso(run?.expiry) };
    },
  };
}
