// The engine's admission, pure: opt-in first, then the ledger (exactly once, in progress, busy, cooldown, budget),
// for every action alike; no cluster.
import test from 'ava';
import { ago, deployment, record, snapshot } from '../snapshots.ts';
import { admit } from './engine.ts';
import type { Ledger } from './ledger.ts';

type Row = [
  title: string,
  shape: { optIn?: boolean; ledger?: Partial<Ledger>; id?: string },
  expected: object,
];

const done = { id: 'event-1', action: 'restart-pod' as const, at: ago(30) };
const rows: Row[] = [
  ['a fresh workload admits a new action', {}, { kind: 'new' }],
  [
    'a workload without the opt-in label is refused',
    { optIn: false },
    { kind: 'stop', outcome: 'refused', reason: 'not-opted-in' },
  ],
  [
    'the opt-in label is judged before the ledger',
    { optIn: false, ledger: { history: [done] } },
    { kind: 'stop', reason: 'not-opted-in' },
  ],
  [
    'an event already done is skipped',
    { ledger: { history: [done] } },
    { kind: 'stop', outcome: 'skipped', reason: 'already-done' },
  ],
  [
    'the same event claimed within its lease waits (503)',
    { ledger: { last: record({ state: 'pending', at: ago(5) }) } },
    { kind: 'wait', reason: 'in-progress' },
  ],
  [
    'another event claimed within its lease waits (503)',
    { id: 'event-2', ledger: { last: record({ state: 'pending', at: ago(5) }) } },
    { kind: 'wait', reason: 'busy' },
  ],
  [
    'the same event claimed past its lease is resumed',
    { ledger: { last: record({ state: 'pending', at: ago(120) }) } },
    { kind: 'resume', record: { id: 'event-1', state: 'pending' } },
  ],
  [
    'the same event whose attempt failed is resumed, not planned anew',
    { ledger: { last: record({ state: 'failed' }) } },
    { kind: 'resume', record: { id: 'event-1', state: 'failed' } },
  ],
  [
    'the same action within its cooldown is skipped',
    { id: 'event-2', ledger: { history: [done] } },
    { kind: 'stop', outcome: 'skipped', reason: 'cooldown' },
  ],
  [
    'six actions within the window reach the budget',
    {
      id: 'event-9',
      ledger: {
        history: Array.from({ length: 6 }, (_, i) => ({
          id: `old-${i}`,
          action: 'scale' as const,
          at: ago(400 + i),
        })),
      },
    },
    { kind: 'stop', outcome: 'skipped', reason: 'budget-exhausted' },
  ],
];

for (const [title, shape, expected] of rows) {
  test(`admission: ${title}`, (t) => {
    const s = snapshot({
      action: 'restart-pod',
      workload: deployment({ optIn: shape.optIn ?? true }),
      ...(shape.ledger ? { ledger: shape.ledger } : {}),
      ...(shape.id ? { id: shape.id } : {}),
      state: undefined,
    });
    t.like(admit(s), expected);
  });
}
