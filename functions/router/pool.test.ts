// Deliveries bounded in number and in time: order kept, the limit honoured, and an answer by the deadline that
// says what finished, what was abandoned in flight and what never started.
import test from 'ava';
import { mapUntil } from './pool.ts';

const never = new AbortController().signal;

test('keeps order and never runs more than the limit at once', async (t) => {
  let running = 0;
  let peak = 0;
  const out = await mapUntil([5, 1, 4, 2, 3], 2, never, async (n) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, n * 3));
    running--;
    return n * 10;
  });
  t.deepEqual(
    out,
    [50, 10, 40, 20, 30].map((value) => ({ state: 'done', value })),
  );
  t.is(peak, 2);
});

test('returns at the deadline even when the calls never settle, and says what was in flight', async (t) => {
  const deadline = new AbortController();
  let started = 0;
  const pending = mapUntil([1, 2, 3, 4, 5], 2, deadline.signal, async (n) => {
    started++;
    if (n === 1) return 'one';
    return new Promise<string>(() => {});
  });
  // Calls 1, 2 and 3 have started (1 finished at once), 2 and 3 hang: the deadline is the only way out.
  while (started < 3) await new Promise((r) => setImmediate(r));
  deadline.abort();
  const out = await pending;
  t.deepEqual(out, [
    { state: 'done', value: 'one' },
    { state: 'in-flight' },
    { state: 'in-flight' },
    { state: 'not-started' },
    { state: 'not-started' },
  ]);
  t.is(started, 3, 'nothing starts after the deadline');
});

test('hands the deadline to the calls so that they can abandon their work', async (t) => {
  const deadline = new AbortController();
  const abandoned: number[] = [];
  const pending = mapUntil([1, 2], 2, deadline.signal, (n, signal) => {
    return new Promise<number>((resolve) => {
      signal.addEventListener('abort', () => {
        abandoned.push(n);
        resolve(n);
      });
    });
  });
  deadline.abort();
  const out = await pending;
  t.deepEqual(abandoned.sort(), [1, 2]);
  t.deepEqual(
    out.map((s) => s.state),
    ['in-flight', 'in-flight'],
    'a value that arrives at the deadline is not reported as delivered',
  );
});

test('with the deadline already past, nothing starts', async (t) => {
  let calls = 0;
  const out = await mapUntil([1, 2], 4, AbortSignal.abort(), async () => ++calls);
  t.is(calls, 0);
  t.deepEqual(
    out.map((s) => s.state),
    ['not-started', 'not-started'],
  );
});

test('an empty list settles at once', async (t) => {
  t.deepEqual(await mapUntil([], 4, never, async () => 1), []);
});
