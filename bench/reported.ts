// The figures a side-by-side script reports, one line `figure {json}` each, and how the benchmark that ran the script
// reads them back against bench/budgets.yaml.
import { z } from 'zod';
import type { FigureBudget } from './budgets.ts';
import { type Figure, figure, roundOrNull, type Side, sideSchema } from './figures.ts';
import { type Summary, summarize } from './stats.ts';

const PREFIX = 'figure ';

const reportedSchema = z.object({
  metric: z.string(),
  value: z.number().nullable(),
  sides: z.union([z.tuple([sideSchema, sideSchema]), z.tuple([sideSchema])]).optional(),
});
export type Reported = z.infer<typeof reportedSchema>;

/** One side of a figure from its values (or their summary): median, p25–p75 and p99, rounded. */
export function side(label: string, unit: string, values: readonly number[] | Summary): Side {
  const s = 'median' in values ? values : summarize(values);
  return {
    label,
    unit,
    n: s.n,
    median: roundOrNull(s.median),
    p25: roundOrNull(s.p25),
    p75: roundOrNull(s.p75),
    p99: roundOrNull(s.p99),
  };
}

/** The line a script prints for a figure (NaN becomes null: not measured). */
export function reportLine(metric: string, value: number, sides?: [Side, Side] | [Side]): string {
  const reported: Reported = {
    metric,
    value: Number.isFinite(value) ? value : null,
    ...(sides ? { sides } : {}),
  };
  return `${PREFIX}${JSON.stringify(reported)}`;
}

/** Whether a line of a script's output is a reported figure (not worth showing as progress). */
export const isReportLine = (line: string): boolean => line.startsWith(PREFIX);

/**
 * A figure for every budget, in the budgets' order, from the lines `output` holds ("no value" when the script did
 * not report it). A reported figure without a budget is a mistake in bench/.
 */
export function reportedFigures(output: string, budgets: readonly FigureBudget[]): Figure[] {
  const reported = new Map<string, Reported>();
  for (const line of output.split('\n')) {
    if (!line.startsWith(PREFIX)) continue;
    const parsed = reportedSchema.parse(JSON.parse(line.slice(PREFIX.length)));
    if (!budgets.some((b) => b.metric === parsed.metric)) {
      throw new Error(`bench/budgets.yaml has no budget for the reported figure "${parsed.metric}"`);
    }
    reported.set(parsed.metric, parsed);
  }
  return budgets.map((budget) => {
    const found = reported.get(budget.metric);
    const measured = figure(budget, found?.value ?? Number.NaN);
    return {
      ...measured,
      ...(found?.sides ? { sides: found.sides } : {}),
      ...(budget.headline ? { headline: true } : {}),
    };
  });
}
