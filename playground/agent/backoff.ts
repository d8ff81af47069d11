// Restart back-off with the kubelet's rules (client-go flowcontrol.Backoff): the first restart is immediate,
// then the wait doubles from the base to the cap, and it starts over once a container ran for twice the cap.

export type BackOffOptions = { initialMs: number; maxMs: number };

export const KUBELET_BACKOFF: BackOffOptions = { initialMs: 10_000, maxMs: 300_000 };

type Entry = { backoffMs: number; lastUpdate: number };

export class BackOff {
  readonly #options: BackOffOptions;
  readonly #entries = new Map<string, Entry>();

  constructor(options: BackOffOptions = KUBELET_BACKOFF) {
    this.#options = options;
  }

  /**
   * How long to wait before restarting after the container `key` finished at `finishedAt` (ms epoch), given the
   * time now. 0 means restart now; the restart is then recorded, so the next failure waits longer.
   */
  delay(key: string, finishedAt: number, now: number): number {
    const entry = this.#entries.get(key);
    if (entry && !this.#expired(entry, finishedAt)) {
      const remaining = entry.backoffMs - (now - finishedAt);
      if (remaining > 0) return remaining;
    }
    this.#next(key, finishedAt);
    return 0;
  }

  /** The wait the next failure of `key` would get, for messages such as "back-off 20s restarting ...". */
  current(key: string): number {
    return this.#entries.get(key)?.backoffMs ?? 0;
  }

  forget(key: string): void {
    this.#entries.delete(key);
  }

  #expired(entry: Entry, eventTime: number): boolean {
    return eventTime - entry.lastUpdate > 2 * this.#options.maxMs;
  }

  #next(key: string, eventTime: number): void {
    const entry = this.#entries.get(key);
    if (!entry || this.#expired(entry, eventTime)) {
      this.#entries.set(key, { backoffMs: this.#options.initialMs, lastUpdate: eventTime });
      return;
    }
    entry.backoffMs = Math.min(entry.backoffMs * 2, this.#options.maxMs);
    entry.lastUpdate = eventTime;
  }
}
