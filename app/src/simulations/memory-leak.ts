// Memory leak simulation: retains memory at a steady rate up to a cap, written with data so resident memory really grows.
import { z } from 'zod';
import type { Logger } from '../log.ts';

const MiB = 1024 * 1024;

/** Sizes are MiB (the alert thresholds are MiB too). The defaults pass 200 MiB resident in about 20 s. */
export const memoryLeakParams = z.strictObject({
  mbPerSecond: z.number().positive().max(1024).default(10),
  maxMb: z.number().positive().max(16_384).default(300),
});
export type MemoryLeakParams = z.output<typeof memoryLeakParams>;

export interface MemoryLeakState {
  active: boolean;
  growing: boolean;
  mbPerSecond: number | null;
  maxMb: number | null;
  leakedBytes: number;
  startedAt: string | null;
}

/** How many bytes should be retained `elapsedMs` after a leak started from `baseBytes`. */
export function leakTarget(elapsedMs: number, baseBytes: number, params: MemoryLeakParams): number {
  const wanted = baseBytes + (params.mbPerSecond * MiB * Math.max(0, elapsedMs)) / 1000;
  return Math.floor(Math.min(params.maxMb * MiB, wanted));
}

// Big chunks come straight from mmap (above glibc's largest mmap threshold), so releasing one returns it to the OS.
const chunkBytes = 64 * MiB;

/** Memory held on purpose. Pages are only counted as resident once written, so every byte is written (non-zero). */
export class RetainedMemory {
  #chunks: Buffer[] = [];
  #filled = 0;

  get bytes(): number {
    return this.#filled;
  }

  resize(target: number): void {
    const wanted = Math.max(0, Math.floor(target));
    // Shrinking only happens when a new, lower cap is set: start over rather than split chunks.
    if (wanted < this.#filled) this.release();
    while (this.#filled < wanted) {
      const index = Math.floor(this.#filled / chunkBytes);
      const offset = this.#filled % chunkBytes;
      let chunk = this.#chunks[index];
      if (chunk === undefined) {
        chunk = Buffer.allocUnsafeSlow(chunkBytes);
        this.#chunks.push(chunk);
      }
      const end = Math.min(chunkBytes, offset + (wanted - this.#filled));
      chunk.fill(0xa5, offset, end);
      this.#filled += end - offset;
    }
  }

  /** Frees every chunk now: detaching the ArrayBuffer frees its memory without waiting for a garbage collection. */
  release(): void {
    for (const chunk of this.#chunks) (chunk.buffer as ArrayBuffer).transfer(0);
    this.#chunks = [];
    this.#filled = 0;
  }
}

export interface MemoryLeak {
  start(params: MemoryLeakParams): void;
  stop(): boolean;
  state(): MemoryLeakState;
}

export function createMemoryLeak(logger: Logger, tickMs = 100): MemoryLeak {
  const memory = new RetainedMemory();
  let run:
    | { params: MemoryLeakParams; startedAt: number; baseBytes: number; timer?: NodeJS.Timeout }
    | undefined;

  function tick(): void {
    if (run === undefined) return;
    const target = leakTarget(Date.now() - run.startedAt, run.baseBytes, run.params);
    try {
      memory.resize(target);
    } catch (error) {
      // Allocation refused (address space or heap limits): hold what we have instead of crashing the process.
      clearInterval(run.timer);
      run.timer = undefined;
      logger.error(
        { err: error, simulation: 'memory-leak', leakedBytes: memory.bytes },
        'memory leak cannot grow',
      );
      return;
    }
    if (target >= run.params.maxMb * MiB && run.timer !== undefined) {
      clearInterval(run.timer);
      run.timer = undefined;
      logger.info({ simulation: 'memory-leak', leakedBytes: memory.bytes }, 'memory leak reached its cap');
    }
  }

  return {
    start(params) {
      if (run?.timer !== undefined) clearInterval(run.timer);
      // A new request changes rate and cap but keeps what is already held.
      run = { params, startedAt: Date.now(), baseBytes: memory.bytes };
      run.timer = setInterval(tick, tickMs).unref();
      tick();
    },
    stop() {
      const wasActive = run !== undefined;
      if (run?.timer !== undefined) clearInterval(run.timer);
      run = undefined;
      memory.release();
      return wasActive;
    },
    state() {
      return {
        active: run !== undefined,
        growing: run?.timer !== undefined,
        mbPerSecond: run?.params.mbPerSecond ?? null,
        maxMb: run?.params.maxMb ?? null,
        leakedBytes: memory.bytes,
        startedAt: run ? new Date(run.startedAt).toISOString() : null,
      };
    },
  };
}
