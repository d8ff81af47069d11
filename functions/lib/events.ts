// The CloudEvents selfheal sends: one action event per firing alert (router → action) and one result per action.
import { createHash } from 'node:crypto';
import { CloudEvent } from 'cloudevents';
import { z } from 'zod';

export const ACTIONS = ['restart-pod', 'redeploy', 'scale'] as const;
export type ActionName = (typeof ACTIONS)[number];

export const ACTION_EVENT_PREFIX = 'dev.selfheal.action.';
export const RESULT_EVENT_TYPE = 'dev.selfheal.result';
// The router's word that an alert resolved: the action that handled it closes the episode (healed).
export const RESOLVED_EVENT_TYPE = 'dev.selfheal.resolved';
export const ROUTER_SOURCE = 'selfheal/router';

export function isAction(value: string): value is ActionName {
  return (ACTIONS as readonly string[]).includes(value);
}

export function actionEventType(action: ActionName): string {
  return `${ACTION_EVENT_PREFIX}${action}`;
}

export function actionFromEventType(type: string): ActionName | undefined {
  if (!type.startsWith(ACTION_EVENT_PREFIX)) return undefined;
  const action = type.slice(ACTION_EVENT_PREFIX.length);
  return isAction(action) ? action : undefined;
}

// Kubernetes object names: namespaces are DNS labels, pods and deployments DNS subdomains.
export const namespaceName = z
  .string()
  .max(63, 'a namespace name has at most 63 characters')
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a valid namespace name (lower-case letters, digits, -)');
export const objectName = z
  .string()
  .max(253, 'an object name has at most 253 characters')
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'must be a valid Kubernetes object name (lower-case letters, digits, - and .)',
  );

export const targetSchema = z.strictObject({
  namespace: namespaceName,
  kind: z.enum(['Pod', 'Deployment', 'StatefulSet', 'DaemonSet']),
  name: objectName,
});
export type Target = z.infer<typeof targetSchema>;

const labelSet = z.record(z.string(), z.string());

export const alertRefSchema = z.looseObject({
  name: z.string().min(1),
  fingerprint: z.string().min(1),
  startsAt: z.string().min(1),
  // Set on a resolved alert: when it stopped firing.
  endsAt: z.string().optional(),
  labels: labelSet.default({}),
  annotations: labelSet.default({}),
});
export type AlertRef = z.infer<typeof alertRefSchema>;

export const paramsSchema = z.strictObject({
  step: z.number().int().min(1, 'step must be at least 1').max(100, 'step must be at most 100').optional(),
});
export type ActionParams = z.infer<typeof paramsSchema>;

// Set when an earlier step of the chain asked for this action: which step, from which action, and why.
export const escalationSchema = z.looseObject({
  step: z.number().int().min(1).max(20),
  from: z.enum(ACTIONS),
  reason: z.string(),
  message: z.string().optional(),
});
export type EscalationRef = z.infer<typeof escalationSchema>;

export const actionEventDataSchema = z.looseObject({
  alert: alertRefSchema.optional(),
  target: targetSchema,
  params: paramsSchema.default({}),
  escalation: escalationSchema.optional(),
});
export type ActionEventData = z.infer<typeof actionEventDataSchema>;

export const OUTCOMES = ['applied', 'dry-run', 'skipped', 'refused', 'failed'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const resultDataSchema = z.looseObject({
  id: z.string(),
  action: z.enum(ACTIONS),
  outcome: z.enum(OUTCOMES),
  reason: z.string(),
  message: z.string(),
  dryRun: z.boolean(),
  target: targetSchema,
  deployment: z.string().optional(),
  detail: z.record(z.string(), z.unknown()).optional(),
});
export type ResultData = z.infer<typeof resultDataSchema>;

export function subjectOf(target: Target): string {
  return `${target.namespace}/${target.kind}/${target.name}`;
}

// The exact instant of an RFC 3339 timestamp in one spelling (UTC, nanoseconds), so the same alert start
// gives the same id however it was formatted.
export function canonicalInstant(timestamp: string): string {
  const millis = Date.parse(timestamp);
  if (Number.isNaN(millis)) throw new RangeError(`not a timestamp: ${timestamp}`);
  const fraction = /T\d{2}:\d{2}:\d{2}\.(\d+)/.exec(timestamp)?.[1] ?? '';
  const subMillis = fraction.slice(3, 9).padEnd(6, '0');
  return `${new Date(millis).toISOString().slice(0, -1)}${subMillis}Z`;
}

// The idempotency key: the same alert occurrence and action always give the same id.
export function eventId(fingerprint: string, startsAt: string, action: ActionName): string {
  return createHash('sha256')
    .update(`${fingerprint}\n${canonicalInstant(startsAt)}\n${action}`)
    .digest('hex')
    .slice(0, 32);
}

// The id of step `step` (≥ 1) of the chain for an alert instance: the same escalation always gets the same id.
export function escalationEventId(
  fingerprint: string,
  startsAt: string,
  action: ActionName,
  step: number,
): string {
  return createHash('sha256')
    .update(`${fingerprint}\n${canonicalInstant(startsAt)}\n${action}\nstep ${step}`)
    .digest('hex')
    .slice(0, 32);
}

// The id of the resolution of an alert instance.
export function resolvedEventId(fingerprint: string, startsAt: string): string {
  return createHash('sha256')
    .update(`${fingerprint}\n${canonicalInstant(startsAt)}\nresolved`)
    .digest('hex')
    .slice(0, 32);
}

export type ActionEventInput = {
  action: ActionName;
  alert: AlertRef;
  target: Target;
  params?: ActionParams;
  source?: string;
  // Asks the action for a dry run (the router's SELFHEAL_DRY_RUN), as the DRY_RUN_EXTENSION attribute.
  dryRun?: boolean;
};

// A CloudEvent extension attribute: "true" makes the action decide and record its decision but change nothing.
export const DRY_RUN_EXTENSION = 'selfhealdryrun';

export function buildActionEvent(input: ActionEventInput): CloudEvent<ActionEventData> {
  const data: ActionEventData = { alert: input.alert, target: input.target, params: input.params ?? {} };
  return new CloudEvent<ActionEventData>({
    id: eventId(input.alert.fingerprint, input.alert.startsAt, input.action),
    type: actionEventType(input.action),
    source: input.source ?? ROUTER_SOURCE,
    subject: subjectOf(input.target),
    time: new Date(Date.parse(input.alert.startsAt)).toISOString(),
    datacontenttype: 'application/json',
    data,
    ...(input.dryRun ? { [DRY_RUN_EXTENSION]: 'true' } : {}),
  });
}

export function buildResultEvent(result: ResultData): CloudEvent<ResultData> {
  return new CloudEvent<ResultData>({
    id: createHash('sha256')
      .update(`${result.id}\n${result.outcome}\n${result.reason}`)
      .digest('hex')
      .slice(0, 32),
    type: RESULT_EVENT_TYPE,
    source: `selfheal/${result.action}`,
    subject: subjectOf(result.target),
    datacontenttype: 'application/json',
    data: result,
  });
}

// The next step of the chain, as the reply of the action that escalated (structured mode, so a caller that reads only
// the body — the router, a Knative Broker — can route it).
export function buildEscalationEvent(input: {
  action: ActionName;
  alert: AlertRef;
  target: Target;
  escalation: EscalationRef;
}): CloudEvent<ActionEventData> {
  const data: ActionEventData = {
    alert: input.alert,
    target: input.target,
    params: {},
    escalation: input.escalation,
  };
  return new CloudEvent<ActionEventData>({
    id: escalationEventId(input.alert.fingerprint, input.alert.startsAt, input.action, input.escalation.step),
    type: actionEventType(input.action),
    source: `selfheal/${input.escalation.from}`,
    subject: subjectOf(input.target),
    datacontenttype: 'application/json',
    data,
  });
}

export type ResolvedEventData = { alert: AlertRef; target: Target };
// `dryRun`: the router's SELFHEAL_DRY_RUN, so that the resolution, too, changes nothing.
export type ResolvedEventInput = ResolvedEventData & { source?: string; dryRun?: boolean };

export function buildResolvedEvent(input: ResolvedEventInput): CloudEvent<ResolvedEventData> {
  return new CloudEvent<ResolvedEventData>({
    id: resolvedEventId(input.alert.fingerprint, input.alert.startsAt),
    type: RESOLVED_EVENT_TYPE,
    source: input.source ?? ROUTER_SOURCE,
    subject: subjectOf(input.target),
    // When it stopped firing (or started, without an end): the same alert always gives the same event.
    time: new Date(
      Number.isNaN(Date.parse(input.alert.endsAt ?? ''))
        ? Date.parse(input.alert.startsAt)
        : Date.parse(input.alert.endsAt ?? ''),
    ).toISOString(),
    datacontenttype: 'application/json',
    data: { alert: input.alert, target: input.target },
    ...(input.dryRun ? { [DRY_RUN_EXTENSION]: 'true' } : {}),
  });
}
