// The in-cluster record: dedupe by event id, the lease of an unfinished claim, cooldown and budget.
import test from 'ava';
import {
  type ActionRecord,
  checkLedger,
  doneAnnotations,
  HISTORY_ANNOTATION,
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
  const annotations = doneAnnotations({ last: undefined, history }, record(), now);
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
