// restart-pod's decision, pure: from the pod, its workload's live pods (a Deployment's, StatefulSet's or
// DaemonSet's), the ledger and the time to "remove this pod" (evict it when ready, delete it when not), or why not:
// already terminating, or the available replicas the workload requires.
import type { Admission, Snapshot, Verdict } from '../lib/engine.ts';
import { checkRestartBudget, countAvailable } from '../lib/guards.ts';
import type { V1Pod } from '../lib/kube.ts';
import { isPodReady } from '../lib/targets.ts';
import { describeWorkload, disruptionAllowance } from '../lib/workload.ts';

// The workload's pods from a live list; undefined when its selector cannot be listed.
export type RestartState = { pods: V1Pod[] | undefined };

// The pod to remove, exactly as it was judged (uid and resourceVersion), or none when the claimed pod is gone.
export type RestartPlan = {
  name: string;
  uid: string;
  pod: { resourceVersion: string | undefined; ready: boolean } | undefined;
};

export type RestartSnapshot = Snapshot<RestartState>;

function budget(snapshot: RestartSnapshot): Verdict<RestartPlan> | undefined {
  const stop = (message: string) =>
    ({ kind: 'stop', outcome: 'skipped', reason: 'disruption-budget', message }) as const;
  const { workload, state } = snapshot;
  if (!state.pods) {
    return stop(
      `cannot count the pods of ${describeWorkload(workload)}: its selector is empty or not supported`,
    );
  }
  // Counted from a live list: a controller's status (readyReplicas) may lag, or the controller be down.
  const live = state.pods.filter((p) => !p.metadata?.deletionTimestamp).length;
  const allowance = disruptionAllowance(workload, live);
  const refusal = checkRestartBudget({
    kind: workload.kind,
    replicas: allowance.replicas,
    availableReplicas: countAvailable(state.pods, allowance.minReadySeconds, snapshot.now),
    maxUnavailable: allowance.maxUnavailable,
    strategy: undefined,
    podReady: true,
  });
  return refusal && stop(refusal.message);
}

export function decideRestart(snapshot: RestartSnapshot, admission: Admission): Verdict<RestartPlan> {
  const pod = snapshot.pod as V1Pod;
  const name = pod.metadata?.name ?? '';
  const live = (uid: string) => pod.metadata?.uid === uid && !pod.metadata?.deletionTimestamp;
  const planFor = (uid: string): RestartPlan => ({
    name,
    uid,
    pod: live(uid) ? { resourceVersion: pod.metadata?.resourceVersion, ready: isPodReady(pod) } : undefined,
  });
  if (admission.kind === 'resume') {
    // The claimed pod (by uid) still runs: the budget may have changed since the claim, so judge it again.
    const uid = String(admission.record.detail?.uid ?? '');
    const plan = planFor(uid);
    const refused = plan.pod?.ready ? budget(snapshot) : undefined;
    return refused ?? { kind: 'act', plan, detail: admission.record.detail ?? { pod: name, uid } };
  }
  if (pod.metadata?.deletionTimestamp) {
    return {
      kind: 'stop',
      outcome: 'skipped',
      reason: 'already-terminating',
      message: `pod ${pod.metadata?.namespace}/${name} is already terminating`,
    };
  }
  const uid = pod.metadata?.uid ?? '';
  const refused = isPodReady(pod) ? budget(snapshot) : undefined;
  return refused ?? { kind: 'act', plan: planFor(uid), detail: { pod: name, uid } };
}
