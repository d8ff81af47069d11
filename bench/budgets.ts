// Reads bench/budgets.yaml: what each figure must stay within and why, and the line a script prints it on.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { comparisonSchema } from './figures.ts';

export const BUDGETS_PATH = join(import.meta.dirname, 'budgets.yaml');

const BUDGET = /^(\S+) (-?\d+(?:\.\d+)?)(?: (.+))?$/;
// `none <unit>`: shown for comparison, with no target.
const NONE = /^none(?: (.+))?$/;
const budgetSchema = z
  .string()
  .regex(
    new RegExp(`${BUDGET.source}|${NONE.source}`),
    'a budget is <, ≤, > or ≥, a number and a unit, e.g. "< 20 ms", or none and a unit',
  )
  .transform((text, ctx) => {
    const none = NONE.exec(text);
    if (none) return { target: null, unit: none[1] ?? '' };
    const [, op = '', value = '', unit = ''] = BUDGET.exec(text) ?? [];
    const comparison = comparisonSchema.safeParse(op);
    if (!comparison.success) {
      ctx.addIssue({ code: 'custom', message: `a budget starts with <, ≤, > or ≥, not ${op}` });
      return z.NEVER;
    }
    return { target: { op: comparison.data, value: Number(value) }, unit };
  });

const figureBudgetSchema = z
  .object({
    metric: z.string().min(1),
    budget: budgetSchema,
    printed: z.string().includes('#').optional(),
    headline: z.boolean().optional(),
  })
  .transform(({ metric, budget, printed, headline }) => ({ metric, ...budget, printed, headline }));

const areaBudgetsSchema = z.object({ why: z.string().min(1), figures: z.array(figureBudgetSchema).min(1) });

export type FigureBudget = z.infer<typeof figureBudgetSchema>;
export type AreaBudgets = z.infer<typeof areaBudgetsSchema>;

/** Every area's budgets; a clear error naming the entry when the file is not as described at its top. */
export function loadBudgets(path = BUDGETS_PATH): Record<string, AreaBudgets> {
  const parsed = z.record(z.string(), areaBudgetsSchema).safeParse(parse(readFileSync(path, 'utf8')));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`${path}: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** The budget of the figure named `metric` (a mistake in bench/ when there is none). */
export function budgetOf(area: AreaBudgets, metric: string): FigureBudget {
  const found = area.figures.find((f) => f.metric === metric);
  if (!found) throw new Error(`bench/budgets.yaml has no budget for "${metric}"`);
  return found;
}
