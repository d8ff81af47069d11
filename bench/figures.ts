// What a benchmark reports: figures, each with the budget a user cares about, and whether it was kept.
import { z } from 'zod';

export const comparisonSchema = z.enum(['<', '≤', '>', '≥']);
export const targetSchema = z.object({ op: comparisonSchema, value: z.number() });
export const verdictSchema = z.enum(['pass', 'MISS', 'no value']);
export const figureSchema = z.object({
  metric: z.string(),
  // JSON has no NaN: a figure that was not measured is stored as null.
  value: z.number().nullable(),
  unit: z.string(),
  target: targetSchema,
  verdict: verdictSchema,
});

export type Target = z.infer<typeof targetSchema>;
export type Verdict = z.infer<typeof verdictSchema>;
export type Figure = z.infer<typeof figureSchema>;

export function judge(value: number | null, target: Target): Verdict {
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
  budget: { metric: string; unit: string; target: Target },
  value: number,
  metric = budget.metric,
): Figure {
  const measured = Number.isFinite(value) ? round(value) : null;
  return {
    metric,
    value: measured,
    unit: budget.unit,
    target: budget.target,
    verdict: judge(measured, budget.target),
  };
}

// Three significant digits, never rounding away a whole part: 1234 ms, 12.3 ms, 1.23 ms, 0.123.
function round(value: number): number {
  const size = Math.abs(value);
  return Number(value.toFixed(size >= 100 ? 0 : size >= 10 ? 1 : size >= 1 ? 2 : 3));
}

export function targetText(target: Target, unit: string): string {
  return `${target.op} ${target.value}${unit === '' ? '' : ` ${unit}`}`;
}
