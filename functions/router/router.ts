// The router's work for one webhook: plan every alert (pure), deliver the planned events through the injected
// sender until the answer deadline, and sum up — 200 when nothing is left to retry, 503 when a delivery failed
// in a way a retry may fix or the deadline came first, so that Alertmanager sends the notification again.
import type { Webhook } from '../lib/alertmanager.ts';
import type { RouterConfig } from '../lib/config.ts';
import { subjectOf } from '../lib/events.ts';
import type { Logger } from '../lib/log.ts';
import { alertsReceived, deadlineAlerts, deliveryDuration, truncatedAlerts } from '../lib/metrics.ts';
import { type ActionAnswer, type Delivery, deliver, type Post, sinkUrl, toMessage } from './deliver.ts';
import { type Planned, planWebhook, toEvent } from './plan.ts';
import { mapUntil, type Settled } from './pool.ts';
import { notificationKey, type Progress, type SettledDelivery } from './progress.ts';

export type RouterDeps = {
  config: RouterConfig;
  post: Post;
  log: Logger;
  // Aborts when the answer is due; by default config.answerDeadlineMs from now.
  deadline?: AbortSignal;
  // Deliveries settled by earlier attempts of the same notification, so that a retry re-sends only the rest.
  progress?: Progress;
};

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
  // Settled by an earlier attempt of this notification and not sent again.
  earlierAttempt?: true;
};

export type RouterAnswer = {
  statusCode: 200 | 503;
  body: {
    status: 'ok' | 'retry';
    receiver: string;
    alerts: number;
    truncatedAlerts: number;
    // Set when the answer deadline came before every delivery had finished.
    deadline?: { ms: number; inFlight: number; notAttempted: number };
    results: AlertResult[];
  };
};

type Deliverable = Extract<Planned, { kind: 'deliver' }>;

// What became of an alert that needed a delivery.
type Fate =
  | { kind: 'delivered'; delivery: Delivery }
  | { kind: 'earlier'; settled: SettledDelivery }
  | { kind: 'deadline'; stage: 'in-flight' | 'not-attempted' };

function describe(plan: Planned, fate: Fate | undefined, deadlineMs: number): AlertResult {
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
  if (fate.kind === 'earlier') {
    const { outcome, httpStatus, reason, result } = fate.settled;
    return {
      ...sent,
      outcome,
      httpStatus,
      ...(reason ? { reason } : {}),
      ...(result ? { result: { outcome: result } } : {}),
      message: `${outcome} on an earlier attempt of this notification; not sent again`,
      earlierAttempt: true,
    };
  }
  const { delivery } = fate;
  if (delivery.outcome === 'accepted') {
    return {
      ...sent,
      outcome: 'accepted',
      httpStatus: delivery.status,
      ...(delivery.answer ? { result: delivery.answer } : {}),
    };
  }
  return {
    ...sent,
    outcome: delivery.outcome,
    reason: delivery.reason,
    message: delivery.message,
    ...(delivery.status ? { httpStatus: delivery.status } : {}),
    ...(delivery.outcome === 'rejected' && delivery.answer ? { result: delivery.answer } : {}),
  };
}

function settledOf(delivery: Delivery): SettledDelivery | undefined {
  if (delivery.outcome === 'failed') return undefined;
  return {
    outcome: delivery.outcome,
    httpStatus: delivery.status,
    ...(delivery.outcome === 'rejected' ? { reason: delivery.reason } : {}),
    ...(delivery.answer?.outcome ? { result: delivery.answer.outcome } : {}),
  };
}

function fateOf(settled: Settled<Delivery>): Fate {
  if (settled.state === 'done') return { kind: 'delivered', delivery: settled.value };
  return { kind: 'deadline', stage: settled.state === 'in-flight' ? 'in-flight' : 'not-attempted' };
}

export async function routeWebhook(webhook: Webhook, deps: RouterDeps): Promise<RouterAnswer> {
  const { config, post, log, progress } = deps;
  const deadline = deps.deadline ?? AbortSignal.timeout(config.answerDeadlineMs);
  const plans = planWebhook(webhook, { routes: config.routes, namespaces: config.namespaces });
  const key = progress ? notificationKey(webhook) : undefined;
  const earlier = key ? progress?.recall(key) : undefined;

  const fates = new Map<Planned, Fate>();
  const pending: Deliverable[] = [];
  for (const plan of plans) {
    if (plan.kind !== 'deliver') continue;
    const settled = earlier?.get(plan.id);
    if (settled) fates.set(plan, { kind: 'earlier', settled });
    else pending.push(plan);
  }
  const deliveries = await mapUntil(pending, config.deliveryConcurrency, deadline, async (plan, signal) => {
    const started = performance.now();
    const delivery = await deliver(
      post,
      sinkUrl(config.sink, plan.action),
      toMessage(toEvent(plan), config.actionToken),
      config.deliveryTimeoutMs,
      signal,
    );
    if (!signal.aborted) {
      deliveryDuration.observe(
        { action: plan.action, outcome: delivery.outcome },
        (performance.now() - started) / 1000,
      );
    }
    return delivery;
  });
  for (const [i, plan] of pending.entries()) fates.set(plan, fateOf(deliveries[i] as Settled<Delivery>));

  const results = plans.map((plan) => describe(plan, fates.get(plan), config.answerDeadlineMs));
  let inFlight = 0;
  let notAttempted = 0;
  for (const [i, result] of results.entries()) {
    alertsReceived.inc({ status: result.status, outcome: result.outcome });
    const fate = fates.get(plans[i] as Planned);
    if (fate?.kind === 'deadline') {
      if (fate.stage === 'in-flight') inFlight++;
      else notAttempted++;
    }
    // Alerts the deadline left out, and those settled earlier, are summed up below, not one line each.
    const level = result.outcome === 'failed' ? 'warn' : 'info';
    log[fate?.kind === 'deadline' || fate?.kind === 'earlier' ? 'debug' : level](
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
      },
      result.message ?? `${result.action} ${result.outcome}`,
    );
  }
  if (inFlight > 0) deadlineAlerts.inc({ stage: 'in-flight' }, inFlight);
  if (notAttempted > 0) deadlineAlerts.inc({ stage: 'not-attempted' }, notAttempted);
  const fromEarlier = results.filter((r) => r.earlierAttempt).length;
  if (inFlight + notAttempted > 0) {
    log.warn(
      {
        receiver: webhook.receiver,
        groupKey: webhook.groupKey,
        alerts: webhook.alerts.length,
        inFlight,
        notAttempted,
        fromEarlier,
        deadlineMs: config.answerDeadlineMs,
      },
      `answer deadline reached with ${inFlight + notAttempted} alerts undelivered: answering 503 so that Alertmanager retries`,
    );
  } else if (fromEarlier > 0) {
    log.info(
      { receiver: webhook.receiver, groupKey: webhook.groupKey, fromEarlier },
      `${fromEarlier} alerts settled on an earlier attempt of this notification were not sent again`,
    );
  }
  if (webhook.truncatedAlerts > 0) {
    truncatedAlerts.inc({ receiver: webhook.receiver }, webhook.truncatedAlerts);
    log.warn(
      { receiver: webhook.receiver, groupKey: webhook.groupKey, truncatedAlerts: webhook.truncatedAlerts },
      'Alertmanager left alerts out of this notification (max_alerts); they get no action from it',
    );
  }

  const retry = results.some((r) => r.outcome === 'failed');
  if (progress && key) {
    if (!retry) progress.forget(key);
    else {
      const settled = new Map<string, SettledDelivery>();
      for (const [plan, fate] of fates) {
        const done = fate.kind === 'delivered' ? settledOf(fate.delivery) : undefined;
        if (done && plan.kind === 'deliver') settled.set(plan.id, done);
      }
      progress.remember(key, settled);
    }
  }
  return {
    statusCode: retry ? 503 : 200,
    body: {
      status: retry ? 'retry' : 'ok',
      receiver: webhook.receiver,
      alerts: webhook.alerts.length,
      truncatedAlerts: webhook.truncatedAlerts,
      ...(inFlight + notAttempted > 0
        ? { deadline: { ms: config.answerDeadlineMs, inFlight, notAttempted } }
        : {}),
      results,
    },
  };
}
