// What every action shares: its request (a CloudEvent from the router or a plain JSON body), its decision,
// and how a decision becomes visible (Event, log line, metric) and a result (CloudEvent or JSON) with a status.
import { randomUUID } from 'node:crypto';
import { type CloudEventV1, HTTP } from 'cloudevents';
import { z } from 'zod';
import type { ActionConfig } from './config.ts';
import { describeIssues, SelfhealError } from './errors.ts';
import {
  type ActionName,
  type ActionParams,
  type AlertRef,
  actionEventDataSchema,
  actionEventType,
  buildResultEvent,
  namespaceName,
  objectName,
  type ResultData,
  subjectOf,
  type Target,
} from './events.ts';
import type { KubeOps } from './kube.ts';
import { buildEvent, type ObjectRef } from './kube-events.ts';
import type { Logger } from './log.ts';
import { decisions } from './metrics.ts';

export type ActionRequest = {
  id: string;
  action: ActionName;
  target: Target;
  params: ActionParams;
  alert: AlertRef | undefined;
  dryRun: boolean;
  format: 'cloudevent' | 'json';
};

export type ActionDeps = {
  kube: KubeOps;
  config: ActionConfig;
  log: Logger;
  now: () => Date;
  instance: string;
  // Test seam: runs between a read and the write that depends on it (to provoke real conflicts).
  beforeWrite?: (stage: string) => Promise<void>;
};

export type Decision = {
  outcome: 'applied' | 'dry-run' | 'skipped' | 'refused';
  reason: string;
  message: string;
  involved?: ObjectRef | undefined;
  related?: ObjectRef | undefined;
  deployment?: string | undefined;
  detail?: Record<string, unknown> | undefined;
  // false when no Event can be recorded (a namespace the function may not touch at all).
  recordEvent?: boolean;
};

export type ActionLogic = (request: ActionRequest, deps: ActionDeps) => Promise<Decision>;

const plainRequestSchema = z
  .strictObject({
    namespace: namespaceName,
    pod: objectName.optional(),
    deployment: objectName.optional(),
    step: z.number().int().min(1).max(100).optional(),
    id: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1-128 letters, digits, ".", "_", ":" or "-"')
      .optional(),
    dryRun: z.boolean().optional(),
  })
  .refine((r) => (r.pod === undefined) !== (r.deployment === undefined), {
    message: 'give exactly one of "pod" or "deployment"',
  });

function targetAllowed(action: ActionName, target: Target): void {
  if (action === 'restart-pod' && target.kind !== 'Pod') {
    throw new SelfhealError('invalid', 'restart-pod acts on a pod: give "pod" (not "deployment")', {
      problems: ['target: restart-pod needs a Pod'],
    });
  }
}

function fromData(data: unknown): unknown {
  if (typeof data === 'string' || Buffer.isBuffer(data)) {
    try {
      return JSON.parse(data.toString());
    } catch {
      throw new SelfhealError('invalid', 'the CloudEvent data is not JSON', { problems: ['data: not JSON'] });
    }
  }
  return data;
}

export function parseCloudEventRequest(
  action: ActionName,
  event: Pick<CloudEventV1<unknown>, 'id' | 'type' | 'data'>,
  forceDryRun: boolean,
): ActionRequest {
  const expected = actionEventType(action);
  if (event.type !== expected) {
    throw new SelfhealError(
      'invalid',
      `this function handles CloudEvents of type ${expected}, not ${event.type}`,
      {
        problems: [`type: expected ${expected}`],
      },
    );
  }
  const parsed = actionEventDataSchema.safeParse(fromData(event.data));
  if (!parsed.success) {
    const problems = describeIssues(parsed.error).map((p) => `data.${p}`);
    throw new SelfhealError('invalid', `invalid ${expected} event: ${problems.join('; ')}`, { problems });
  }
  targetAllowed(action, parsed.data.target);
  return {
    id: event.id,
    action,
    target: parsed.data.target,
    params: parsed.data.params,
    alert: parsed.data.alert,
    dryRun: forceDryRun,
    format: 'cloudevent',
  };
}

export function parsePlainRequest(action: ActionName, body: unknown, forceDryRun: boolean): ActionRequest {
  if (
    body === undefined ||
    body === null ||
    typeof body !== 'object' ||
    Buffer.isBuffer(body) ||
    Array.isArray(body)
  ) {
    throw new SelfhealError(
      'invalid',
      'send a JSON object with content-type application/json, e.g. {"namespace":"demo","pod":"web-abc"}, or a CloudEvent',
      { problems: ['body: expected a JSON object'] },
    );
  }
  const parsed = plainRequestSchema.safeParse(body);
  if (!parsed.success) {
    const problems = describeIssues(parsed.error);
    throw new SelfhealError('invalid', `invalid ${action} request: ${problems.join('; ')}`, { problems });
  }
  const r = parsed.data;
  const target: Target = r.pod
    ? { namespace: r.namespace, kind: 'Pod', name: r.pod }
    : { namespace: r.namespace, kind: 'Deployment', name: r.deployment as string };
  targetAllowed(action, target);
  if (r.step !== undefined && action !== 'scale') {
    throw new SelfhealError('invalid', `"step" applies to scale only`, {
      problems: ['step: only for scale'],
    });
  }
  return {
    id: r.id ?? `manual-${randomUUID()}`,
    action,
    target,
    params: r.step === undefined ? {} : { step: r.step },
    alert: undefined,
    dryRun: forceDryRun || r.dryRun === true,
    format: 'json',
  };
}

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

export type ActionOutcome = { status: number; result: ResultData };

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
    reason: eventReason(request.action, outcome),
    message: `${decision.message}${request.alert ? ` (alert ${request.alert.name}, fingerprint ${request.alert.fingerprint})` : ''}`,
    warning: outcome === 'failed' || outcome === 'refused',
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
  return { status, result };
}

export type HttpAnswer = { statusCode: number; headers: Record<string, string>; body: string };

// A result answers in the form of its request: a binary-mode CloudEvent or a JSON body.
export function answer(outcome: ActionOutcome, format: ActionRequest['format']): HttpAnswer {
  if (format === 'cloudevent') {
    const message = HTTP.binary(buildResultEvent(outcome.result));
    return {
      statusCode: outcome.status,
      headers: message.headers as Record<string, string>,
      body: typeof message.body === 'string' ? message.body : JSON.stringify(message.body),
    };
  }
  return {
    statusCode: outcome.status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(outcome.result),
  };
}

export function errorAnswer(error: SelfhealError): HttpAnswer {
  return {
    statusCode: error.code,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(error.toJSON()),
  };
}
