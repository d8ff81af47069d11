// What the router says about each alert: one result per alert from its plan and what became of its delivery,
// one log line per decision, and the summary lines and counters for what a storm left for later.
import type { Webhook } from '../lib/alertmanager.ts';
import { subjectOf } from '../lib/events.ts';
import type { Logger } from '../lib/log.ts';
import { alertsReceived, deadlineAlerts, truncatedAlerts } from '../lib/metrics.ts';
import type { ActionAnswer, Delivery } from './deliver.ts';
import type { Hop } from './follow.ts';
import type { Planned } from './plan.ts';
import type { SettledDelivery } from './progress.ts';

export type AlertResult = {
  alertname: string;
  fingerprint: string;
  status: 'firing' | 'resolved';
  outcome: 'accepted' | 'rejected' | 'failed' | 'resolved';
  action?: string;
  eventId?: string;
  target?: string;
  reason?: string;
  message?: string;
  httpStatus?: number;
  result?: ActionAnswer;
  // The next steps the actions handed on (escalation), in order.
  escalatedTo?: string[];
  // Settled by an earlier attempt of this notification and not sent again.
  earlierAttempt?: true;
};

// What became of an alert that needed a delivery.
export type Fate =
  // ms: from the webhook's arrival to the action's answer (the change acknowledged, or refused).
  | { kind: 'delivered'; delivery: Delivery; hops?: readonly Hop[]; ms?: number }
  | { kind: 'earlier'; settled: SettledDelivery }
  | { kind: 'concurrent' }
  | { kind: 'deadline'; stage: 'in-flight' | 'not-attempted' };

export type Tally = { inFlight: number; notAttempted: number; concurrent: number; fromEarlier: number };

// The result the answer gives for one alert.
export function describe(plan: Planned, fate: Fate | undefined, deadlineMs: number): AlertResult {
  const base = {
    alertname: plan.alert.alertname,
    fingerprint: plan.alert.fingerprint,
    status: plan.alert.status,
  };
  if (plan.kind === 'resolved')
    return { ...base, outcome: 'resolved', reason: 'resolved', message: 'resolved alerts trigger no action' };
  if (plan.kind === 'rejected') {
    return {
      ...base,
      outcome: 'rejected',
      ...(plan.action ? { action: plan.action } : {}),
      reason: plan.reason,
      message: plan.message,
    };
  }
  const sent = { ...base, action: plan.action, eventId: plan.id, target: subjectOf(plan.target) };
  const result = describeSent(sent, fate, deadlineMs);
  return plan.kind === 'resolve' ? asResolution(result, plan.action) : result;
}

// A resolution told to its action reads "resolved" unless it must be sent again.
function asResolution(result: AlertResult, action: string): AlertResult {
  if (result.outcome === 'failed') return result;
  const { result: said, httpStatus: _status, ...rest } = result;
  return {
    ...rest,
    outcome: 'resolved',
    reason: said?.reason ?? result.reason ?? 'resolved',
    message: said?.message ?? result.message ?? `${action} was told the alert resolved`,
  };
}

type Sent = Pick<AlertResult, 'alertname' | 'fingerprint' | 'status' | 'action' | 'eventId' | 'target'>;

function describeSent(sent: Sent, fate: Fate | undefined, deadlineMs: number): AlertResult {
  if (!fate) return { ...sent, outcome: 'failed', reason: 'not-sent', message: 'not delivered' };
  if (fate.kind === 'deadline') {
    return {
      ...sent,
      outcome: 'failed',
      reason: 'deadline',
      message:
        fate.stage === 'in-flight'
          ? `no answer before the router's answer deadline (${deadlineMs} ms): abandoned; the retry carries the same event id`
          : `not attempted before the router's answer deadline (${deadlineMs} ms): left for Alertmanager's retry`,
    };
  }
  if (fate.kind === 'concurrent') {
    return {
      ...sent,
      outcome: 'failed',
      reason: 'concurrent',
      message: 'being delivered by a concurrent attempt of this notification: the retry reports it',
    };
  }
  if (fate.kind === 'earlier') {
    const { outcome, httpStatus, reason, result, escalatedTo } = fate.settled;
    return {
      ...sent,
      outcome,
      httpStatus,
      ...(reason ? { reason } : {}),
      ...(result ? { result: { outcome: result } } : {}),
      ...(escalatedTo ? { escalatedTo: [...escalatedTo] } : {}),
      message: `${outcome} on an earlier attempt of this notification; not sent again`,
      earlierAttempt: true,
    };
  }
  const { delivery } = fate;
  const hops = fate.hops ?? [];
  const escalated = hops.length > 0 ? { escalatedTo: hops.map((h) => h.action) } : {};
  if (delivery.outcome === 'accepted') {
    return {
      ...sent,
      ...escalated,
      outcome: 'accepted',
      httpStatus: delivery.status,
      ...(delivery.answer ? { result: delivery.answer } : {}),
    };
  }
  return {
    ...sent,
    ...escalated,
    outcome: delivery.outcome,
    reason: delivery.reason,
    message: delivery.message,
    ...(delivery.status ? { httpStatus: delivery.status } : {}),
    ...(delivery.outcome === 'rejected' && delivery.answer ? { result: delivery.answer } : {}),
  };
}

// The part of a delivery worth remembering for the notification's next attempt: accepted or rejected.
export function settledOf(delivery: Delivery, hops: readonly Hop[] = []): SettledDelivery | undefined {
  if (delivery.outcome === 'failed') return undefined;
  return {
    outcome: delivery.outcome,
    httpStatus: delivery.status,
    ...(delivery.outcome === 'rejected' ? { reason: delivery.reason } : {}),
    ...(delivery.answer?.outcome ? { result: delivery.answer.outcome } : {}),
    ...(hops.length > 0 ? { escalatedTo: hops.map((h) => h.action) } : {}),
  };
}

// Counts and logs the results: a line per decision taken now, with the milliseconds from the webhook's arrival to
// the action's answer (the alerts left for later, or settled earlier, at debug level), a warning summing up what the deadline left out, and one for what Alertmanager truncated.
export function report(
  webhook: Webhook,
  plans: readonly Planned[],
  fates: ReadonlyMap<Planned, Fate>,
  results: readonly AlertResult[],
  { log, deadlineMs }: { log: Logger; deadlineMs: number },
): Tally {
  const tally: Tally = { inFlight: 0, notAttempted: 0, concurrent: 0, fromEarlier: 0 };
  for (const [i, result] of results.entries()) {
    alertsReceived.inc({ status: result.status, outcome: result.outcome });
    const fate = fates.get(plans[i] as Planned);
    if (fate?.kind === 'deadline') tally[fate.stage === 'in-flight' ? 'inFlight' : 'notAttempted']++;
    if (fate?.kind === 'concurrent') tally.concurrent++;
    if (fate?.kind === 'earlier') tally.fromEarlier++;
    const level = fate && fate.kind !== 'delivered' ? 'debug' : result.outcome === 'failed' ? 'warn' : 'info';
    log[level](
      {
        alert: result.alertname,
        fingerprint: result.fingerprint,
        status: result.status,
        outcome: result.outcome,
        action: result.action,
        target: result.target,
        id: result.eventId,
        reason: result.reason,
        httpStatus: result.httpStatus,
        result: result.result?.outcome,
        escalatedTo: result.escalatedTo,
        ...(fate?.kind === 'delivered' && fate.ms !== undefined ? { ms: Math.round(fate.ms) } : {}),
      },
      result.message ?? `${result.action} ${result.outcome}`,
    );
  }
  if (tally.inFlight > 0) deadlineAlerts.inc({ stage: 'in-flight' }, tally.inFlight);
  if (tally.notAttempted > 0) deadlineAlerts.inc({ stage: 'not-attempted' }, tally.notAttempted);
  const left = tally.inFlight + tally.notAttempted + tally.concurrent;
  const notification = {
    receiver: webhook.receiver,
    groupKey: webhook.groupKey,
    alerts: webhook.alerts.length,
  };
  if (left > 0) {
    log.warn(
      { ...notification, ...tally, deadlineMs },
      `${left} alerts left for Alertmanager's retry (answer deadline reached or a concurrent attempt delivering them): answering 503`,
    );
  } else if (tally.fromEarlier > 0) {
    log.info(
      { ...notification, fromEarlier: tally.fromEarlier },
      `${tally.fromEarlier} alerts settled on an earlier attempt of this notification were not sent again`,
    );
  }
  if (webhook.truncatedAlerts > 0) {
    truncatedAlerts.inc({ receiver: webhook.receiver }, webhook.truncatedAlerts);
    log.warn(
      { ...notification, truncatedAlerts: webhook.truncatedAlerts },
      'Alertmanager left alerts out of this notification (max_alerts); they get no action from it',
    );
  }
  return tally;
}
