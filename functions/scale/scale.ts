// scale: raises a Deployment's replicas through its scale subresource by a step, never past the maximum
// (annotation selfheal.dev/max-replicas or SELFHEAL_MAX_REPLICAS), with optimistic concurrency.
import type { ActionDeps, ActionRequest, Decision } from '../lib/action.ts';
import { SelfhealError } from '../lib/errors.ts';
import { annotationNumber, MAX_REPLICAS_ANNOTATION, planScale } from '../lib/guards.ts';
import type { V1Deployment } from '../lib/kube.ts';
import type { ObjectRef } from '../lib/kube-events.ts';
import {
  CONFLICT_RETRIES,
  checkDeploymentLedger,
  claimAndRun,
  ledgerStop,
  newRecord,
  runClaimed,
  tooManyConflicts,
} from '../lib/remediate.ts';
import { namespaceDecision, resolveOptedInDeployment } from '../lib/targets.ts';

// Sets spec.replicas to `to` unless it is already there or above; retries the replace on a 409.
async function scaleTo(
  deps: ActionDeps,
  deployment: V1Deployment,
  to: number,
  involved: ObjectRef,
): Promise<Decision> {
  const namespace = deployment.metadata?.namespace ?? '';
  const name = deployment.metadata?.name ?? '';
  let conflicts = 0;
  for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
    const scale = await deps.kube.readScale(namespace, name);
    const current = scale.spec?.replicas ?? 0;
    const common = { involved, deployment: `${namespace}/${name}` };
    if (current >= to) {
      return {
        outcome: 'applied',
        reason: 'already-scaled',
        message: `Deployment ${namespace}/${name} already has ${current} replicas (target ${to})`,
        ...common,
        detail: { from: current, to: current, conflicts },
      };
    }
    await deps.beforeWrite?.('scale');
    try {
      await deps.kube.replaceScale(
        namespace,
        name,
        { ...scale, spec: { ...scale.spec, replicas: to } },
        { dryRun: false },
      );
      return {
        outcome: 'applied',
        reason: 'scaled',
        message: `scaled Deployment ${namespace}/${name} from ${current} to ${to} replicas`,
        ...common,
        detail: { from: current, to, conflicts },
      };
    } catch (err) {
      if (!(err instanceof SelfhealError && err.kind === 'conflict')) throw err;
      conflicts++;
    }
  }
  throw tooManyConflicts(`the scale of Deployment ${namespace}/${name}`);
}

export async function scale(request: ActionRequest, deps: ActionDeps): Promise<Decision> {
  const refusedNamespace = namespaceDecision(request.target, deps.config.namespaces);
  if (refusedNamespace) return refusedNamespace;

  for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
    const resolved = await resolveOptedInDeployment(deps.kube, request.target);
    if (!resolved.ok) return resolved.decision;
    const { deployment, involved, name } = resolved;

    const verdict = checkDeploymentLedger(request, deps, deployment);
    const stop = ledgerStop(verdict, involved, deployment);
    if (stop) return stop;
    const max = annotationNumber(
      deployment.metadata?.annotations,
      MAX_REPLICAS_ANNOTATION,
      deps.config.maxReplicas,
    );
    if (verdict.kind === 'resume') {
      const to = Number(verdict.record.detail?.to);
      // Replays the claimed target; a record that names no sane target is never replayed.
      if (!Number.isInteger(to) || to < 1 || to > max.value) {
        throw new SelfhealError(
          'invalid',
          `the pending claim ${verdict.record.id} names no replica target within 1..${max.value}; not replaying it`,
        );
      }
      return runClaimed(deps, deployment, verdict.record, (claimed) => scaleTo(deps, claimed, to, involved));
    }
    const step = request.params.step ?? deps.config.scaleStep;
    const current = await deps.kube.readScale(
      deployment.metadata?.namespace ?? '',
      deployment.metadata?.name ?? '',
    );
    const plan = planScale(current.spec?.replicas ?? 0, step, max.value);
    if (plan.kind === 'at-max') {
      return {
        outcome: 'skipped',
        reason: 'at-maximum',
        message: `Deployment ${name} has ${plan.current} replicas, at or above its maximum of ${plan.max} (${max.source === 'annotation' ? MAX_REPLICAS_ANNOTATION : 'SELFHEAL_MAX_REPLICAS'})`,
        involved,
        deployment: name,
        detail: { current: plan.current, max: plan.max },
      };
    }
    const detail = { from: plan.from, to: plan.to, max: plan.max, step };
    if (request.dryRun || deps.config.dryRun) {
      // Unconditional (no resourceVersion): a dry run changes nothing, so a concurrent write is no conflict.
      await deps.kube.replaceScale(
        deployment.metadata?.namespace ?? '',
        deployment.metadata?.name ?? '',
        {
          ...current,
          metadata: { ...current.metadata, resourceVersion: undefined },
          spec: { ...current.spec, replicas: plan.to },
        },
        { dryRun: true },
      );
      return {
        outcome: 'dry-run',
        reason: 'dry-run',
        message: `dry run: would scale Deployment ${name} from ${plan.from} to ${plan.to} replicas (maximum ${plan.max})`,
        involved,
        deployment: name,
        detail,
      };
    }
    const decision = await claimAndRun(deps, deployment, newRecord(request, deps, detail), (claimed) =>
      scaleTo(deps, claimed, plan.to, involved),
    );
    if (decision)
      return decision.reason === 'scaled'
        ? { ...decision, detail: { ...detail, ...decision.detail } }
        : decision;
  }
  throw tooManyConflicts(`Deployment ${request.target.namespace}/${request.target.name}`);
}
