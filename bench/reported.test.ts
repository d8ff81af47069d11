// Reading the figures a side-by-side script reports back against their budgets.
import test from 'ava';
import type { FigureBudget } from './budgets.ts';
import { reportedFigures, reportLine, side } from './reported.ts';

const budget = (metric: string, op: '≤' | '<' | null, value = 0, headline = false): FigureBudget => ({
  metric,
  unit: '×',
  target: op === null ? null : { op, value },
  printed: undefined,
  headline,
});

test('a reported ratio is judged against its budget and keeps both sides', (t) => {
  const sides = [
    side('selfheal', 'ms', [110, 120, 130]),
    side('single call', 'ms', [100, 100, 100]),
  ] as const;
  const output = ['some progress', reportLine('cold ratio', 1.2, [...sides]), ''].join('\n');
  const [f] = reportedFigures(output, [budget('cold ratio', '≤', 1.2, true)]);
  t.like(f, { metric: 'cold ratio', value: 1.2, verdict: 'pass', headline: true });
  t.deepEqual(f?.sides?.[0], {
    label: 'selfheal',
    unit: 'ms',
    n: 3,
    median: 120,
    p25: 115,
    p75: 125,
    p99: 130,
  });
});

test('a figure the script did not report has no value, and a figure with no target is only shown', (t) => {
  const output = reportLine('shown', 3);
  const figures = reportedFigures(output, [budget('missing', '<', 2), budget('shown', null)]);
  t.like(figures[0], { value: null, verdict: 'no value' });
  t.like(figures[1], { value: 3, verdict: 'shown' });
});

test('a NaN is reported as not measured', (t) => {
  const [f] = reportedFigures(reportLine('ratio', Number.NaN), [budget('ratio', '≤', 3)]);
  t.like(f, { value: null, verdict: 'no value' });
});

test('a reported figure without a budget is refused, naming it', (t) => {
  t.throws(() => reportedFigures(reportLine('unknown', 1), [budget('known', '<', 1)]), {
    message: /no budget for the reported figure "unknown"/,
  });
});
