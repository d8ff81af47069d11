// The record of what selfheal did, kept in the Deployment's annotations so that it survives restarts and
// replicas: the last action (with its state) and a history of finished ones for dedupe, cooldown and budget.
import { z } from 'zod';
import { ACTIONS, type ActionName } from './events.ts';

export const LAST_ACTION_ANNOTATION = 'selfheal.dev/last-action';
export const HISTORY_ANNOTATION = 'selfheal.dev/history';

// Event ids are remembered at least this long (Alertmanager re-sends a still-firing alert every repeat_interval,
// 4h by default, with the same id), longer when a cooldown or the budget's window needs them, and at most this many:
// the budget is bounded by the same number (config.ts), so no action its window counts is ever dropped.
export const HISTORY_RETENTION_SECONDS = 86_400;
export const HISTORY_MAX_ENTRIES = 100;

export const RECORD_STATES = ['pending', 'done', 'failed'] as const;
export type RecordState = (typeof RECORD_STATES)[number];

// Loose objects: a field a later version adds survives a rewrite of the record.
const recordSchema = z.looseObject({
  id: z.string(),
  action: z.enum(ACTIONS),
  target: z.string(),
  state: z.enum(RECORD_STATES),
  at: z.string(),
  detail: z.record(z.string(), z.unknown()).optional(),
});
export type ActionRecord = z.infer<typeof recordSchema>;

// `superseded`: the state of a claim another event's claim replaced before it was finished (it may have taken effect).
const entrySchema = z.looseObject({
  id: z.string(),
  action: z.enum(ACTIONS),
  at: z.string(),
  superseded: z.enum(['pending', 'failed']).optional(),
});
export type HistoryEntry = z.infer<typeof entrySchema>;

export type Ledger = { last: ActionRecord | undefined; history: HistoryEntry[] };

function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// Malformed annotations (edited by hand) are ignored rather than blocking every action: a bad record as a
// whole, a bad history entry on its own.
export function readLedger(annotations: Record<string, string> | undefined): Ledger {
  const last = recordSchema.safeParse(parseJson(annotations?.[LAST_ACTION_ANNOTATION]));
  const history = z.array(z.unknown()).safeParse(parseJson(annotations?.[HISTORY_ANNOTATION]));
  return {
    last: last.success ? last.data : undefined,
    history: history.success
      ? history.data.flatMap((e) => {
          const entry = entrySchema.safeParse(e);
          return entry.success ? [entry.data] : [];
        })
      : [],
  };
}

export type LedgerPolicy = {
  cooldownSeconds: number;
  budget: { max: number; windowSeconds: number };
  leaseSeconds: number;
};

export type LedgerDecision =
  | { kind: 'proceed' }
  | { kind: 'resume'; record: ActionRecord }
  | { kind: 'in-progress'; message: string }
  | { kind: 'skip'; reason: 'already-done' | 'busy' | 'cooldown' | 'budget-exhausted'; message: string };

const seconds = (from: string, now: Date) => (now.getTime() - Date.parse(from)) / 1000;

// Decides, from the record alone, whether event `id` may act now.
export function checkLedger(
  ledger: Ledger,
  request: { id: string; action: ActionName; now: Date },
  policy: LedgerPolicy,
): LedgerDecision {
  const { id, action, now } = request;
  // An id is an event of one action: a plain request may carry any id, so match the action too.
  const done = ledger.history.find((e) => e.id === id && e.action === action);
  if (done?.superseded) {
    return {
      kind: 'skip',
      reason: 'already-done',
      message: `event ${id} was attempted at ${done.at} (left ${done.superseded}, it may have taken effect) and another action has run since; not acting on it again`,
    };
  }
  if (done)
    return {
      kind: 'skip',
      reason: 'already-done',
      message: `event ${id} was already acted on at ${done.at}`,
    };
  const last = ledger.last;
  const mine = last?.id === id && last.action === action;
  if (mine && last?.state === 'done') {
    return {
      kind: 'skip',
      reason: 'already-done',
      message: `event ${id} was already acted on at ${last.at}`,
    };
  }
  if (mine && last?.state === 'pending') {
    if (seconds(last.at, now) < policy.leaseSeconds) {
      return {
        kind: 'in-progress',
        message: `event ${id} is being acted on since ${last.at}; try again later`,
      };
    }
    return { kind: 'resume', record: last };
  }
  // A failed attempt may still have taken effect (e.g. the API server applied it, then the answer timed out):
  // the retry replays the same claim (same pod uid, same replica target) instead of planning anew.
  if (mine && last?.state === 'failed') return { kind: 'resume', record: last };
  if (last && last.id !== id && last.state === 'pending' && seconds(last.at, now) < policy.leaseSeconds) {
    return {
      kind: 'skip',
      reason: 'busy',
      message: `another action (${last.action} on ${last.target}) is in progress since ${last.at}`,
    };
  }
  const previous = ledger.history
    .filter((e) => e.action === action)
    .sort((a, b) => Date.parse(b.at) - Date.parse(a.at))[0];
  if (previous && seconds(previous.at, now) < policy.cooldownSeconds) {
    const next = new Date(Date.parse(previous.at) + policy.cooldownSeconds * 1000).toISOString();
    return {
      kind: 'skip',
      reason: 'cooldown',
      message: `${action} ran at ${previous.at}; cooldown ${policy.cooldownSeconds}s, next allowed after ${next}`,
    };
  }
  const recent = ledger.history.filter((e) => seconds(e.at, now) < policy.budget.windowSeconds).length;
  if (recent >= policy.budget.max) {
    return {
      kind: 'skip',
      reason: 'budget-exhausted',
      message: `${recent} actions in the last ${policy.budget.windowSeconds}s reach the budget of ${policy.budget.max}`,
    };
  }
  return { kind: 'proceed' };
}

export function recordAnnotation(record: ActionRecord): Record<string, string> {
  return { [LAST_ACTION_ANNOTATION]: JSON.stringify(record) };
}

/** How long the history must keep an entry: the event ids' day, or longer when the cooldown or the window is. */
export function retentionSeconds(policy: Pick<LedgerPolicy, 'cooldownSeconds' | 'budget'>): number {
  return Math.max(HISTORY_RETENTION_SECONDS, policy.cooldownSeconds, policy.budget.windowSeconds);
}

// The history with `entry` added, trimmed to what the policy still needs. The last record, when another event's
// claim replaces it unfinished, is kept as superseded: its event is never acted on again, and it counts for the
// cooldown and the budget.
function historyWith(
  ledger: Ledger,
  replacing: ActionRecord,
  entry: HistoryEntry | undefined,
  now: Date,
  policy: LedgerPolicy,
): HistoryEntry[] | undefined {
  const last = ledger.last;
  const superseded: HistoryEntry | undefined =
    last && last.id !== replacing.id && last.state !== 'done'
      ? { id: last.id, action: last.action, at: last.at, superseded: last.state }
      : undefined;
  const added = [superseded, entry].filter((e): e is HistoryEntry => e !== undefined);
  if (added.length === 0) return undefined;
  const keep = retentionSeconds(policy);
  return [...ledger.history.filter((e) => !added.some((a) => a.id === e.id)), ...added]
    .filter((e) => seconds(e.at, now) < keep)
    .slice(-HISTORY_MAX_ENTRIES);
}

// The annotations of a claim of `record`.
export function claimAnnotations(
  ledger: Ledger,
  record: ActionRecord,
  now: Date,
  policy: LedgerPolicy,
): Record<string, string> {
  const history = historyWith(ledger, record, undefined, now, policy);
  return {
    ...recordAnnotation(record),
    ...(history ? { [HISTORY_ANNOTATION]: JSON.stringify(history) } : {}),
  };
}

// The annotations that mark `record` done and add it to the (trimmed) history.
export function doneAnnotations(
  ledger: Ledger,
  record: ActionRecord,
  now: Date,
  policy: LedgerPolicy,
): Record<string, string> {
  const finished: ActionRecord = { ...record, state: 'done', at: now.toISOString() };
  const entry: HistoryEntry = { id: record.id, action: record.action, at: finished.at };
  return {
    [LAST_ACTION_ANNOTATION]: JSON.stringify(finished),
    [HISTORY_ANNOTATION]: JSON.stringify(historyWith(ledger, record, entry, now, policy)),
  };
}
