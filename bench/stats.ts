// The statistics of a side-by-side benchmark: two sides measured in turn, each summed up by its median and spread,
// compared as the ratio of their medians.

/** A sample summed up: the median, the spread (interquartile range, p25–p75) and the tail. */
export interface Summary {
  n: number;
  median: number;
  p25: number;
  p75: number;
  p99: number;
  min: number;
  max: number;
}

/**
 * The q-quantile (0 ≤ q ≤ 1) by linear interpolation between the closest ranks (the estimate spreadsheets and
 * numpy use by default); NaN for no values.
 */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0 || !(q >= 0 && q <= 1)) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const lower = sorted[below] as number;
  const upper = sorted[Math.min(below + 1, sorted.length - 1)] as number;
  return lower + (upper - lower) * (position - below);
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);

export function summarize(values: readonly number[]): Summary {
  return {
    n: values.length,
    median: median(values),
    p25: quantile(values, 0.25),
    p75: quantile(values, 0.75),
    p99: quantile(values, 0.99),
    min: values.length === 0 ? Number.NaN : Math.min(...values),
    max: values.length === 0 ? Number.NaN : Math.max(...values),
  };
}

/** How many times the first is the second (NaN when either is missing or the second is zero). */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN;
}

/**
 * The order of `rounds` rounds of the sides, taken in turn, the first side rotating from round to round: for two,
 * A B, B A, A B, …; for three, A B C, B C A, C A B, … So no side always runs right after the same other one (a
 * process that just exited, a cache just warmed), and a load that rises or falls during the run hits all alike.
 */
export function turns<S extends string>(sides: readonly S[], rounds: number): S[] {
  const order: S[] = [];
  for (let round = 0; round < rounds; round++) {
    const first = round % sides.length;
    order.push(...sides.slice(first), ...sides.slice(0, first));
  }
  return order;
}

/** Runs `measure` for each side in turn (see turns) and collects each side's values in the order measured. */
export async function alternate<S extends string>(
  sides: readonly S[],
  rounds: number,
  measure: (side: S, round: number) => Promise<number>,
): Promise<Record<S, number[]>> {
  const values = Object.fromEntries(sides.map((side) => [side, [] as number[]])) as Record<S, number[]>;
  for (const [index, side] of turns(sides, rounds).entries()) {
    values[side].push(await measure(side, Math.floor(index / sides.length)));
  }
  return values;
}
