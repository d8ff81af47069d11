// Reads figures out of what a measurement script prints, so the scripts themselves stay as they are.
import type { FigureBudget } from './budgets.ts';
import { type Figure, figure } from './figures.ts';

const NUMBER = String.raw`-?\d+(?:\.\d+)?|NaN`;
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A pattern from the text of a printed line: `#` stands where the number is, `~` where another number is that does
 * not matter here; the rest is matched literally.
 */
export function line(text: string): RegExp {
  const source = text
    .split('#')
    .map((part) => part.split('~').map(literal).join(`(?:${NUMBER})`))
    .join(`(${NUMBER})`);
  return new RegExp(source, 'm');
}

/** The first number `pattern` captures in `output`, NaN when the script did not print it. */
export function numberIn(output: string, pattern: RegExp): number {
  const captured = pattern.exec(output)?.[1];
  return captured === undefined ? Number.NaN : Number(captured);
}

/** Each budgeted figure, read from the line the budget names (no value when the script did not print it). */
export function printedFigures(output: string, budgets: readonly FigureBudget[]): Figure[] {
  return budgets.map((budget) =>
    figure(budget, budget.printed === undefined ? Number.NaN : numberIn(output, line(budget.printed))),
  );
}
