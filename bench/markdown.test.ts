// How results.md shows a figure measured side by side: both sides' medians and spreads, the ratio, the target, and
// the headline table with the load each area ran under.
import test from 'ava';
import type { Figure } from './figures.ts';
import { headlineMarkdown, sideBySideLine, sideText } from './markdown.ts';
import type { AreaResult } from './results.ts';

const ratio: Figure = {
  metric: 'scale: cold remediation, × the single-call function',
  value: 1.13,
  unit: '×',
  target: { op: '≤', value: 1.2 },
  verdict: 'pass',
  headline: true,
  sides: [
    { label: 'selfheal', unit: 'ms', n: 5, median: 412, p25: 398, p75: 450, p99: 460 },
    { label: 'single call', unit: 'ms', n: 5, median: 365, p25: 350, p75: 380, p99: 391 },
  ],
};

const area = (figures: Figure[]): AreaResult => ({
  name: 'cold',
  title: 'Cold remediation',
  command: 'node bench/cold.ts',
  budgets: 'why',
  measuredAt: '2026-12-02T09:00:00.000Z',
  loadAverageAtStart: [3, 2, 1],
  loadAverageDuring: { min: 2.5, mean: 3.1, max: 4 },
  seconds: 100,
  quick: false,
  figures,
});

test('a side is its median, its spread, its tail and how many were measured', (t) => {
  t.is(sideText(ratio.sides?.[0] as never), '412 ms (398–450), p99 460, n 5');
});

test('the printed line gives the ratio with both sides and the verdict', (t) => {
  t.is(
    sideBySideLine(ratio),
    'scale: cold remediation, × the single-call function: 1.13 × (selfheal 412 ms (398–450), p99 460, n 5; ' +
      'single call 365 ms (350–380), p99 391, n 5), target ≤ 1.2 ×: pass',
  );
});

test('the headline table holds only headline figures, each with its area and the load it ran under', (t) => {
  const shown: Figure = {
    ...ratio,
    metric: 'not a headline',
    headline: false,
    target: null,
    verdict: 'shown',
  };
  const lines = headlineMarkdown([area([ratio, shown])]);
  const rows = lines.filter((l) => l.startsWith('| scale') || l.startsWith('| not'));
  t.is(rows.length, 1);
  t.regex(rows[0] as string, /\*\*1\.13 ×\*\*/);
  t.regex(rows[0] as string, /single call: 365 ms \(350–380\)/);
  t.regex(rows[0] as string, /2\.5–4 \(mean 3\.1\)/);
});
