// The record of what selfheal did, kept in the Deployment's annotations so that it survives restarts and
// replicas: the last action (with its state) and a history of finished ones for dedupe, cooldown and budget.
import { z } from 'zod';
import { ACTIONS, type ActionName } from './events.ts';

export const LAST_ACTION_ANNOTATION = 'selfheal.dev/last-action';
export const HISTORY_ANNOTATION = 'selfheal.dev/history';

// Event ids are remembered this long (Alertmanager re-sends a still-firing alert every repeat_interval,
// 4h by default, with the same id), and at most this many.
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

const entrySchema = z.looseObject({ id: z.string(), action: z.enum(ACTIONS), at: z.string() });
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

// The annotations that mark `record` done and add it to the (trimmed) history.
export function doneAnnotations(ledger: Ledger, record: ActionRecord, now: Date): Record<string, string> {
  const finished: ActionRecord = { ...record, state: 'done', at: now.toISOString() };
  const entry: HistoryEntry = { id: record.id, action: record.action, at: finished.at };
  const history = [...ledger.history.filter((e) => e.id !== record.id), entry]
    .filter((e) => seconds(e.at, now) < HISTORY_RETENTION_SECONDS)
    .slice(-HISTORY_MAX_ENTRIES);
  return {
    [LAST_ACTION_ANNOTATION]: JSON.stringify(finished),
    [HISTORY_ANNOTATION]: JSON.stringify(history),
  };
}
