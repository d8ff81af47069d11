// The optional "for how long" every time-limited simulation accepts, and the timer that ends it.
import { z } from 'zod';

const week = 7 * 24 * 3600;

/** Seconds; fractions are allowed (short runs in tests). */
export const durationSeconds = z.number().positive().max(week);

export interface Expiry {
  timer: NodeJS.Timeout;
  until: number;
}

/** Calls `end` after `seconds`; the timer never keeps the process alive on its own. */
export function expireAfter(seconds: number, end: () => void): Expiry {
  return { timer: setTimeout(end, seconds * 1000).unref(), until: Date.now() + seconds * 1000 };
}

export function untilIso(expiry: Expiry | undefined): string | null {
  return expiry ? new Date(expiry.until).toISOString() : null;
}
