// redeploy: a rolling restart exactly like `kubectl rollout restart` (the restartedAt annotation of the pod
// template), written in the same conditional patch as the record of it, so it happens once per event.
import type { ActionDeps, ActionRequest, Decision } from '../lib/action.ts';
import { doneAnnotations, readLedger } from '../lib/ledger.ts';
import {
  CONFLICT_RETRIES,
  checkDeploymentLedger,
  conditionalPatch,
  ledgerStop,
  newRecord,
  tooManyConflicts,
} from '../lib/remediate.ts';
import { namespaceDecision, resolveOptedInDeployment } from '../lib/targets.ts';

export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';

// kubectl writes time.Now().Format(time.RFC3339): whole seconds.
export function rfc3339Seconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function restartPatch(restartedAt: string): object {
  return { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: restartedAt } } } } };
}

export async function redeploy(request: ActionRequest, deps: ActionDeps): Promise<Decision> {
  const refusedNamespace = namespaceDecision(request.target, deps.config.namespaces);
  if (refusedNamespace) return refusedNamespace;

  for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
    const resolved = await resolveOptedInDeployment(deps.kube, request.target);
    if (!resolved.ok) return resolved.decision;
    const { deployment, involved, name } = resolved;

    const stop = ledgerStop(checkDeploymentLedger(request, deps, deployment), involved, deployment);
    if (stop) return stop;
    if (deployment.spec?.paused) {
      return {
        outcome: 'skipped',
        reason: 'paused',
        message: `Deployment ${name} is paused; a restart would not roll out`,
        involved,
        deployment: name,
      };
    }

    const restartedAt = rfc3339Seconds(deps.now());
    const previous = deployment.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION];
    const detail = { restartedAt, previousRestartedAt: previous ?? null };
    if (request.dryRun || deps.config.dryRun) {
      await deps.kube.patchDeployment(
        deployment.metadata?.namespace ?? '',
        deployment.metadata?.name ?? '',
        restartPatch(restartedAt),
        { dryRun: true },
      );
      return {
        outcome: 'dry-run',
        reason: 'dry-run',
        message: `dry run: would restart the rollout of Deployment ${name}`,
        involved,
        deployment: name,
        detail,
      };
    }

    // The record is written done in the same patch as the restart: one write, so never one without the other.
    const record = newRecord(request, deps, { restartedAt });
    const annotations = doneAnnotations(readLedger(deployment.metadata?.annotations), record, deps.now());
    await deps.beforeWrite?.('restart');
    const written = await conditionalPatch(deps, deployment, annotations, restartPatch(restartedAt));
    if (written === 'conflict') continue;
    return {
      outcome: 'applied',
      reason: 'restarted',
      message: `restarted the rollout of Deployment ${name} (restartedAt ${restartedAt})`,
      involved,
      deployment: name,
      detail: { ...detail, generation: written.metadata?.generation, attempts: attempt + 1 },
    };
  }
  throw tooManyConflicts(`Deployment ${request.target.namespace}/${request.target.name}`);
}
