// The side-by-side statistics: quantiles, summaries, ratios and the order the sides are measured in.
import test from 'ava';
import { alternate, median, quantile, ratio, summarize, turns } from './stats.ts';

test('the median of an odd sample is its middle value, of an even one the mean of the middle two', (t) => {
  t.is(median([5, 1, 3]), 3);
  t.is(median([4, 1, 3, 2]), 2.5);
  t.true(Number.isNaN(median([])));
});

test('quantiles interpolate between the closest ranks, from the minimum to the maximum', (t) => {
  const values = [10, 20, 30, 40, 50];
  t.is(quantile(values, 0), 10);
  t.is(quantile(values, 0.25), 20);
  t.is(quantile(values, 0.75), 40);
  t.is(quantile(values, 1), 50);
  t.is(quantile([1, 2], 0.5), 1.5);
  t.true(Number.isNaN(quantile(values, 1.5)));
});

test('a summary gives the median, the interquartile spread and the tail, whatever the order measured', (t) => {
  const values = Array.from({ length: 100 }, (_, i) => 100 - i);
  const s = summarize(values);
  t.is(s.n, 100);
  t.is(s.median, 50.5);
  t.is(s.p25, 25.75);
  t.is(s.p75, 75.25);
  t.is(Math.round(s.p99 * 100) / 100, 99.01);
  t.is(s.min, 1);
  t.is(s.max, 100);
});

test('a ratio is NaN when a side is missing or the baseline is zero', (t) => {
  t.is(ratio(6, 4), 1.5);
  t.true(Number.isNaN(ratio(Number.NaN, 4)));
  t.true(Number.isNaN(ratio(6, 0)));
});

test('two sides take turns, the first of each round alternating', (t) => {
  t.deepEqual(turns(['a', 'b'], 3), ['a', 'b', 'b', 'a', 'a', 'b']);
});

test('three sides rotate, so each goes first as often and none always follows the same one', (t) => {
  t.deepEqual(turns(['a', 'b', 'c'], 3), ['a', 'b', 'c', 'b', 'c', 'a', 'c', 'a', 'b']);
});

test('alternate measures each side once a round, in turn, and keeps each side’s values in the order taken', async (t) => {
  const calls: string[] = [];
  const values = await alternate(['product', 'baseline'], 2, async (side, round) => {
    calls.push(`${side}${round}`);
    return side === 'product' ? 10 + round : round;
  });
  t.deepEqual(calls, ['product0', 'baseline0', 'baseline1', 'product1']);
  t.deepEqual(values, { product: [10, 11], baseline: [0, 1] });
});
