// The safety model as pure decisions: opt-in, namespace allow-list, ready-replica budget, scale ceiling.
export const OPT_IN_LABEL = 'selfheal.dev/enabled';
export const MAX_REPLICAS_ANNOTATION = 'selfheal.dev/max-replicas';
export const COOLDOWN_ANNOTATION = 'selfheal.dev/cooldown-seconds';

export type Refusal = { reason: string; message: string };

export function checkNamespace(namespace: string, allowed: readonly string[]): Refusal | undefined {
  if (allowed.length === 0 || allowed.includes(namespace)) return undefined;
  return {
    reason: 'namespace-not-allowed',
    message: `namespace ${namespace} is not in SELFHEAL_NAMESPACES (${allowed.join(', ')})`,
  };
}

export function checkOptIn(
  deployment: { namespace: string; name: string },
  labels: Record<string, string> | undefined,
): Refusal | undefined {
  if (labels?.[OPT_IN_LABEL] === 'true') return undefined;
  return {
    reason: 'not-opted-in',
    message: `Deployment ${deployment.namespace}/${deployment.name} does not carry the label ${OPT_IN_LABEL}: "true"`,
  };
}

// A positive whole number from an annotation, or the fallback when it is absent or malformed.
export function annotationNumber(
  annotations: Record<string, string> | undefined,
  key: string,
  fallback: number,
): { value: number; source: 'annotation' | 'config' } {
  const raw = annotations?.[key]?.trim();
  if (raw && /^\d+$/.test(raw)) return { value: Number(raw), source: 'annotation' };
  return { value: fallback, source: 'config' };
}

// Resolves an IntOrString such as maxUnavailable ("25%" or 1) against a replica count, the way the
// Deployment controller does (maxUnavailable rounds down).
export function resolveIntOrPercent(
  value: number | string | undefined,
  total: number,
  fallback: string,
  roundUp = false,
): number {
  const v = value ?? fallback;
  if (typeof v === 'number') return v;
  const percent = /^(\d+)%$/.exec(v.trim());
  if (percent) {
    const exact = (Number(percent[1]) * total) / 100;
    return roundUp ? Math.ceil(exact) : Math.floor(exact);
  }
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

export type RestartBudgetInput = {
  replicas: number;
  readyReplicas: number;
  maxUnavailable: number | string | undefined;
  strategy: string | undefined;
  podReady: boolean;
};

// Deleting a ready pod must not leave fewer ready replicas than replicas − maxUnavailable.
// Deleting a pod that is not ready costs no ready replica, so it is always allowed.
// A single-replica Deployment may still be restarted: it has no redundancy to protect, and refusing would
// leave an unhealthy sole replica in place for good.
export function checkRestartBudget(input: RestartBudgetInput): Refusal | undefined {
  if (!input.podReady) return undefined;
  if (input.replicas <= 1) return undefined;
  const maxUnavailable =
    input.strategy === 'Recreate' ? 0 : resolveIntOrPercent(input.maxUnavailable, input.replicas, '25%');
  const minReady = Math.max(0, input.replicas - maxUnavailable);
  const after = input.readyReplicas - 1;
  if (after >= minReady) return undefined;
  return {
    reason: 'disruption-budget',
    message: `deleting a ready pod would leave ${after} ready replica(s); the Deployment requires ${minReady} (replicas ${input.replicas} − maxUnavailable ${maxUnavailable})`,
  };
}

// A PodDisruptionBudget that selects the pod and allows no disruption right now.
export function checkDisruptionsAllowed(
  budgets: ReadonlyArray<{ name: string; disruptionsAllowed: number | undefined }>,
  podReady: boolean,
): Refusal | undefined {
  if (!podReady) return undefined;
  const blocking = budgets.find((b) => (b.disruptionsAllowed ?? 0) < 1);
  if (!blocking) return undefined;
  return {
    reason: 'disruption-budget',
    message: `PodDisruptionBudget ${blocking.name} allows no disruption right now`,
  };
}

export type ScalePlan =
  | { kind: 'scale'; from: number; to: number; max: number }
  | { kind: 'at-max'; current: number; max: number };

export function planScale(current: number, step: number, max: number): ScalePlan {
  if (current >= max) return { kind: 'at-max', current, max };
  return { kind: 'scale', from: current, to: Math.min(current + step, max), max };
}

export function matchesSelector(
  selector:
    | {
        matchLabels?: Record<string, string>;
        matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
      }
    | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return false;
  const { matchLabels = {}, matchExpressions = [] } = selector;
  if (Object.keys(matchLabels).length === 0 && matchExpressions.length === 0) return true;
  for (const [k, v] of Object.entries(matchLabels)) if (labels[k] !== v) return false;
  for (const { key, operator, values = [] } of matchExpressions) {
    const has = key in labels;
    const value = labels[key];
    if (operator === 'In' && !(has && values.includes(value as string))) return false;
    if (operator === 'NotIn' && has && values.includes(value as string)) return false;
    if (operator === 'Exists' && !has) return false;
    if (operator === 'DoesNotExist' && has) return false;
  }
  return true;
}
