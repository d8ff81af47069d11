// Makes an action's decision visible and final: runs the logic, turns a thrown error into a failed or refused
// outcome, and records the decision as a Kubernetes Event, one log line and a metric.
import type { ActionOutcome, HttpAnswer } from './answer.ts';
import { type DeadLetter, describeDeadLetter } from './dead-letter.ts';
import type { ActionDeps, ActionLogic, Decision } from './decision.ts';
import { KNOWN_EVENT_TYPES } from './envelope.ts';
import { SelfhealError } from './errors.ts';
import { type ActionName, RESULT_EVENT_TYPE, type ResultData, subjectOf, type Target } from './events.ts';
import { checkNamespace } from './guards.ts';
import { buildEvent, type ObjectRef } from './kube-events.ts';
import { deadLetters, decisions } from './metrics.ts';
import type { ActionRequest } from './request.ts';

const EVENT_REASON: Record<ActionName, string> = {
  'restart-pod': 'RestartedPod',
  redeploy: 'RestartedRollout',
  scale: 'ScaledUp',
};
const EVENT_ACTION: Record<ActionName, string> = {
  'restart-pod': 'RestartPod',
  redeploy: 'Redeploy',
  scale: 'Scale',
};

function eventReason(action: ActionName, outcome: ResultData['outcome']): string {
  switch (outcome) {
    case 'applied':
      return EVENT_REASON[action];
    case 'dry-run':
      return 'DryRun';
    case 'skipped':
      return 'Skipped';
    case 'refused':
      return 'Refused';
    case 'failed':
      return 'Failed';
  }
}

function targetRef(target: Target): ObjectRef {
  return {
    apiVersion: target.kind === 'Pod' ? 'v1' : 'apps/v1',
    kind: target.kind,
    namespace: target.namespace,
    name: target.name,
  };
}

function statusOf(outcome: ResultData['outcome'], error: SelfhealError | undefined): number {
  if (error) return error.code;
  return outcome === 'refused' ? 422 : 200;
}

// Runs the logic and makes its decision visible; never throws.
export async function runAction(
  logic: ActionLogic,
  request: ActionRequest,
  deps: ActionDeps,
): Promise<ActionOutcome> {
  const started = performance.now();
  let decision: Decision;
  let error: SelfhealError | undefined;
  try {
    decision = await logic(request, deps);
  } catch (err) {
    error =
      err instanceof SelfhealError
        ? err
        : new SelfhealError('internal', `unexpected error: ${(err as Error)?.message ?? err}`, {
            cause: err,
          });
    decision = { outcome: 'refused', reason: error.reason, message: error.message };
  }
  const refusedByError = error?.kind === 'refused' || error?.kind === 'invalid';
  const outcome: ResultData['outcome'] = error && !refusedByError ? 'failed' : decision.outcome;
  const dryRun = request.dryRun || deps.config.dryRun;
  const result: ResultData = {
    id: request.id,
    action: request.action,
    outcome,
    reason: decision.reason,
    message: decision.message,
    dryRun,
    target: request.target,
    ...(decision.deployment ? { deployment: decision.deployment } : {}),
    ...(decision.detail ? { detail: decision.detail } : {}),
  };
  const now = deps.now();
  const event = buildEvent({
    fn: request.action,
    instance: deps.instance,
    key: request.id,
    reason: (!error && decision.eventReason) || error?.eventReason || eventReason(request.action, outcome),
    message: `${decision.message}${request.alert ? ` (alert ${request.alert.name}, fingerprint ${request.alert.fingerprint})` : ''}`,
    warning: (!error && decision.warning) || outcome === 'failed' || outcome === 'refused',
    involved: decision.involved ?? targetRef(request.target),
    related: decision.related,
    action: EVENT_ACTION[request.action],
    now,
  });
  let recorded = 'not-recorded';
  if (decision.recordEvent !== false) {
    try {
      recorded = await deps.kube.createEvent(
        event.involvedObject.namespace as string,
        event,
        deps.config.eventTimeoutMs,
      );
    } catch (err) {
      recorded = 'failed';
      deps.log.warn({ id: request.id, err: (err as Error).message }, 'could not record the Kubernetes Event');
    }
  }
  const status = statusOf(outcome, error);
  deps.log[status >= 500 ? 'error' : 'info'](
    {
      id: request.id,
      action: request.action,
      alert: request.alert?.name,
      fingerprint: request.alert?.fingerprint,
      target: subjectOf(request.target),
      deployment: decision.deployment,
      outcome,
      reason: decision.reason,
      dryRun,
      status,
      event: recorded,
      ms: Math.round(performance.now() - started),
      ...(decision.detail ? { detail: decision.detail } : {}),
    },
    decision.message,
  );
  decisions.inc({ action: request.action, outcome, reason: decision.reason });
  return { status, result, ...(decision.next && !error ? { next: decision.next } : {}) };
}

// The metric's labels: selfheal's own types and HTTP status codes; whatever else a sender put there is `other`,
// so a dead letter of any type cannot grow the metric's series without bound.
const LETTER_TYPES = new Set([...KNOWN_EVENT_TYPES, RESULT_EVENT_TYPE]);
export function deadLetterLabels(letter: Pick<DeadLetter, 'type' | 'code'>): { type: string; code: string } {
  return {
    type: LETTER_TYPES.has(letter.type) ? letter.type : 'other',
    code: letter.code === undefined ? 'none' : /^[1-5]\d\d$/.test(letter.code) ? letter.code : 'other',
  };
}

/**
 * Records a dead letter where a person looks: a Warning Event `Undelivered` on the workload it was about (in an
 * allowed namespace), an error log line and selfheal_dead_letters_total. Acts on nothing; answers 202.
 */
export async function recordDeadLetter(
  fn: ActionName,
  letter: DeadLetter,
  deps: ActionDeps,
): Promise<HttpAnswer> {
  const message = describeDeadLetter(letter);
  let recorded = 'not-recorded';
  if (letter.target && !checkNamespace(letter.target.namespace, deps.config.namespaces)) {
    const event = buildEvent({
      fn,
      instance: deps.instance,
      key: `${letter.id}\ndead-letter`,
      reason: 'Undelivered',
      message,
      warning: true,
      involved: targetRef(letter.target),
      action: 'DeadLetter',
      now: deps.now(),
    });
    try {
      recorded = await deps.kube.createEvent(letter.target.namespace, event, deps.config.eventTimeoutMs);
    } catch (err) {
      recorded = 'failed';
      deps.log.warn({ id: letter.id, err: (err as Error).message }, 'could not record the Kubernetes Event');
    }
  }
  deps.log.error(
    {
      id: letter.id,
      type: letter.type,
      destination: letter.destination,
      code: letter.code,
      target: letter.target ? subjectOf(letter.target) : undefined,
      event: recorded,
    },
    message,
  );
  deadLetters.inc(deadLetterLabels(letter));
  return {
    statusCode: 202,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify({
      outcome: 'recorded',
      reason: 'dead-letter',
      id: letter.id,
      type: letter.type,
      message,
    }),
  };
}
