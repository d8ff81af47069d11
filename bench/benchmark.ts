// One benchmark area: how to run it and what it reports; its budgets come from bench/budgets.yaml.
import type { AreaBudgets } from './budgets.ts';
import type { Figure } from './figures.ts';

export interface RunContext {
  /** Fewer iterations, where the measurement takes a count. */
  quick: boolean;
  /** A progress line. */
  say: (line: string) => void;
  budgets: AreaBudgets;
}

export interface Benchmark {
  name: string;
  title: string;
  /** Rough duration of a full run in seconds, for the progress line. */
  seconds: number;
  /** Left out of `npm run bench` without names: it runs only when named (a long measurement of its own). */
  onlyByName?: boolean;
  /** The command that measures this area on its own, with the iterations of a full or a --quick run. */
  command(quick: boolean): string;
  run(context: RunContext): Promise<Figure[]>;
}
