// The router's memory of what earlier attempts of a notification settled: recalled for the same notification,
// forgotten when it succeeds, expired, and bounded.
import test from 'ava';
import { createProgress, notificationKey, type SettledDelivery } from './progress.ts';

const accepted: SettledDelivery = { outcome: 'accepted', httpStatus: 200, result: 'applied' };
const settled = (...ids: string[]) => new Map(ids.map((id) => [id, accepted] as const));

test('a notification is known by its receiver and group key', (t) => {
  const webhook = { receiver: 'selfheal-router', groupKey: '{}/{action=~".+"}:{alertname="X"}' };
  t.is(notificationKey(webhook as never), 'selfheal-router\n{}/{action=~".+"}:{alertname="X"}');
  t.is(notificationKey({ receiver: 'r' } as never), undefined, 'no group key, no memory');
});

test('recalls what earlier attempts settled, adds to it, and forgets it once the notification succeeded', (t) => {
  const progress = createProgress();
  progress.remember('g', settled('a', 'b'));
  progress.remember('g', settled('b', 'c'));
  t.deepEqual([...(progress.recall('g')?.keys() ?? [])], ['a', 'b', 'c']);
  t.is(progress.recall('other'), undefined);
  progress.forget('g');
  t.is(progress.recall('g'), undefined);
  t.is(progress.size(), 0);
});

test('a notification not seen for the time to live is forgotten', (t) => {
  let now = 0;
  const progress = createProgress({ ttlMs: 1000, now: () => now });
  progress.remember('old', settled('a'));
  now = 600;
  progress.remember('recent', settled('b'));
  now = 1200;
  t.is(progress.recall('old'), undefined);
  t.truthy(progress.recall('recent'));
  t.is(progress.size(), 1);
});

test('never holds more than its bound: the least recently touched notifications go first', (t) => {
  let now = 0;
  const progress = createProgress({ maxEvents: 4, now: () => now++ });
  progress.remember('first', settled('a', 'b'));
  progress.remember('second', settled('c', 'd'));
  progress.remember('first', settled('e'));
  t.is(progress.size(), 3, 'second (two events) gave way to first');
  t.is(progress.recall('second'), undefined);
  progress.remember('third', settled('f', 'g', 'h', 'i', 'j'));
  t.is(progress.size(), 4);
  t.is(progress.recall('first'), undefined);
  t.deepEqual([...(progress.recall('third')?.keys() ?? [])], ['f', 'g', 'h', 'i']);
});

test('an event being delivered by one attempt is refused to a concurrent one until released', (t) => {
  const progress = createProgress();
  t.true(progress.claim('g', 'a'));
  t.false(progress.claim('g', 'a'), 'another attempt of the same notification');
  t.true(progress.claim('other', 'a'), 'another notification');
  progress.release('g', 'a');
  t.true(progress.claim('g', 'a'));
});
