// scale: raises a workload's replicas through its scale subresource by a step, never past the maximum (annotation
// selfheal.dev/max-replicas or SELFHEAL_MAX_REPLICAS), replacing the scale with its resourceVersion (409 on change).
import type { ActionDeps } from '../lib/decision.ts';
import { type Effect, type Remediation, remediate, type Snapshot } from '../lib/engine.ts';
import { SelfhealError } from '../lib/errors.ts';
import type { Found } from '../lib/targets.ts';
import { describeWorkload, workloadMeta } from '../lib/workload.ts';
import { decideScale, refuseScale, type ScalePlan, type ScaleState } from './decide.ts';

async function observe(deps: ActionDeps, found: Found): Promise<ScaleState> {
  const { kind } = found.workload;
  if (kind === 'DaemonSet') return { scale: undefined };
  const { namespace, name } = workloadMeta(found.workload);
  return { scale: await deps.kube.readScale(kind, namespace, name) };
}

// Sets spec.replicas to `to` unless it is already there or above. The claim changed the workload (and so the
// scale's resourceVersion) since the snapshot, so the scale is read again here.
async function apply(
  deps: ActionDeps,
  { to }: ScalePlan,
  snapshot: Snapshot<ScaleState>,
  dryRun: boolean,
): Promise<Effect> {
  const { namespace, name } = workloadMeta(snapshot.workload);
  const where = describeWorkload(snapshot.workload);
  const kind = snapshot.workload.kind;
  if (kind === 'DaemonSet' || !snapshot.state.scale) {
    throw new SelfhealError('internal', `${where} has no scale subresource to change`);
  }
  if (dryRun) {
    // Unconditional (no resourceVersion): a dry run changes nothing, so a concurrent write is no conflict.
    const current = snapshot.state.scale;
    await deps.kube.replaceScale(
      kind,
      namespace,
      name,
      {
        ...current,
        metadata: { ...current.metadata, resourceVersion: undefined },
        spec: { ...current.spec, replicas: to },
      },
      { dryRun: true },
    );
    const from = current.spec?.replicas ?? 0;
    return {
      kind: 'done',
      reason: 'dry-run',
      message: `dry run: would scale ${where} from ${from} to ${to} replicas (maximum ${snapshot.policy.maxReplicas.value})`,
    };
  }
  const scale = await deps.kube.readScale(kind, namespace, name);
  const current = scale.spec?.replicas ?? 0;
  if (current >= to) {
    return {
      kind: 'done',
      reason: 'already-scaled',
      message: `${where} already has ${current} replicas (target ${to})`,
      detail: { from: current, to: current },
    };
  }
  await deps.beforeWrite?.('scale');
  try {
    await deps.kube.replaceScale(
      kind,
      namespace,
      name,
      { ...scale, spec: { ...scale.spec, replicas: to } },
      { dryRun: false },
    );
  } catch (err) {
    if (err instanceof SelfhealError && err.kind === 'conflict') return { kind: 'changed' };
    throw err;
  }
  return {
    kind: 'done',
    reason: 'scaled',
    message: `scaled ${where} from ${current} to ${to} replicas`,
    detail: { from: current, to },
  };
}

export const scaleRemediation: Remediation<ScaleState, ScalePlan> = {
  action: 'scale',
  involves: 'workload',
  refuses: refuseScale,
  observe,
  decide: decideScale,
  check: (plan) => ({ replicas: plan.to }),
  commit: { kind: 'after-claim', apply },
};

export const scale = remediate(scaleRemediation);
