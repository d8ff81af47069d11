// What a benchmark reports: figures, each with the budget a user cares about and whether it was kept; a figure
// measured side by side also carries both sides (selfheal and its baseline, from the same run).
import { z } from 'zod';

export const comparisonSchema = z.enum(['<', '≤', '>', '≥']);
export const targetSchema = z.object({ op: comparisonSchema, value: z.number() });
// 'shown': a figure with no target, shown for comparison.
export const verdictSchema = z.enum(['pass', 'MISS', 'no value', 'shown']);

// JSON has no NaN: a value that was not measured is stored as null.
const measured = z.number().nullable();

/** One side of a figure measured side by side: its median, its spread (p25–p75) and its tail (p99). */
export const sideSchema = z.object({
  label: z.string(),
  unit: z.string(),
  n: z.number(),
  median: measured,
  p25: measured,
  p75: measured,
  p99: measured,
});

export const figureSchema = z.object({
  metric: z.string(),
  value: measured,
  unit: z.string(),
  // null: shown for comparison, no target.
  target: targetSchema.nullable(),
  verdict: verdictSchema,
  // [selfheal, its baseline], both measured in the same run, in turn; or selfheal's alone.
  sides: z.union([z.tuple([sideSchema, sideSchema]), z.tuple([sideSchema])]).optional(),
  // One of the figures the results and the README open with.
  headline: z.boolean().optional(),
});

export type Target = z.infer<typeof targetSchema>;
export type Verdict = z.infer<typeof verdictSchema>;
export type Side = z.infer<typeof sideSchema>;
export type Figure = z.infer<typeof figureSchema>;

export function judge(value: number | null, target: Target | null): Verdict {
  if (target === null) return 'shown';
  if (value === null) return 'no value';
  const kept = {
    '<': value < target.value,
    '≤': value <= target.value,
    '>': value > target.value,
    '≥': value >= target.value,
  }[target.op];
  return kept ? 'pass' : 'MISS';
}

/** A measured value against its budget; NaN (not measured, not printed) becomes null, "no value". */
export function figure(
  budget: { metric: string; unit: string; target: Target | null },
  value: number,
  metric = budget.metric,
): Figure {
  const rounded = roundOrNull(value);
  return {
    metric,
    value: rounded,
    unit: budget.unit,
    target: budget.target,
    verdict: judge(rounded, budget.target),
  };
}

export function roundOrNull(value: number): number | null {
  return Number.isFinite(value) ? round(value) : null;
}

// Three significant digits, never rounding away a whole part: 1234 ms, 12.3 ms, 1.23 ms, 0.123.
function round(value: number): number {
  const size = Math.abs(value);
  return Number(value.toFixed(size >= 100 ? 0 : size >= 10 ? 1 : size >= 1 ? 2 : 3));
}

export function targetText(target: Target | null, unit: string): string {
  if (target === null) return '–';
  return `${target.op} ${target.value}${unit === '' ? '' : ` ${unit}`}`;
}
