// The in-cluster record: dedupe by event id, the lease of an unfinished claim, cooldown and budget.
import test from 'ava';
import {
  type ActionRecord,
  checkLedger,
  claimAnnotations,
  doneAnnotations,
  HISTORY_ANNOTATION,
  HISTORY_MAX_ENTRIES,
  LAST_ACTION_ANNOTATION,
  readLedger,
} from './ledger.ts';

const policy = { cooldownSeconds: 300, budget: { max: 3, windowSeconds: 3600 }, leaseSeconds: 60 };
const now = new Date('2026-11-26T12:00:00Z');
const ago = (s: number) => new Date(now.getTime() - s * 1000).toISOString();
const record = (over: Partial<ActionRecord> = {}): ActionRecord => ({
  id: 'a1',
  action: 'restart-pod',
  target: 'demo/Pod/web-1',
  state: 'pending',
  at: ago(10),
  ...over,
});

test('an empty or hand-mangled record lets the action proceed', (t) => {
  t.deepEqual(checkLedger(readLedger(undefined), { id: 'x', action: 'scale', now }, policy), {
    kind: 'proceed',
  });
  const mangled = readLedger({ [LAST_ACTION_ANNOTATION]: '{not json', [HISTORY_ANNOTATION]: '[{"id":1}]' });
  t.deepEqual(mangled, { last: undefined, history: [] });
});

test('an event id already done is skipped, whether last or in the history', (t) => {
  const ledger = {
    last: record({ state: 'done' }),
    history: [{ id: 'old', action: 'scale' as const, at: ago(7200) }],
  };
  t.is(checkLedger(ledger, { id: 'a1', action: 'restart-pod', now }, policy).kind, 'skip');
  const verdict = checkLedger(ledger, { id: 'old', action: 'scale', now }, policy);
  t.like(verdict, { kind: 'skip', reason: 'already-done' });
});

test('a pending claim of the same event answers in-progress within the lease, resume after it', (t) => {
  t.is(
    checkLedger({ last: record(), history: [] }, { id: 'a1', action: 'restart-pod', now }, policy).kind,
    'in-progress',
  );
  const stale = checkLedger(
    { last: record({ at: ago(120) }), history: [] },
    { id: 'a1', action: 'restart-pod', now },
    policy,
  );
  t.is(stale.kind, 'resume');
});

test('another event is skipped as busy while a claim is pending, free once it expired or failed', (t) => {
  t.like(checkLedger({ last: record(), history: [] }, { id: 'b2', action: 'redeploy', now }, policy), {
    kind: 'skip',
    reason: 'busy',
  });
  t.is(
    checkLedger(
      { last: record({ at: ago(120) }), history: [] },
      { id: 'b2', action: 'redeploy', now },
      policy,
    ).kind,
    'proceed',
  );
  t.is(
    checkLedger(
      { last: record({ state: 'failed' }), history: [] },
      { id: 'b2', action: 'redeploy', now },
      policy,
    ).kind,
    'proceed',
  );
});

test('cooldown applies per action; the budget across actions', (t) => {
  const history = [{ id: 'h1', action: 'restart-pod' as const, at: ago(100) }];
  const cooling = checkLedger({ last: undefined, history }, { id: 'n', action: 'restart-pod', now }, policy);
  t.like(cooling, { kind: 'skip', reason: 'cooldown' });
  t.regex((cooling as { message: string }).message, /next allowed after 2026-11-26T12:03:20.000Z/);
  t.is(checkLedger({ last: undefined, history }, { id: 'n', action: 'scale', now }, policy).kind, 'proceed');
  const busy = [
    { id: 'h1', action: 'restart-pod' as const, at: ago(1000) },
    { id: 'h2', action: 'redeploy' as const, at: ago(2000) },
    { id: 'h3', action: 'scale' as const, at: ago(3000) },
  ];
  t.like(checkLedger({ last: undefined, history: busy }, { id: 'n', action: 'scale', now }, policy), {
    kind: 'skip',
    reason: 'budget-exhausted',
  });
  const older = busy.map((e, i) => (i === 2 ? { ...e, at: ago(4000) } : e));
  t.is(
    checkLedger({ last: undefined, history: older }, { id: 'n', action: 'scale', now }, policy).kind,
    'proceed',
  );
});

test('marking done records the id in a trimmed history', (t) => {
  const history = [
    { id: 'ancient', action: 'scale' as const, at: ago(200_000) },
    { id: 'recent', action: 'scale' as const, at: ago(60) },
  ];
  const annotations = doneAnnotations({ last: undefined, history }, record(), now, policy);
  const after = readLedger(annotations);
  t.is(after.last?.state, 'done');
  t.deepEqual(
    after.history.map((e) => e.id),
    ['recent', 'a1'],
  );
  t.like(checkLedger(after, { id: 'a1', action: 'restart-pod', now }, policy), {
    kind: 'skip',
    reason: 'already-done',
  });
});

test('a failed claim of the same event is replayed, not planned anew; an id of another action is another event', (t) => {
  const failed = record({ id: 's1', action: 'scale', state: 'failed', detail: { to: 3 } });
  t.like(checkLedger({ last: failed, history: [] }, { id: 's1', action: 'scale', now }, policy), {
    kind: 'resume',
    record: { id: 's1', detail: { to: 3 } },
  });
  const pending = record({ id: 'x1', action: 'restart-pod', at: ago(120) });
  t.not(
    checkLedger({ last: pending, history: [] }, { id: 'x1', action: 'scale', now }, policy).kind,
    'resume',
  );
  const history = [{ id: 'x1', action: 'restart-pod' as const, at: ago(7200) }];
  t.not(checkLedger({ last: undefined, history }, { id: 'x1', action: 'scale', now }, policy).kind, 'skip');
});

test('a cooldown or a window longer than a day keeps the actions it counts', (t) => {
  const week = 7 * 86_400;
  const history = [{ id: 'two-days', action: 'restart-pod' as const, at: ago(2 * 86_400) }];
  // The ledger once a scale finishes, under `rules`.
  const afterScale = (rules: typeof policy) =>
    readLedger(
      doneAnnotations({ last: undefined, history }, record({ id: 's', action: 'scale' }), now, rules),
    );
  const long = { ...policy, cooldownSeconds: week };
  // Another action finishes: the restart two days ago stays, and still holds restart-pod back.
  const after = afterScale(long);
  t.deepEqual(
    after.history.map((e) => e.id),
    ['two-days', 's'],
  );
  t.like(checkLedger(after, { id: 'n', action: 'restart-pod', now }, long), {
    kind: 'skip',
    reason: 'cooldown',
  });
  const wide = { ...policy, budget: { max: 2, windowSeconds: week } };
  const counted = afterScale(wide);
  t.like(checkLedger(counted, { id: 'n', action: 'redeploy', now }, wide), {
    kind: 'skip',
    reason: 'budget-exhausted',
  });
  // With the day's default, the same entry is dropped.
  const daily = afterScale(policy);
  t.deepEqual(
    daily.history.map((e) => e.id),
    ['s'],
  );
});

test('the history keeps the newest entries up to its bound, which no budget exceeds', (t) => {
  const history = Array.from({ length: HISTORY_MAX_ENTRIES }, (_, i) => ({
    id: `h${i}`,
    action: 'scale' as const,
    at: ago(HISTORY_MAX_ENTRIES - i),
  }));
  const after = readLedger(doneAnnotations({ last: undefined, history }, record({ id: 'new' }), now, policy));
  t.is(after.history.length, HISTORY_MAX_ENTRIES);
  t.is(after.history[0]?.id, 'h1', 'the oldest went');
  t.is(after.history.at(-1)?.id, 'new');
});

test("a claim that replaces another event's unfinished claim keeps it: that event is never acted on again, and it counts", (t) => {
  for (const state of ['failed', 'pending'] as const) {
    // Event a1's scale was claimed and left unfinished (it may have scaled); b2 claims the workload next.
    const left = record({ id: 'a1', action: 'scale', state, at: ago(120), detail: { to: 3 } });
    const ledger = { last: left, history: [] };
    t.is(checkLedger(ledger, { id: 'b2', action: 'redeploy', now }, policy).kind, 'proceed', state);
    const claimed = readLedger(
      claimAnnotations(ledger, record({ id: 'b2', action: 'redeploy', at: now.toISOString() }), now, policy),
    );
    t.is(claimed.last?.id, 'b2');
    const again = checkLedger(claimed, { id: 'a1', action: 'scale', now }, policy);
    t.like(again, { kind: 'skip', reason: 'already-done' }, `a1 redelivered after b2 claimed (${state})`);
    t.regex((again as { message: string }).message, new RegExp(`left ${state}, it may have taken effect`));
    t.like(
      checkLedger(claimed, { id: 'c3', action: 'scale', now }, { ...policy, leaseSeconds: 0 }),
      { kind: 'skip', reason: 'cooldown' },
      'the unfinished scale counts for the cooldown',
    );
    // And it survives b2 being marked done.
    const done = readLedger(doneAnnotations(claimed, claimed.last as ActionRecord, now, policy));
    t.deepEqual(
      done.history.map((e) => [e.id, e.superseded]),
      [
        ['a1', state],
        ['b2', undefined],
      ],
    );
  }
  // A claim replacing a finished record, or its own, adds nothing.
  const finished = { last: record({ state: 'done' }), history: [] };
  t.false(HISTORY_ANNOTATION in claimAnnotations(finished, record({ id: 'b2' }), now, policy));
  const own = { last: record({ state: 'failed' }), history: [] };
  t.false(HISTORY_ANNOTATION in claimAnnotations(own, record({ state: 'pending' }), now, policy));
});
