// What earlier attempts of an Alertmanager notification already settled, and what a concurrent attempt is
// delivering right now, so that a retry (after the router answered 503, or while Alertmanager has given up on a
// call the router is still finishing) re-sends only what is left and a storm makes progress from attempt to
// attempt. Process memory, bounded: an optimisation, not the record of what was done. That record is the actions'
// ledger, keyed by the same event ids, which makes a re-send harmless when this replica has forgotten or another
// one takes the retry.
import type { Webhook } from '../lib/alertmanager.ts';

// Enough for several storm groups of max_alerts each; an entry is a few hundred bytes.
export const PROGRESS_MAX_EVENTS = 10_000;
// A notification still failing is retried at every group_interval; one not seen for an hour has been given up
// (resolved, or its retries go to another replica).
export const PROGRESS_TTL_MS = 3_600_000;

// The part of a delivery worth repeating in the answer: accepted or rejected, and what the action said.
export type SettledDelivery = {
  outcome: 'accepted' | 'rejected';
  httpStatus: number;
  reason?: string;
  result?: string;
  // The next steps the actions handed on (escalation).
  escalatedTo?: readonly string[];
};

export type Progress = {
  // The deliveries settled by earlier attempts of this notification (by event id).
  recall(key: string): ReadonlyMap<string, SettledDelivery> | undefined;
  remember(key: string, settled: ReadonlyMap<string, SettledDelivery>): void;
  // The notification succeeded: its next notification (a repeat) sends everything again.
  forget(key: string): void;
  // Marks an event as being delivered; false when another attempt of the notification is delivering it.
  claim(key: string, id: string): boolean;
  release(key: string, id: string): void;
  size(): number;
};

type Group = { touched: number; events: Map<string, SettledDelivery> };

// The same notification across retries: the receiver and Alertmanager's group key (stable for a group).
export function notificationKey(webhook: Webhook): string | undefined {
  return webhook.groupKey ? `${webhook.receiver}\n${webhook.groupKey}` : undefined;
}

export function createProgress({
  maxEvents = PROGRESS_MAX_EVENTS,
  ttlMs = PROGRESS_TTL_MS,
  now = Date.now,
}: {
  maxEvents?: number;
  ttlMs?: number;
  now?: () => number;
} = {}): Progress {
  // Oldest touched first (a group is re-inserted when touched).
  const groups = new Map<string, Group>();
  let events = 0;
  // Events being delivered, by notification: at most the delivery concurrency per attempt in progress.
  const claimed = new Map<string, Set<string>>();

  const drop = (key: string) => {
    const group = groups.get(key);
    if (!group) return;
    events -= group.events.size;
    groups.delete(key);
  };
  const expire = () => {
    const oldest = now() - ttlMs;
    for (const [key, group] of groups) {
      if (group.touched >= oldest) break;
      drop(key);
    }
  };

  return {
    recall(key) {
      expire();
      return groups.get(key)?.events;
    },
    remember(key, settled) {
      expire();
      const group = groups.get(key) ?? { touched: 0, events: new Map<string, SettledDelivery>() };
      groups.delete(key);
      group.touched = now();
      groups.set(key, group);
      for (const [id, delivery] of settled) {
        if (group.events.has(id)) continue;
        // Make room by forgetting the least recently touched other notifications; never more than the bound.
        for (const [other] of groups) {
          if (events < maxEvents || other === key) break;
          drop(other);
        }
        if (events >= maxEvents) break;
        group.events.set(id, delivery);
        events++;
      }
    },
    forget: drop,
    claim(key, id) {
      const ids = claimed.get(key) ?? new Set<string>();
      if (ids.has(id)) return false;
      ids.add(id);
      claimed.set(key, ids);
      return true;
    },
    release(key, id) {
      const ids = claimed.get(key);
      ids?.delete(id);
      if (ids?.size === 0) claimed.delete(key);
    },
    size: () => events,
  };
}
