// The timing profiles: production's timings as its files state them, and the fast profile derived from them.
import { formatDuration, parseDuration } from '../duration.ts';
import { type AlertmanagerRoute, ROUTER_RECEIVER, type StackSource } from '../source.ts';

export const PROFILE_NAMES = ['production', 'fast'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/**
 * The accelerated profile: the same expressions, every `for` divided by FAST.forDivisor, short intervals.
 * A `for` that is not a whole number of evaluations is silently rounded up by Prometheus, so the divisor and the
 * evaluation interval are chosen to divide every production `for` exactly (1m → 12s, 2m → 24s).
 */
export const FAST = {
  scrapeInterval: 3,
  evaluationInterval: 3,
  forDivisor: 5,
  groupWait: 1,
  groupInterval: 5,
} as const;

/** Timings of a profile, in seconds. */
export interface Timing {
  scrapeInterval: number;
  evaluationInterval: number;
  groupWait: number;
  groupInterval: number;
  repeatInterval: number;
  /** The `for` of each alert, by alert name. */
  for: Record<string, number>;
}

// Alertmanager's own defaults, for values a route leaves unset.
const ALERTMANAGER_DEFAULTS = { group_wait: '30s', group_interval: '5m', repeat_interval: '4h' };

/** The route settings the router's alerts get: the root route's, overridden along the path to the router route. */
function routerRouteTiming(route: AlertmanagerRoute): {
  groupWait: number;
  groupInterval: number;
  repeatInterval: number;
} {
  const find = (
    node: AlertmanagerRoute,
    inherited: typeof ALERTMANAGER_DEFAULTS,
  ): typeof ALERTMANAGER_DEFAULTS | undefined => {
    const own = {
      group_wait: node.group_wait ?? inherited.group_wait,
      group_interval: node.group_interval ?? inherited.group_interval,
      repeat_interval: node.repeat_interval ?? inherited.repeat_interval,
    };
    if (node.receiver === ROUTER_RECEIVER) return own;
    for (const child of node.routes ?? []) {
      const found = find(child, own);
      if (found) return found;
    }
    return undefined;
  };
  const timing = find(route, ALERTMANAGER_DEFAULTS);
  if (!timing) throw new Error(`alertmanager.yml has no route to the ${ROUTER_RECEIVER} receiver`);
  return {
    groupWait: parseDuration(timing.group_wait),
    groupInterval: parseDuration(timing.group_interval),
    repeatInterval: parseDuration(timing.repeat_interval),
  };
}

/** The timings a profile runs with. Production timings are read from the production files. */
export function profileTiming(source: StackSource, profile: ProfileName): Timing {
  const global = source.prometheusConfig.global;
  const production: Timing = {
    scrapeInterval: parseDuration(global.scrape_interval ?? '1m'),
    evaluationInterval: parseDuration(global.evaluation_interval ?? '1m'),
    ...routerRouteTiming(source.alertmanagerConfig.route),
    for: Object.fromEntries(source.rules.map((rule) => [rule.alert, rule.for])),
  };
  if (profile === 'production') return production;
  if (profile !== 'fast')
    throw new Error(`unknown profile "${profile}"; use one of: ${PROFILE_NAMES.join(', ')}`);
  const fastFor: Record<string, number> = {};
  for (const [alert, seconds] of Object.entries(production.for)) {
    const shortened = seconds / FAST.forDivisor;
    if (!Number.isInteger(shortened / FAST.evaluationInterval)) {
      throw new Error(
        `the fast profile cannot shorten the for of ${alert} (${formatDuration(seconds)}): ${seconds}/${FAST.forDivisor} s is not a whole number of ${FAST.evaluationInterval} s evaluations`,
      );
    }
    fastFor[alert] = shortened;
  }
  return {
    scrapeInterval: FAST.scrapeInterval,
    evaluationInterval: FAST.evaluationInterval,
    groupWait: FAST.groupWait,
    groupInterval: FAST.groupInterval,
    repeatInterval: production.repeatInterval,
    for: fastFor,
  };
}
