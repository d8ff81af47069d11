// redeploy's decision, pure: a rolling restart at this second (the restartedAt annotation of the pod template, as
// `kubectl rollout restart` writes it for Deployments, StatefulSets and DaemonSets), unless it would not roll out
// (a paused Deployment, an OnDelete update strategy).
import type { Admission, Snapshot, Verdict } from '../lib/engine.ts';
import { rolloutBlocked } from '../lib/workload.ts';

export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';

export type RedeployPlan = { restartedAt: string };

// kubectl writes time.Now().Format(time.RFC3339): whole seconds.
export function rfc3339Seconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function restartPatch(restartedAt: string): object {
  return { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: restartedAt } } } } };
}

// A redeploy is written done with its record in one write, so there is never a claim to resume: both admissions
// plan a restart now.
export function decideRedeploy(snapshot: Snapshot<undefined>, _admission: Admission): Verdict<RedeployPlan> {
  const blocked = rolloutBlocked(snapshot.workload);
  if (blocked) return { kind: 'stop', outcome: 'skipped', ...blocked };
  const restartedAt = rfc3339Seconds(snapshot.now);
  const previous = snapshot.workload.object.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION];
  return {
    kind: 'act',
    plan: { restartedAt },
    detail: { restartedAt, previousRestartedAt: previous ?? null },
  };
}
