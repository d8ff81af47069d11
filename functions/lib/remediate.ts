// The exactly-once protocol on a Deployment's ledger: check the record, claim it with a conditional write,
// act, then mark it done; a conflict means someone else wrote first, so read again and decide again.
import type { ActionDeps, ActionRequest, Decision } from './action.ts';
import { SelfhealError } from './errors.ts';
import { subjectOf } from './events.ts';
import { annotationNumber, COOLDOWN_ANNOTATION } from './guards.ts';
import type { V1Deployment } from './kube.ts';
import type { ObjectRef } from './kube-events.ts';
import {
  type ActionRecord,
  checkLedger,
  doneAnnotations,
  type LedgerDecision,
  type LedgerPolicy,
  readLedger,
  recordAnnotation,
} from './ledger.ts';
import { deploymentName } from './targets.ts';

// How many times an action re-reads and retries after a 409 before answering 503.
export const CONFLICT_RETRIES = 5;

export function ledgerPolicy(deps: ActionDeps, deployment: V1Deployment): LedgerPolicy {
  const cooldown = annotationNumber(
    deployment.metadata?.annotations,
    COOLDOWN_ANNOTATION,
    deps.config.cooldownSeconds,
  );
  return {
    cooldownSeconds: cooldown.value,
    budget: deps.config.budget,
    leaseSeconds: deps.config.leaseSeconds,
  };
}

export function checkDeploymentLedger(
  request: ActionRequest,
  deps: ActionDeps,
  deployment: V1Deployment,
): LedgerDecision {
  return checkLedger(
    readLedger(deployment.metadata?.annotations),
    { id: request.id, action: request.action, now: deps.now() },
    ledgerPolicy(deps, deployment),
  );
}

// A skip decision for the ledger's verdict, or undefined to go on; in-progress answers 503 so the caller retries.
export function ledgerStop(
  verdict: LedgerDecision,
  involved: ObjectRef,
  deployment: V1Deployment,
): Decision | undefined {
  // Both pass: answer 503 so the delivery is retried rather than dropped.
  if (verdict.kind === 'in-progress') {
    throw new SelfhealError('unavailable', verdict.message, { reason: 'in-progress' });
  }
  if (verdict.kind === 'skip' && verdict.reason === 'busy') {
    throw new SelfhealError('unavailable', verdict.message, { reason: 'busy' });
  }
  if (verdict.kind === 'skip') {
    return {
      outcome: 'skipped',
      reason: verdict.reason,
      message: verdict.message,
      involved,
      deployment: deploymentName(deployment),
    };
  }
  return undefined;
}

export function newRecord(
  request: ActionRequest,
  deps: ActionDeps,
  detail: Record<string, unknown>,
): ActionRecord {
  return {
    id: request.id,
    action: request.action,
    target: subjectOf(request.target),
    state: 'pending',
    at: deps.now().toISOString(),
    detail,
  };
}

function meta(deployment: V1Deployment) {
  return { namespace: deployment.metadata?.namespace ?? '', name: deployment.metadata?.name ?? '' };
}

// Writes `annotations` (and `extra`, e.g. the restart itself) only if the Deployment is unchanged since it was
// read; 'conflict' when it changed.
export async function conditionalPatch(
  deps: ActionDeps,
  deployment: V1Deployment,
  annotations: Record<string, string>,
  extra: object = {},
): Promise<V1Deployment | 'conflict'> {
  const { namespace, name } = meta(deployment);
  await deps.beforeWrite?.('ledger');
  try {
    return await deps.kube.patchDeployment(
      namespace,
      name,
      { ...extra, metadata: { resourceVersion: deployment.metadata?.resourceVersion, annotations } },
      { dryRun: false },
    );
  } catch (err) {
    if (err instanceof SelfhealError && err.kind === 'conflict') return 'conflict';
    throw err;
  }
}

// Marks the record done (read-modify-write, retried on conflict). Failing here leaves the record pending:
// after the lease a redelivery resumes it, and every effect is safe to repeat.
export async function finish(
  deps: ActionDeps,
  deployment: V1Deployment,
  record: ActionRecord,
): Promise<boolean> {
  const { namespace, name } = meta(deployment);
  let current: V1Deployment | undefined = deployment;
  for (let attempt = 0; attempt < CONFLICT_RETRIES && current; attempt++) {
    const ledger = readLedger(current.metadata?.annotations);
    try {
      const written = await conditionalPatch(deps, current, doneAnnotations(ledger, record, deps.now()));
      if (written !== 'conflict') return true;
    } catch (err) {
      deps.log.warn({ id: record.id, err: (err as Error).message }, 'could not mark the action done');
      return false;
    }
    current = await deps.kube.readDeployment(namespace, name);
  }
  deps.log.warn({ id: record.id }, 'could not mark the action done after repeated conflicts');
  return false;
}

// After a failed effect: mark the claim failed so a retry may act at once (best effort; else the lease expires).
export async function release(
  deps: ActionDeps,
  deployment: V1Deployment,
  record: ActionRecord,
): Promise<void> {
  const { namespace, name } = meta(deployment);
  try {
    const current = await deps.kube.readDeployment(namespace, name);
    const last = readLedger(current?.metadata?.annotations).last;
    if (!current || last?.id !== record.id || last.state !== 'pending') return;
    await conditionalPatch(
      deps,
      current,
      recordAnnotation({ ...last, state: 'failed', at: deps.now().toISOString() }),
    );
  } catch (err) {
    deps.log.warn({ id: record.id, err: (err as Error).message }, 'could not release the claim');
  }
}

// Claims `record` on the Deployment and runs `effect`; undefined when the claim lost a race (read again).
export async function claimAndRun(
  deps: ActionDeps,
  deployment: V1Deployment,
  record: ActionRecord,
  effect: (claimed: V1Deployment) => Promise<Decision>,
): Promise<Decision | undefined> {
  const claimed = await conditionalPatch(deps, deployment, recordAnnotation(record));
  if (claimed === 'conflict') return undefined;
  return runClaimed(deps, claimed, record, effect);
}

// Runs the effect of a claimed record, then marks it done (or releases it when the effect failed).
export async function runClaimed(
  deps: ActionDeps,
  deployment: V1Deployment,
  record: ActionRecord,
  effect: (claimed: V1Deployment) => Promise<Decision>,
): Promise<Decision> {
  let decision: Decision;
  try {
    decision = await effect(deployment);
  } catch (err) {
    await release(deps, deployment, record);
    throw err;
  }
  const { namespace, name } = meta(deployment);
  const latest = (await deps.kube.readDeployment(namespace, name).catch(() => undefined)) ?? deployment;
  const recorded = await finish(deps, latest, record);
  return recorded ? decision : { ...decision, detail: { ...decision.detail, recorded: false } };
}

export function tooManyConflicts(what: string): SelfhealError {
  return new SelfhealError(
    'unavailable',
    `${what} kept changing during ${CONFLICT_RETRIES} attempts; try again`,
    {
      reason: 'conflict',
    },
  );
}

export { deploymentName };
