// The safety model as pure decisions: opt-in, namespace allow-list, ready-replica budget, scale ceiling.
export const OPT_IN_LABEL = 'selfheal.dev/enabled';
export const MAX_REPLICAS_ANNOTATION = 'selfheal.dev/max-replicas';
export const COOLDOWN_ANNOTATION = 'selfheal.dev/cooldown-seconds';

export type Refusal = { reason: string; message: string };

// The namespaces a function may act in; '*' only when configured so explicitly (SELFHEAL_NAMESPACES=*).
export type NamespaceAllowList = readonly string[] | '*';

export function checkNamespace(namespace: string, allowed: NamespaceAllowList): Refusal | undefined {
  if (allowed === '*' || allowed.includes(namespace)) return undefined;
  return {
    reason: 'namespace-not-allowed',
    message: `namespace ${namespace} is not in SELFHEAL_NAMESPACES (${allowed.join(', ') || 'none'})`,
  };
}

export function checkOptIn(
  workload: { kind?: string; namespace: string; name: string },
  labels: Record<string, string> | undefined,
): Refusal | undefined {
  if (labels?.[OPT_IN_LABEL] === 'true') return undefined;
  return {
    reason: 'not-opted-in',
    message: `${workload.kind ?? 'Deployment'} ${workload.namespace}/${workload.name} does not carry the label ${OPT_IN_LABEL}: "true"`,
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
  // The workload's kind, as the message names it (default Deployment).
  kind?: string;
  replicas: number;
  // Available pods counted from a live list (countAvailable), never a controller-written status.
  availableReplicas: number;
  maxUnavailable: number | string | undefined;
  strategy: string | undefined;
  podReady: boolean;
};

// Deleting a ready pod must not leave fewer available replicas than replicas − maxUnavailable.
// Deleting a pod that is not ready costs no ready replica, so it is always allowed.
// A single-replica Deployment may still be restarted: it has no redundancy to protect, and refusing would
// leave an unhealthy sole replica in place for good.
export function checkRestartBudget(input: RestartBudgetInput): Refusal | undefined {
  if (!input.podReady) return undefined;
  if (input.replicas <= 1) return undefined;
  const maxUnavailable =
    input.strategy === 'Recreate' ? 0 : resolveIntOrPercent(input.maxUnavailable, input.replicas, '25%');
  const minReady = Math.max(0, input.replicas - maxUnavailable);
  const after = input.availableReplicas - 1;
  if (after >= minReady) return undefined;
  return {
    reason: 'disruption-budget',
    message: `restarting a ready pod would leave ${after} available replica(s); the ${input.kind ?? 'Deployment'} requires ${minReady} (replicas ${input.replicas} − maxUnavailable ${maxUnavailable})`,
  };
}

export type ScalePlan =
  | { kind: 'scale'; from: number; to: number; max: number }
  | { kind: 'at-max'; current: number; max: number };

export function planScale(current: number, step: number, max: number): ScalePlan {
  if (current >= max) return { kind: 'at-max', current, max };
  return { kind: 'scale', from: current, to: Math.min(current + step, max), max };
}

type LabelSelector = {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
};

// A Deployment's selector in the API's label-selector syntax, to list exactly the pods it counts.
export function selectorString(selector: LabelSelector | undefined): string | undefined {
  if (!selector) return undefined;
  const terms = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    if (operator === 'In') terms.push(`${key} in (${values.join(',')})`);
    else if (operator === 'NotIn') terms.push(`${key} notin (${values.join(',')})`);
    else if (operator === 'Exists') terms.push(key);
    else if (operator === 'DoesNotExist') terms.push(`!${key}`);
    else return undefined;
  }
  return terms.join(',');
}

type PodLike = {
  metadata?: { deletionTimestamp?: Date | string | undefined };
  status?: {
    conditions?: Array<{ type: string; status: string; lastTransitionTime?: Date | string | undefined }>;
  };
};

// Pods that count as available the way the Deployment controller counts them (Ready for minReadySeconds), judged
// from a live list: a terminating pod counts for nothing, whatever its last reported condition.
export function countAvailable(pods: readonly PodLike[], minReadySeconds: number, now: Date): number {
  return pods.filter((pod) => {
    if (pod.metadata?.deletionTimestamp) return false;
    const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status !== 'True') return false;
    if (minReadySeconds <= 0) return true;
    const since = ready.lastTransitionTime ? new Date(ready.lastTransitionTime).getTime() : Number.NaN;
    return Number.isFinite(since) && since + minReadySeconds * 1000 <= now.getTime();
  }).length;
}

export function matchesSelector(
  selector: LabelSelector | undefined,
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
