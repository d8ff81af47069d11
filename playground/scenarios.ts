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
    // The burn outlives detection and the scale-out, then ends so the alert can resolve.
    inject: (profile) => ({
      path: '/simulate/cpu',
      body: { cores: 1, durationSeconds: profile === 'fast' ? 60 : 240 },
    }),
    boundSeconds: { fast: 240, production: 720 },
  },
};

export function parseScenarioNames(argument: string | undefined): ScenarioName[] {
  if (argument === 'all') return [...SCENARIO_NAMES];
  if (argument && (SCENARIO_NAMES as readonly string[]).includes(argument)) return [argument as ScenarioName];
  throw new Error(
    `${argument ? `unknown scenario '${argument}'` : 'no scenario given'}: choose one of ${SCENARIO_NAMES.join(', ')}, or all`,
  );
}
