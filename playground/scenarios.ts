// The failure scenarios: what each injects into one pod, which alert must fire, and which action must heal it.
export const SCENARIO_NAMES = ['memory-leak', 'crash-loop', 'errors', 'not-ready', 'cpu'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];
export type ActionName = 'restart-pod' | 'redeploy' | 'scale';
export type Profile = 'production' | 'fast';

export interface Scenario {
  name: ScenarioName;
  alertname: string;
  action: ActionName;
  /** The app's simulation endpoint and the body sent to it. */
  inject: (profile: Profile) => { path: string; body: Record<string, unknown> };
  /** How long, at most, from injection to healed before the scenario fails. */
  boundSeconds: Record<Profile, number>;
}

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  'memory-leak': {
    name: 'memory-leak',
    alertname: 'HighMemoryUsage',
    action: 'restart-pod',
    inject: () => ({ path: '/simulate/memory-leak', body: {} }),
    boundSeconds: { fast: 150, production: 420 },
  },
  'crash-loop': {
    name: 'crash-loop',
    alertname: 'PodCrashLooping',
    action: 'redeploy',
    inject: () => ({ path: '/simulate/crash', body: { loop: true } }),
    boundSeconds: { fast: 300, production: 720 },
  },
  errors: {
    name: 'errors',
    alertname: 'HighErrorRate',
    action: 'restart-pod',
    inject: () => ({ path: '/simulate/errors', body: {} }),
    boundSeconds: { fast: 150, production: 420 },
  },
  'not-ready': {
    name: 'not-ready',
    alertname: 'PodNotReady',
    action: 'restart-pod',
    inject: () => ({ path: '/simulate/not-ready', body: {} }),
    boundSeconds: { fast: 150, production: 480 },
  },
  cpu: {
    name: 'cpu',
    alertname: 'HighCPUUsage',
    action: 'scale',
    // The burn outlives detection and the scale-out, then ends so the alert can resolve. Two threads: the alert
    // needs 0.4 of a core (80 % of the 500m limit), which one thread no longer gets on a busy machine (two busy
    // loops beside it leave it about a third of a core); two keep a fair share of the cores above it. On a busy
    // machine the 1-minute rate also climbs slower (about 50 s to pass 0.4 at half a core), so the fast burn lasts
    // 120 s: ramp-up, the 24 s `for`, delivery and the scale-out all fit in it.
    inject: (profile) => ({
      path: '/simulate/cpu',
      body: { cores: 2, durationSeconds: profile === 'fast' ? 120 : 240 },
    }),
    boundSeconds: { fast: 330, production: 720 },
  },
};

// A failure no single action cures (playground/bad-release.ts): it walks the escalation chain to a human.
export const RELEASE_SCENARIO = 'bad-release';
export type RunnableScenario = ScenarioName | typeof RELEASE_SCENARIO;
export const RUNNABLE_SCENARIOS: readonly RunnableScenario[] = [...SCENARIO_NAMES, RELEASE_SCENARIO];

// `all` runs the bad release last: it opens the breaker, and then fixes and clears it.
export function parseScenarioNames(argument: string | undefined): RunnableScenario[] {
  if (argument === 'all') return [...RUNNABLE_SCENARIOS];
  if (argument && (RUNNABLE_SCENARIOS as readonly string[]).includes(argument))
    return [argument as RunnableScenario];
  throw new Error(
    `${argument ? `unknown scenario '${argument}'` : 'no scenario given'}: choose one of ${RUNNABLE_SCENARIOS.join(', ')}, or all`,
  );
}
