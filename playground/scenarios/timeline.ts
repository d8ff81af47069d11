// A scenario's timeline: each line it prints, stamped with the seconds since the failure went in, and the loop's
// events (alerts, actions, pods) as they are seen from outside.
import type { KubeConfig } from '@kubernetes/client-node';
import { describe, type Observer, observe, type TimelineEvent } from '../observe.ts';
import type { PlaygroundState } from '../state.ts';
import type { Profile } from './catalog.ts';

export interface TimelineEntry {
  offsetSeconds: number;
  at: Date;
  line: string;
  event?: TimelineEvent;
}

export class Timeline {
  readonly entries: TimelineEntry[] = [];
  #injectedAt = new Date();
  readonly #print: (line: string) => void;

  constructor(print: (line: string) => void) {
    this.#print = print;
  }

  get injectedAt(): Date {
    return this.#injectedAt;
  }

  /** The failure goes in now: offsets count from here. */
  inject(): void {
    this.#injectedAt = new Date();
  }

  secondsSinceInjection(at = Date.now()): number {
    return (at - this.#injectedAt.getTime()) / 1000;
  }

  readonly note = (line: string, event?: TimelineEvent, at = new Date()): void => {
    const offsetSeconds = this.secondsSinceInjection(at.getTime());
    this.entries.push({ offsetSeconds, at, line, ...(event ? { event } : {}) });
    this.#print(`${at.toISOString().slice(11, 19)}  +${offsetSeconds.toFixed(1).padStart(6)}s  ${line}`);
  };

  /** Seconds from the injection to the first event `predicate` accepts, if one came. */
  first(predicate: (e: TimelineEvent) => boolean): number | undefined {
    return this.entries.find((entry) => entry.event && predicate(entry.event))?.offsetSeconds;
  }
}

/** Watches the loop around the playground's app and notes every event on `timeline`. */
export function followLoop(
  timeline: Timeline,
  kc: KubeConfig,
  state: PlaygroundState,
  profile: Profile,
): Promise<Observer> {
  return observe({
    kubeConfig: kc,
    prometheusUrl: state.prometheusUrl,
    namespaces: [state.appNamespace],
    alertPollMs: profile === 'fast' ? 500 : 2000,
    onEvent: (event) => timeline.note(describe(event), event, event.at),
  });
}
