// All failure simulations of one app instance: their controllers, one state snapshot, and reset.
import { existsSync } from 'node:fs';
import type { Logger } from '../log.ts';
import { type CpuBurn, type CpuState, createCpuBurn } from './cpu.ts';
import { crashLoopMarkerPath, removeCrashLoopMarker } from './crash.ts';
import { createErrorInjection, type ErrorInjection, type ErrorsState } from './errors.ts';
import { createMemoryLeak, type MemoryLeak, type MemoryLeakState } from './memory-leak.ts';
import { createNotReady, type NotReady, type NotReadyState } from './not-ready.ts';

/** Names used in URLs (`/simulate/<name>`), logs and the `simulation` metric label. */
export const simulationNames = ['memory-leak', 'crash-loop', 'errors', 'not-ready', 'cpu'] as const;
export type SimulationName = (typeof simulationNames)[number];

export interface SimulationsState {
  'memory-leak': MemoryLeakState;
  'crash-loop': { active: boolean; marker: string };
  errors: ErrorsState;
  'not-ready': NotReadyState;
  cpu: CpuState;
}

export interface Simulations {
  memoryLeak: MemoryLeak;
  errors: ErrorInjection;
  notReady: NotReady;
  cpu: CpuBurn;
  stateDir: string;
  state(): SimulationsState;
  active(): Record<SimulationName, boolean>;
  /** Ends every simulation, including the crash-loop marker; answers which ones were active. */
  reset(): SimulationName[];
  /** Stops timers, workers and retained memory (on shutdown); the crash-loop marker stays on purpose. */
  stop(): void;
}

export function createSimulations(options: { logger: Logger; stateDir: string }): Simulations {
  const { logger, stateDir } = options;
  const memoryLeak = createMemoryLeak(logger);
  const errors = createErrorInjection(logger);
  const notReady = createNotReady(logger);
  const cpu = createCpuBurn(logger);
  const markerPath = crashLoopMarkerPath(stateDir);

  function state(): SimulationsState {
    return {
      'memory-leak': memoryLeak.state(),
      'crash-loop': { active: existsSync(markerPath), marker: markerPath },
      errors: errors.state(),
      'not-ready': notReady.state(),
      cpu: cpu.state(),
    };
  }

  return {
    memoryLeak,
    errors,
    notReady,
    cpu,
    stateDir,
    state,
    active() {
      const now = state();
      return Object.fromEntries(simulationNames.map((name) => [name, now[name].active])) as Record<
        SimulationName,
        boolean
      >;
    },
    reset() {
      const ended: SimulationName[] = [];
      if (memoryLeak.stop()) ended.push('memory-leak');
      if (removeCrashLoopMarker(stateDir)) ended.push('crash-loop');
      if (errors.stop()) ended.push('errors');
      if (notReady.stop()) ended.push('not-ready');
      if (cpu.stop()) ended.push('cpu');
      return ended;
    },
    stop() {
      memoryLeak.stop();
      errors.stop();
      notReady.stop();
      cpu.stop();
    },
  };
}
