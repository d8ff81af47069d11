// The remediation loop every action runs, written once: resolve the target → the closed loop (escalate, breaker) →
// read the ledger → decide (pure) → dry-run, or claim → act → finish (recording the episode's step); a conflict
// anywhere means someone else wrote first: read again, decide again.
import type { ActionDeps, ActionLogic, Decision } from './decision.ts';
import { episodesAnnotation, readEpisodes, type Step, withStep } from './episodes.ts';
import { SelfhealError } from './errors.ts';
import type { ActionName } from './events.ts';
import { checkOptIn } from './guards.ts';
import {
  type ActionRecord,
  checkLedger,
  claimAnnotations,
  doneAnnotations,
  type Ledger,
  readLedger,
} from './ledger.ts';
import { conditionalPatch, finish, newRecord, release, withConflictRetries } from './ledger-store.ts';
import { type Acting, closeLoop, trip } from './loop.ts';
import { type Policy, policyFor } from './policy.ts';
import type { ActionRequest } from './request.ts';
import { resolveAlert } from './resolution.ts';
import { type Found, namespaceDecision, podRef, resolveTarget } from './targets.ts';
import { patchWorkload, type Workload, workloadMeta, workloadName, workloadRef } from './workload.ts';

// Everything a decision may look at, read before deciding: the request, what the target resolved to, the ledger,
// the limits, the time, and what the action itself read (`state`).
export type Snapshot<S> = Found & {
  request: ActionRequest;
  ledger: Ledger;
  policy: Policy;
  now: Date;
  state: S;
};

// A new action, or the replay of this event's own earlier claim (pending past its lease, or failed).
export type Admission = { kind: 'new' } | { kind: 'resume'; record: ActionRecord };

export type Act<P> = { kind: 'act'; plan: P; detail: Record<string, unknown> };
export type Stop = {
  kind: 'stop';
  outcome: 'skipped' | 'refused';
  reason: string;
  message: string;
  detail?: Record<string, unknown>;
};
// Not now: another delivery of this event, or another action on the workload, is in progress (503, retried).
export type Wait = { kind: 'wait'; reason: string; message: string };
export type Verdict<P> = Act<P> | Stop | Wait;

// What a change did: done (with its reason), stopped by the API server (e.g. a PodDisruptionBudget), or found the
// object changed since it was read (read again and decide again).
export type Effect =
  | { kind: 'done'; reason: string; message: string; detail?: Record<string, unknown> }
  | { kind: 'stop'; reason: string; message: string }
  | { kind: 'changed' };

// A change written in the same conditional write as its record: one write, so never one without the other.
export type WithRecord = {
  kind: 'with-record';
  stage: string;
  patch: object;
  dryRunMessage: string;
  applied: (written: Workload) => { reason: string; message: string; detail?: Record<string, unknown> };
};

export type Remediation<S, P> = {
  action: ActionName;
  // Whom the decision's Event is about: the pod the action removes, or the workload.
  involves: 'pod' | 'workload';
  // What the action can never do to this workload, whatever its record says: refused before anything is read or
  // written (the closed loop included), so the action needs no right to write on it.
  refuses?: (found: Found) => Stop | undefined;
  // Reads what the decision needs beyond the workload and its ledger.
  observe: (deps: ActionDeps, found: Found) => Promise<S>;
  // Pure: the snapshot and the admission in, act / skip / refuse out.
  decide: (snapshot: Snapshot<S>, admission: Admission) => Verdict<P>;
  // The change: written with its record, or applied after the claim (and in a dry run, validated by the API server).
  // What verifying the step will compare with (the pod removed, the generation rolled out, the replicas wanted).
  check?: (plan: P, snapshot: Snapshot<S>) => Step['check'];
  commit:
    | {
        kind: 'after-claim';
        apply: (deps: ActionDeps, plan: P, snapshot: Snapshot<S>, dryRun: boolean) => Promise<Effect>;
      }
    | { kind: 'with-record'; write: (plan: P, snapshot: Snapshot<S>) => WithRecord };
};

const stop = (outcome: Stop['outcome'], reason: string, message: string): Stop => ({
  kind: 'stop',
  outcome,
  reason,
  message,
});

// Pure: whether the workload may be acted on at all for this event (opt-in, exactly once, cooldown, budget).
export function admit(snapshot: Omit<Snapshot<unknown>, 'state'>): Admission | Stop | Wait {
  const { namespace, name } = workloadMeta(snapshot.workload);
  const refusal = checkOptIn(
    { kind: snapshot.workload.kind, namespace, name },
    workloadMeta(snapshot.workload).labels,
  );
  if (refusal) return stop('refused', refusal.reason, refusal.message);
  const { id, action } = snapshot.request;
  const verdict = checkLedger(snapshot.ledger, { id, action, now: snapshot.now }, snapshot.policy);
  switch (verdict.kind) {
    case 'proceed':
      return { kind: 'new' };
    case 'resume':
      return { kind: 'resume', record: verdict.record };
    case 'in-progress':
      return { kind: 'wait', reason: 'in-progress', message: verdict.message };
    case 'skip':
      // Another action in progress: not now, not never.
      if (verdict.reason === 'busy') return { kind: 'wait', reason: 'busy', message: verdict.message };
      return stop('skipped', verdict.reason, verdict.message);
  }
}

// Pure: the whole decision of an action from its snapshot.
export function decide<S, P>(remediation: Remediation<S, P>, snapshot: Snapshot<S>): Verdict<P> {
  const admission = admit(snapshot);
  if (admission.kind === 'stop' || admission.kind === 'wait') return admission;
  return remediation.decide(snapshot, admission);
}

function contextOf(remediation: Remediation<unknown, unknown>, found: Found): Partial<Decision> {
  const workload = workloadRef(found.workload);
  const deployment = workloadName(found.workload);
  if (remediation.involves === 'pod' && found.pod) {
    return { involved: podRef(found.pod), related: workload, deployment };
  }
  return { involved: workload, deployment };
}

type Round = Decision | 'again';

// Skips of an escalated step that will not pass by waiting: recorded as the step, so the chain moves past it.
const FINAL_SKIPS = new Set(['at-maximum', 'paused', 'on-delete', 'not-scalable', 'invalid-claim']);

// The remediation as an action: the loop around the pure decision.
export function remediate<S, P>(remediation: Remediation<S, P>): ActionLogic {
  return async (request, deps) => {
    const refusedNamespace = namespaceDecision(request.target, deps.config.namespaces);
    if (refusedNamespace) return refusedNamespace;
    if (request.intent === 'resolved') {
      // A dry run writes nothing, so it opened no episode and closes none.
      if (request.dryRun || deps.config.dryRun) return dryRunResolution(request);
      return resolveAlert(request, deps);
    }
    return withConflictRetries(
      `${request.target.kind} ${request.target.namespace}/${request.target.name}`,
      (attempt) => runRound(remediation, request, deps, attempt),
    );
  };
}

function dryRunResolution(request: ActionRequest): Decision {
  const alert = request.alert;
  return {
    outcome: 'dry-run',
    reason: 'dry-run',
    message: `${alert ? `${alert.name} (${alert.fingerprint})` : 'the alert'} resolved; a dry run closes no episode and records nothing`,
  };
}

// The episode's record of a step taken for the alert, merged into the write that records the action.
function stepRecorder(request: ActionRequest, acting: Acting, deps: ActionDeps, now: Date) {
  const alert = request.alert;
  if (!alert) return undefined;
  return (annotations: Record<string, string>, step: Pick<Step, 'result' | 'reason' | 'check'>) =>
    episodesAnnotation(
      withStep(
        readEpisodes(annotations),
        alert.name,
        {
          action: request.action,
          id: acting.id,
          at: now.toISOString(),
          alert: { fingerprint: alert.fingerprint, startsAt: alert.startsAt },
          ...step,
        },
        now,
        deps.config.loop.windowSeconds,
      ),
    );
}

async function runRound<S, P>(
  remediation: Remediation<S, P>,
  request: ActionRequest,
  deps: ActionDeps,
  attempt: number,
): Promise<Round> {
  const resolved = await resolveTarget(deps.kube, request.target);
  if (!resolved.ok) return resolved.decision;
  const found: Found = resolved;
  const context = contextOf(remediation as Remediation<unknown, unknown>, found);
  const meta = workloadMeta(found.workload);
  const now = deps.now();
  const dryRun = request.dryRun || deps.config.dryRun;
  const optedOut = checkOptIn(
    { kind: found.workload.kind, namespace: meta.namespace, name: meta.name },
    meta.labels,
  );
  if (optedOut) return stopped(stop('refused', optedOut.reason, optedOut.message), context);
  const never = remediation.refuses?.(found);
  if (never) return stopped(never, context);

  // An alert's request first meets the closed loop: it may escalate, or find the breaker open. A dry run changes
  // nothing, so it has no episode to continue.
  let acting: Acting = { kind: 'act', id: request.id, step: 0, escalated: false };
  if (request.alert && !dryRun) {
    const loop = await closeLoop(
      remediation.action,
      { ...request, alert: request.alert },
      deps,
      found,
      context,
      now,
    );
    if (loop === 'again') return loop;
    if (!('kind' in loop)) return loop;
    acting = loop;
  }
  const actingRequest = acting.id === request.id ? request : { ...request, id: acting.id };
  const base = {
    ...found,
    request: actingRequest,
    ledger: readLedger(meta.annotations),
    policy: policyFor(deps.config, meta.annotations),
    now,
  };
  const admission = admit(base);
  if (admission.kind === 'wait') {
    throw new SelfhealError('unavailable', admission.message, { reason: admission.reason });
  }
  if (admission.kind === 'stop') {
    // More actions than the budget allows is a problem no action of selfheal cures: stop and tell a human.
    if (admission.reason === 'budget-exhausted' && request.alert && !dryRun) {
      return trip(deps, found, request.alert, 'budget-exhausted', admission.message, context, now);
    }
    return stopped(admission, context);
  }
  const snapshot: Snapshot<S> = { ...base, state: await remediation.observe(deps, found) };
  const verdict = remediation.decide(snapshot, admission);
  if (verdict.kind === 'wait') {
    throw new SelfhealError('unavailable', verdict.message, { reason: verdict.reason });
  }
  const recordStep = dryRun ? undefined : stepRecorder(request, acting, deps, now);
  if (verdict.kind === 'stop') {
    // A claim of this event that is not replayed is handed back, so nothing waits for its lease.
    if (admission.kind === 'resume') await release(deps, found.workload, admission.record);
    if (acting.escalated && recordStep && FINAL_SKIPS.has(verdict.reason)) {
      const skipped = recordStep(meta.annotations, { result: 'skipped', reason: verdict.reason });
      if ((await conditionalPatch(deps, found.workload, skipped)) === 'conflict') return 'again';
    }
    return stopped(verdict, context);
  }
  const counted = {
    attempts: attempt + 1,
    conflicts: attempt,
    ...(request.alert ? { step: acting.step } : {}),
  };
  const check = remediation.check?.(verdict.plan, snapshot);
  const episode =
    recordStep &&
    ((annotations: Record<string, string>) => recordStep(annotations, { result: 'applied', check }));
  if (remediation.commit.kind === 'with-record') {
    return commitWithRecord(remediation.commit.write(verdict.plan, snapshot), verdict, snapshot, deps, {
      dryRun,
      context,
      counted,
      episode,
    });
  }
  const apply = (d: boolean) =>
    (
      remediation.commit as {
        apply: (deps: ActionDeps, plan: P, s: Snapshot<S>, d: boolean) => Promise<Effect>;
      }
    ).apply(deps, verdict.plan, snapshot, d);
  if (dryRun) {
    const effect = await apply(true);
    if (effect.kind === 'changed') return 'again';
    if (effect.kind === 'stop') return stopped({ ...effect, kind: 'stop', outcome: 'skipped' }, context);
    return {
      outcome: 'dry-run',
      reason: 'dry-run',
      message: effect.message,
      ...context,
      detail: verdict.detail,
    };
  }
  // A replay claims again (pending, a fresh lease) before acting, so a redelivery arriving meanwhile waits
  // instead of replaying the same claim beside it.
  const record: ActionRecord =
    admission.kind === 'resume'
      ? { ...admission.record, state: 'pending', at: snapshot.now.toISOString() }
      : newRecord(actingRequest, snapshot.now, verdict.detail);
  const claimed = await conditionalPatch(
    deps,
    found.workload,
    claimAnnotations(snapshot.ledger, record, snapshot.now, snapshot.policy),
  );
  if (claimed === 'conflict') return 'again';
  const workload = claimed;
  let effect: Effect;
  try {
    effect = await apply(false);
  } catch (err) {
    await release(deps, workload, record);
    throw err;
  }
  if (effect.kind !== 'done') {
    // Handed back: the next round (or a redelivery) reads again and resumes this claim.
    await release(deps, workload, record);
    if (effect.kind === 'changed') return 'again';
    return stopped({ ...effect, kind: 'stop', outcome: 'skipped' }, context);
  }
  const recorded = await finish(deps, workload, record, episode);
  return {
    outcome: 'applied',
    reason: effect.reason,
    message: effect.message,
    ...context,
    detail: { ...verdict.detail, ...effect.detail, ...counted, ...(recorded ? {} : { recorded: false }) },
  };
}

async function commitWithRecord<S, P>(
  write: WithRecord,
  verdict: Act<P>,
  snapshot: Snapshot<S>,
  deps: ActionDeps,
  options: {
    dryRun: boolean;
    context: Partial<Decision>;
    counted: Record<string, number>;
    episode: ((annotations: Record<string, string>) => Record<string, string>) | undefined;
  },
): Promise<Round> {
  const { dryRun, context, counted, episode } = options;
  if (dryRun) {
    await patchWorkload(deps.kube, snapshot.workload, write.patch, { dryRun: true });
    return {
      outcome: 'dry-run',
      reason: 'dry-run',
      message: write.dryRunMessage,
      ...context,
      detail: verdict.detail,
    };
  }
  const record = newRecord(snapshot.request, snapshot.now, verdict.detail);
  const annotations = {
    ...doneAnnotations(snapshot.ledger, record, snapshot.now, snapshot.policy),
    ...episode?.(workloadMeta(snapshot.workload).annotations),
  };
  await deps.beforeWrite?.(write.stage);
  const written = await conditionalPatch(deps, snapshot.workload, annotations, write.patch);
  if (written === 'conflict') return 'again';
  const applied = write.applied(written);
  return {
    outcome: 'applied',
    reason: applied.reason,
    message: applied.message,
    ...context,
    detail: { ...verdict.detail, ...applied.detail, ...counted },
  };
}

function stopped(verdict: Stop, context: Partial<Decision>): Decision {
  return {
    outcome: verdict.outcome,
    reason: verdict.reason,
    message: verdict.message,
    ...context,
    ...(verdict.detail ? { detail: verdict.detail } : {}),
  };
}
