// restart-pod: removes one pod of an opted-in workload so its controller replaces it — only that pod, only in the
// state it was judged in (uid and resourceVersion preconditions), never below the available replicas the workload
// requires (counted from a live pod list) and never past a PodDisruptionBudget (the Eviction API enforces it).
import type { ActionDeps } from '../lib/decision.ts';
import { type Effect, type Remediation, remediate } from '../lib/engine.ts';
import { selectorString } from '../lib/guards.ts';
import { type Found, isPodReady } from '../lib/targets.ts';
import { decideRestart, type RestartPlan, type RestartSnapshot, type RestartState } from './decide.ts';

// The live pods of the workload, read only when the pod is ready (the budget then matters).
async function observe(deps: ActionDeps, found: Found): Promise<RestartState> {
  const pod = found.pod;
  if (!pod || pod.metadata?.deletionTimestamp || !isPodReady(pod)) return { pods: [] };
  const selector = selectorString(found.workload.object.spec?.selector);
  if (!selector) return { pods: undefined };
  return { pods: await deps.kube.listPods(pod.metadata?.namespace ?? '', selector) };
}

// A pod that is not ready costs no available replica: delete it, but only while it is still the pod we judged (had
// it turned ready meanwhile, its resourceVersion changed and the delete fails). A ready pod is evicted, so every
// PodDisruptionBudget that selects it is checked and spent by the API server in one step.
async function apply(
  deps: ActionDeps,
  plan: RestartPlan,
  snapshot: RestartSnapshot,
  dryRun: boolean,
): Promise<Effect> {
  const namespace = snapshot.pod?.metadata?.namespace ?? '';
  const where = `${namespace}/${plan.name}`;
  const detail = { pod: plan.name, uid: plan.uid };
  const gone: Effect = {
    kind: 'done',
    reason: 'pod-gone',
    message: `pod ${where} (uid ${plan.uid}) was already gone`,
    detail,
  };
  if (!plan.pod) return gone;
  const preconditions = { uid: plan.uid, resourceVersion: plan.pod.resourceVersion };
  const result = plan.pod.ready
    ? await deps.kube.evictPod(namespace, plan.name, preconditions, { dryRun })
    : await deps.kube.deletePod(namespace, plan.name, preconditions, { dryRun });
  if (typeof result === 'object') {
    return {
      kind: 'stop',
      reason: 'disruption-budget',
      message: `the API server refused to evict pod ${where}: ${result.blocked}`,
    };
  }
  if (result === 'changed') return { kind: 'changed' };
  if (result === 'gone') return gone;
  const replacedBy = snapshot.replacedBy ?? 'its controller';
  return {
    kind: 'done',
    reason: 'restarted',
    message: dryRun
      ? `dry run: would ${plan.pod.ready ? 'evict' : 'delete'} pod ${where} so ${replacedBy} replaces it`
      : `${plan.pod.ready ? 'evicted' : 'deleted'} pod ${where} so ${replacedBy} replaces it`,
    detail,
  };
}

export const restartPodRemediation: Remediation<RestartState, RestartPlan> = {
  action: 'restart-pod',
  involves: 'pod',
  observe,
  decide: decideRestart,
  check: (plan) => ({ pod: plan.name, uid: plan.uid }),
  commit: { kind: 'after-claim', apply },
};

export const restartPod = remediate(restartPodRemediation);
