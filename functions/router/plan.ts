// The router's decision, pure: from an Alertmanager webhook and the routing table to one planned CloudEvent per
// alert — an action for a firing alert, a resolution for a resolved one — or a rejection. The event itself is built
// when it is sent, so that a storm's alerts that wait for a later attempt cost only their id and references to the
// parsed alert.
import type { CloudEvent } from 'cloudevents';
import type { Alert, Webhook } from '../lib/alertmanager.ts';
import {
  ACTIONS,
  type ActionEventData,
  type ActionEventInput,
  type ActionName,
  buildActionEvent,
  buildResolvedEvent,
  eventId,
  isAction,
  namespaceName,
  objectName,
  type ResolvedEventData,
  type ResolvedEventInput,
  resolvedEventId,
  type Target,
} from '../lib/events.ts';
import { checkNamespace, type NamespaceAllowList } from '../lib/guards.ts';

export type RoutingTable = Readonly<Record<string, ActionName>>;

export type PlanOptions = {
  routes: RoutingTable;
  namespaces: NamespaceAllowList;
  source?: string;
  // SELFHEAL_DRY_RUN of the router: every event asks its action to decide and change nothing.
  dryRun?: boolean;
};

// The latest instant a CloudEvent's `time` can carry (RFC 3339 has four-digit years).
const LAST_EVENT_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export type AlertSummary = {
  alertname: string;
  fingerprint: string;
  status: Alert['status'];
  startsAt: string;
};

export type Planned =
  | {
      kind: 'deliver';
      alert: AlertSummary;
      action: ActionName;
      target: Target;
      // The event's id (the idempotency key) and what it is built from (toEvent).
      id: string;
      input: ActionEventInput;
    }
  | { kind: 'rejected'; alert: AlertSummary; action?: ActionName; reason: string; message: string }
  // A resolved alert with a route: its action is told, to close the episode (healed).
  | {
      kind: 'resolve';
      alert: AlertSummary;
      action: ActionName;
      target: Target;
      id: string;
      input: ResolvedEventInput;
    }
  // A resolved alert nothing acted on: nothing to tell.
  | { kind: 'resolved'; alert: AlertSummary };

// The action an alert asks for: its `action` label, else the routing table entry for its alertname.
export function chooseAction(
  alert: Alert,
  routes: RoutingTable,
): { action: ActionName } | { reason: string; message: string } {
  const label = alert.labels.action?.trim();
  if (label) {
    if (isAction(label)) return { action: label };
    return { reason: 'unknown-action', message: `unknown action "${label}" (known: ${ACTIONS.join(', ')})` };
  }
  const alertname = alert.labels.alertname ?? '';
  const routed = Object.hasOwn(routes, alertname) ? routes[alertname] : undefined;
  if (routed) return { action: routed };
  return {
    reason: 'no-route',
    message: `no action for alert "${alertname}": give it an action label or a SELFHEAL_ROUTES entry`,
  };
}

// The workload labels an alert may carry (kube-state-metrics' names), in order of preference.
const WORKLOAD_LABELS = [
  ['deployment', 'Deployment'],
  ['statefulset', 'StatefulSet'],
  ['daemonset', 'DaemonSet'],
] as const;

// The object an action works on, from the alert's namespace and pod/deployment/statefulset/daemonset labels.
export function chooseTarget(
  alert: Alert,
  action: ActionName,
): { target: Target } | { reason: string; message: string } {
  const { namespace, pod } = alert.labels;
  if (!namespace) return { reason: 'no-target', message: 'the alert has no namespace label' };
  const workload = WORKLOAD_LABELS.find(([label]) => alert.labels[label]);
  const byPod = action === 'restart-pod' || !workload;
  const [label, kind] = byPod ? (['pod', 'Pod'] as const) : (workload as (typeof WORKLOAD_LABELS)[number]);
  const name = byPod ? pod : alert.labels[label];
  if (!name) {
    return {
      reason: 'no-target',
      message:
        action === 'restart-pod'
          ? 'restart-pod needs a pod label'
          : `${action} needs a deployment, statefulset, daemonset or pod label`,
    };
  }
  const problems = [
    ...(namespaceName.safeParse(namespace).success ? [] : [`namespace "${namespace}" is not a valid name`]),
    ...(objectName.safeParse(name).success ? [] : [`${label} "${name}" is not a valid name`]),
  ];
  if (problems.length > 0) return { reason: 'invalid-target', message: problems.join('; ') };
  return { target: { namespace, kind, name } };
}

export function summarize(alert: Alert): AlertSummary {
  return {
    alertname: alert.labels.alertname ?? '',
    fingerprint: alert.fingerprint,
    status: alert.status,
    startsAt: alert.startsAt,
  };
}

function alertRef(alert: Alert, summary: AlertSummary) {
  return {
    name: summary.alertname,
    fingerprint: alert.fingerprint,
    startsAt: alert.startsAt,
    labels: alert.labels,
    annotations: alert.annotations,
  };
}

// A resolved alert goes to the action its firing self went to (same route, same target).
function planResolved(alert: Alert, summary: AlertSummary, options: PlanOptions): Planned {
  const chosen = chooseAction(alert, options.routes);
  const aimed = 'action' in chosen ? chooseTarget(alert, chosen.action) : undefined;
  if (!('action' in chosen) || !aimed || 'reason' in aimed) return { kind: 'resolved', alert: summary };
  if (checkNamespace(aimed.target.namespace, options.namespaces)) return { kind: 'resolved', alert: summary };
  const input: ResolvedEventInput = {
    alert: { ...alertRef(alert, summary), ...(alert.endsAt ? { endsAt: alert.endsAt } : {}) },
    target: aimed.target,
    ...(options.source ? { source: options.source } : {}),
    ...(options.dryRun ? { dryRun: true } : {}),
  };
  const id = resolvedEventId(alert.fingerprint, alert.startsAt);
  return { kind: 'resolve', alert: summary, action: chosen.action, target: aimed.target, id, input };
}

export function planAlert(alert: Alert, options: PlanOptions): Planned {
  const summary = summarize(alert);
  const startsAt = Date.parse(alert.startsAt);
  if (!(startsAt >= 0 && startsAt <= LAST_EVENT_TIME)) {
    return {
      kind: 'rejected',
      alert: summary,
      reason: 'invalid-alert',
      message: `startsAt ${alert.startsAt} is not a time between 1970 and 9999 in UTC`,
    };
  }
  if (alert.status === 'resolved') return planResolved(alert, summary, options);
  const chosen = chooseAction(alert, options.routes);
  if ('reason' in chosen) return { kind: 'rejected', alert: summary, ...chosen };
  const { action } = chosen;
  const aimed = chooseTarget(alert, action);
  if ('reason' in aimed) return { kind: 'rejected', alert: summary, action, ...aimed };
  const refusal = checkNamespace(aimed.target.namespace, options.namespaces);
  if (refusal) return { kind: 'rejected', alert: summary, action, ...refusal };
  const input: ActionEventInput = {
    action,
    alert: alertRef(alert, summary),
    target: aimed.target,
    ...(options.source ? { source: options.source } : {}),
    ...(options.dryRun ? { dryRun: true } : {}),
  };
  const id = eventId(alert.fingerprint, alert.startsAt, action);
  return { kind: 'deliver', alert: summary, action, target: aimed.target, id, input };
}

// A plan that sends an event: an action for a firing alert, or the resolution of one.
export type Deliverable = Extract<Planned, { kind: 'deliver' | 'resolve' }>;

// The CloudEvent of a planned delivery (its id is plan.id).
export function toEvent(plan: Extract<Planned, { kind: 'deliver' }>): CloudEvent<ActionEventData>;
export function toEvent(plan: Extract<Planned, { kind: 'resolve' }>): CloudEvent<ResolvedEventData>;
export function toEvent(plan: Deliverable): CloudEvent<ActionEventData | ResolvedEventData>;
export function toEvent(plan: Deliverable): CloudEvent<ActionEventData | ResolvedEventData> {
  return plan.kind === 'deliver' ? buildActionEvent(plan.input) : buildResolvedEvent(plan.input);
}

export function planWebhook(webhook: Webhook, options: PlanOptions): Planned[] {
  return webhook.alerts.map((alert) => planAlert(alert, options));
}
