// An action's request, from a CloudEvent of the router (an alert firing or resolved) or of an earlier step of the
// escalation chain, or from a plain JSON body an operator sends, validated with zod; what the engine acts on.
import { randomUUID } from 'node:crypto';
import type { CloudEventV1 } from 'cloudevents';
import { z } from 'zod';
import { INVALID_CLOUDEVENT } from './envelope.ts';
import { describeIssues, SelfhealError } from './errors.ts';
import {
  type ActionName,
  type ActionParams,
  type AlertRef,
  actionEventDataSchema,
  actionEventType,
  alertRefSchema,
  DRY_RUN_EXTENSION,
  type EscalationRef,
  namespaceName,
  objectName,
  RESOLVED_EVENT_TYPE,
  type Target,
  targetSchema,
} from './events.ts';

export type ActionRequest = {
  id: string;
  action: ActionName;
  // act: remediate; resolved: the alert stopped firing, close its episode.
  intent: 'act' | 'resolved';
  target: Target;
  params: ActionParams;
  alert: AlertRef | undefined;
  // Set when an earlier step of the escalation chain asked for this action.
  escalation?: EscalationRef | undefined;
  dryRun: boolean;
  format: 'cloudevent' | 'json';
};

const resolvedDataSchema = z.looseObject({
  // endsAt: when it stopped firing (without it, the action takes its own clock).
  alert: alertRefSchema,
  target: targetSchema,
});

// The plain request names its target by one of these fields.
const TARGET_FIELDS = {
  pod: 'Pod',
  deployment: 'Deployment',
  statefulset: 'StatefulSet',
  daemonset: 'DaemonSet',
} as const;

const plainRequestSchema = z
  .strictObject({
    namespace: namespaceName,
    pod: objectName.optional(),
    deployment: objectName.optional(),
    statefulset: objectName.optional(),
    daemonset: objectName.optional(),
    step: z.number().int().min(1).max(100).optional(),
    id: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1-128 letters, digits, ".", "_", ":" or "-"')
      .optional(),
    dryRun: z.boolean().optional(),
  })
  .refine(
    (r) => Object.keys(TARGET_FIELDS).filter((f) => r[f as keyof typeof r] !== undefined).length === 1,
    {
      message: 'give exactly one of "pod" or "deployment" (or "statefulset", "daemonset")',
    },
  );

// A 400 about a CloudEvent's content has the reason of every refused CloudEvent; a plain request's, the kind's.
function invalidEvent(message: string, problems: string[]): SelfhealError {
  return new SelfhealError('invalid', message, { problems, reason: INVALID_CLOUDEVENT });
}

function targetAllowed(action: ActionName, target: Target, reason = 'invalid'): void {
  if (action === 'restart-pod' && target.kind !== 'Pod') {
    throw new SelfhealError('invalid', 'restart-pod acts on a pod: give "pod" (not "deployment")', {
      problems: ['target: restart-pod needs a Pod'],
      reason,
    });
  }
}

function fromData(data: unknown): unknown {
  if (typeof data === 'string' || Buffer.isBuffer(data)) {
    try {
      return JSON.parse(data.toString());
    } catch {
      throw invalidEvent('the CloudEvent data is not JSON', ['data: not JSON']);
    }
  }
  return data;
}

export function parseCloudEventRequest(
  action: ActionName,
  event: Pick<CloudEventV1<unknown>, 'id' | 'type' | 'data'> & Record<string, unknown>,
  forceDryRun: boolean,
): ActionRequest {
  const expected = actionEventType(action);
  if (event.type === RESOLVED_EVENT_TYPE) {
    const resolved = resolvedDataSchema.safeParse(fromData(event.data));
    if (!resolved.success) {
      const problems = describeIssues(resolved.error).map((p) => `data.${p}`);
      throw invalidEvent(`invalid ${RESOLVED_EVENT_TYPE} event: ${problems.join('; ')}`, problems);
    }
    return {
      id: event.id,
      action,
      intent: 'resolved',
      target: resolved.data.target,
      params: {},
      alert: resolved.data.alert,
      dryRun: forceDryRun || String(event[DRY_RUN_EXTENSION]).toLowerCase() === 'true',
      format: 'cloudevent',
    };
  }
  if (event.type !== expected) {
    throw invalidEvent(
      `this function handles CloudEvents of type ${expected} (and ${RESOLVED_EVENT_TYPE}), not ${event.type}`,
      [`type: expected ${expected}`],
    );
  }
  const parsed = actionEventDataSchema.safeParse(fromData(event.data));
  if (!parsed.success) {
    const problems = describeIssues(parsed.error).map((p) => `data.${p}`);
    throw invalidEvent(`invalid ${expected} event: ${problems.join('; ')}`, problems);
  }
  targetAllowed(action, parsed.data.target, INVALID_CLOUDEVENT);
  return {
    id: event.id,
    action,
    intent: 'act',
    target: parsed.data.target,
    params: parsed.data.params,
    alert: parsed.data.alert,
    // The router's dry run travels with the event; an action's own SELFHEAL_DRY_RUN holds whatever it says.
    escalation: parsed.data.escalation,
    dryRun: forceDryRun || String(event[DRY_RUN_EXTENSION]).toLowerCase() === 'true',
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
  const [field, kind] = Object.entries(TARGET_FIELDS).find(([f]) => r[f as keyof typeof r] !== undefined) as [
    keyof typeof TARGET_FIELDS,
    Target['kind'],
  ];
  const target: Target = { namespace: r.namespace, kind, name: r[field] as string };
  targetAllowed(action, target);
  if (r.step !== undefined && action !== 'scale') {
    throw new SelfhealError('invalid', `"step" applies to scale only`, {
      problems: ['step: only for scale'],
    });
  }
  return {
    id: r.id ?? `manual-${randomUUID()}`,
    action,
    intent: 'act',
    target,
    params: r.step === undefined ? {} : { step: r.step },
    alert: undefined,
    dryRun: forceDryRun || r.dryRun === true,
    format: 'json',
  };
}
