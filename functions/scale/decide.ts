// scale's decision, pure: from the current replicas (of a Deployment or StatefulSet), the step and the maximum to a
// new replica count, or "at the maximum"; a claim of this event is replayed with the target it recorded, never
// planned anew. A DaemonSet has no replicas: refused.
import type { Admission, Snapshot, Stop, Verdict } from '../lib/engine.ts';
import { MAX_REPLICAS_ANNOTATION, planScale } from '../lib/guards.ts';
import type { V1Scale } from '../lib/kube.ts';
import { describeWorkload, type Workload } from '../lib/workload.ts';

// The scale subresource as read; undefined for a workload without one (a DaemonSet).
export type ScaleState = { scale: V1Scale | undefined };
export type ScalePlan = { to: number };

// A DaemonSet runs one pod per node: nothing to scale, so refused before its record or its episode is touched (scale
// may not write on a DaemonSet).
export function refuseScale(found: { workload: Workload }): Stop | undefined {
  if (found.workload.kind !== 'DaemonSet') return undefined;
  return notScalable(found.workload);
}

function notScalable(workload: Workload): Stop {
  return {
    kind: 'stop',
    outcome: 'refused',
    reason: 'not-scalable',
    message: `${describeWorkload(workload)} runs one pod per node and has no replicas to scale`,
  };
}

export function decideScale(snapshot: Snapshot<ScaleState>, admission: Admission): Verdict<ScalePlan> {
  const name = describeWorkload(snapshot.workload);
  const max = snapshot.policy.maxReplicas;
  if (!snapshot.state.scale) return notScalable(snapshot.workload);
  if (admission.kind === 'resume') {
    const to = Number(admission.record.detail?.to);
    // A record that names no sane target is never replayed.
    if (!Number.isInteger(to) || to < 1 || to > max.value) {
      return {
        kind: 'stop',
        outcome: 'refused',
        reason: 'invalid-claim',
        message: `the pending claim ${admission.record.id} names no replica target within 1..${max.value}; not replaying it`,
      };
    }
    return { kind: 'act', plan: { to }, detail: admission.record.detail ?? { to } };
  }
  const step = snapshot.request.params.step ?? snapshot.policy.scaleStep;
  const plan = planScale(snapshot.state.scale.spec?.replicas ?? 0, step, max.value);
  if (plan.kind === 'at-max') {
    return {
      kind: 'stop',
      outcome: 'skipped',
      reason: 'at-maximum',
      message: `${name} has ${plan.current} replicas, at or above its maximum of ${plan.max} (${max.source === 'annotation' ? MAX_REPLICAS_ANNOTATION : 'SELFHEAL_MAX_REPLICAS'})`,
      detail: { current: plan.current, max: plan.max },
    };
  }
  return {
    kind: 'act',
    plan: { to: plan.to },
    detail: { from: plan.from, to: plan.to, max: plan.max, step },
  };
}
