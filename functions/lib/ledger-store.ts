// The ledger's writes on the workload: a claim and the change it may carry go in one conditional write (409 when
// the workload changed since it was read), then the record is marked done, or failed so a retry may resume it.
import type { ActionDeps } from './decision.ts';
import { SelfhealError } from './errors.ts';
import { subjectOf } from './events.ts';
import { type ActionRecord, doneAnnotations, readLedger, recordAnnotation } from './ledger.ts';
import { policyFor } from './policy.ts';
import type { ActionRequest } from './request.ts';
import { patchWorkload, readWorkload, type Workload, workloadMeta } from './workload.ts';

// How many times an action reads again and decides again after a conflict before answering 503.
export const CONFLICT_RETRIES = 5;

export function newRecord(request: ActionRequest, now: Date, detail: Record<string, unknown>): ActionRecord {
  return {
    id: request.id,
    action: request.action,
    target: subjectOf(request.target),
    state: 'pending',
    at: now.toISOString(),
    detail,
  };
}

// Writes `annotations` (and `extra`, e.g. the restart itself) only if the workload is unchanged since it was read;
// 'conflict' when it changed.
export async function conditionalPatch(
  deps: ActionDeps,
  workload: Workload,
  annotations: Record<string, string>,
  extra: object = {},
): Promise<Workload | 'conflict'> {
  await deps.beforeWrite?.('ledger');
  try {
    return await patchWorkload(
      deps.kube,
      workload,
      { ...extra, metadata: { resourceVersion: workloadMeta(workload).resourceVersion, annotations } },
      { dryRun: false },
    );
  } catch (err) {
    if (err instanceof SelfhealError && err.kind === 'conflict') return 'conflict';
    throw err;
  }
}

async function reread(deps: ActionDeps, workload: Workload): Promise<Workload | undefined> {
  const { namespace, name } = workloadMeta(workload);
  return readWorkload(deps.kube, workload.kind, namespace, name);
}

// Marks the record done (read-modify-write, retried on conflict). Failing here leaves the record pending: after
// the lease a redelivery resumes it, and every effect is safe to repeat.
// `extra` adds annotations computed from the same read (the episode's new step), so both land in one write.
export async function finish(
  deps: ActionDeps,
  workload: Workload,
  record: ActionRecord,
  extra: (annotations: Record<string, string>) => Record<string, string> = () => ({}),
): Promise<boolean> {
  let current: Workload | undefined = await reread(deps, workload).catch(() => workload);
  for (let attempt = 0; attempt < CONFLICT_RETRIES && current; attempt++) {
    const { annotations } = workloadMeta(current);
    const ledger = readLedger(annotations);
    try {
      const written = await conditionalPatch(deps, current, {
        ...doneAnnotations(ledger, record, deps.now(), policyFor(deps.config, annotations)),
        ...extra(annotations),
      });
      if (written !== 'conflict') return true;
    } catch (err) {
      deps.log.warn({ id: record.id, err: (err as Error).message }, 'could not mark the action done');
      return false;
    }
    current = await reread(deps, current);
  }
  deps.log.warn({ id: record.id }, 'could not mark the action done after repeated conflicts');
  return false;
}

// After a failed or abandoned effect: mark the claim failed so a retry may resume it at once (best effort, retried
// on conflict as a rollout in progress rewrites the workload's status; else the lease expires).
export async function release(deps: ActionDeps, workload: Workload, record: ActionRecord): Promise<void> {
  try {
    for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
      const current = await reread(deps, workload);
      const last = current && readLedger(workloadMeta(current).annotations).last;
      if (!current || last?.id !== record.id || last.state !== 'pending') return;
      const written = await conditionalPatch(
        deps,
        current,
        recordAnnotation({ ...last, state: 'failed', at: deps.now().toISOString() }),
      );
      if (written !== 'conflict') return;
    }
    deps.log.warn({ id: record.id }, 'could not release the claim after repeated conflicts');
  } catch (err) {
    deps.log.warn({ id: record.id, err: (err as Error).message }, 'could not release the claim');
  }
}

export function tooManyConflicts(what: string): SelfhealError {
  return new SelfhealError(
    'unavailable',
    `${what} kept changing during ${CONFLICT_RETRIES} attempts; try again`,
    { reason: 'conflict' },
  );
}

// Runs `round` until it decides (anything but 'again', which means a conflict: read again, decide again).
export async function withConflictRetries<T>(
  what: string,
  round: (attempt: number) => Promise<T | 'again'>,
): Promise<T> {
  for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
    const result = await round(attempt);
    if (result !== 'again') return result;
  }
  throw tooManyConflicts(what);
}
