// The router's work for one webhook: plan every alert (pure), deliver the planned events through the injected
// sender (following the actions' escalations), and sum up — 200 when nothing is left to retry, 503 when a delivery
// may pass on a retry.
import type { Webhook } from '../lib/alertmanager.ts';
import type { RouterConfig } from '../lib/config.ts';
import { subjectOf } from '../lib/events.ts';
import type { Logger } from '../lib/log.ts';
import { alertsReceived, deliveryDuration } from '../lib/metrics.ts';
import { type ActionAnswer, type Delivery, mapLimit, type Post } from './deliver.ts';
import { binaryMessage, deliverFollowing, type Hop } from './follow.ts';
import { type Planned, planWebhook } from './plan.ts';

export type RouterDeps = { config: RouterConfig; post: Post; log: Logger };

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
};

export type RouterAnswer = {
  statusCode: 200 | 503;
  body: {
    status: 'ok' | 'retry';
    receiver: string;
    alerts: number;
    truncatedAlerts: number;
    results: AlertResult[];
  };
};

type Sent = { delivery: Delivery; hops: Hop[] };

function describe(plan: Planned, sent: Sent | undefined): AlertResult {
  const base = {
    alertname: plan.alert.alertname,
    fingerprint: plan.alert.fingerprint,
    status: plan.alert.status,
  };
  if (plan.kind === 'resolved')
    return { ...base, outcome: 'resolved', reason: 'resolved', message: 'resolved alerts trigger no action' };
  const delivery = sent?.delivery;
  if (plan.kind === 'resolve') {
    const told = { ...base, action: plan.action, eventId: plan.event.id, target: subjectOf(plan.target) };
    if (delivery?.outcome === 'failed') {
      return { ...told, outcome: 'failed', reason: delivery.reason, message: delivery.message };
    }
    return {
      ...told,
      outcome: 'resolved',
      reason: delivery?.answer?.reason ?? 'resolved',
      message: delivery?.answer?.message ?? `${plan.action} was told the alert resolved`,
    };
  }
  if (plan.kind === 'rejected') {
    return {
      ...base,
      outcome: 'rejected',
      ...(plan.action ? { action: plan.action } : {}),
      reason: plan.reason,
      message: plan.message,
    };
  }
  const hops = sent?.hops ?? [];
  const delivered = {
    ...base,
    action: plan.action,
    eventId: plan.event.id,
    target: subjectOf(plan.target),
    ...(hops.length > 0 ? { escalatedTo: hops.map((h) => h.action) } : {}),
  };
  if (!delivery) return { ...delivered, outcome: 'failed', reason: 'not-sent', message: 'not delivered' };
  if (delivery.outcome === 'accepted') {
    return {
      ...delivered,
      outcome: 'accepted',
      httpStatus: delivery.status,
      ...(delivery.answer ? { result: delivery.answer } : {}),
    };
  }
  return {
    ...delivered,
    outcome: delivery.outcome,
    reason: delivery.reason,
    message: delivery.message,
    ...(delivery.status ? { httpStatus: delivery.status } : {}),
    ...(delivery.outcome === 'rejected' && delivery.answer ? { result: delivery.answer } : {}),
  };
}

export async function routeWebhook(webhook: Webhook, deps: RouterDeps): Promise<RouterAnswer> {
  const { config, post, log } = deps;
  const plans = planWebhook(webhook, { routes: config.routes, namespaces: config.namespaces });
  const deliveries = await mapLimit(plans, config.deliveryConcurrency, async (plan) => {
    if (plan.kind !== 'deliver' && plan.kind !== 'resolve') return undefined;
    const started = performance.now();
    const message = binaryMessage(plan.event, config.actionToken);
    const sent = await deliverFollowing(post, config, { action: plan.action, message });
    deliveryDuration.observe(
      { action: plan.action, outcome: sent.delivery.outcome },
      (performance.now() - started) / 1000,
    );
    return sent;
  });
  const results = plans.map((plan, i) => describe(plan, deliveries[i]));
  for (const result of results) {
    alertsReceived.inc({ status: result.status, outcome: result.outcome });
    log[result.outcome === 'failed' ? 'warn' : 'info'](
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
      },
      result.message ?? `${result.action} ${result.outcome}`,
    );
  }
  if (webhook.truncatedAlerts > 0) {
    log.warn(
      { receiver: webhook.receiver, truncatedAlerts: webhook.truncatedAlerts },
      'Alertmanager left alerts out of this notification (max_alerts); they get no action from it',
    );
  }
  const retry = results.some((r) => r.outcome === 'failed');
  return {
    statusCode: retry ? 503 : 200,
    body: {
      status: retry ? 'retry' : 'ok',
      receiver: webhook.receiver,
      alerts: webhook.alerts.length,
      truncatedAlerts: webhook.truncatedAlerts,
      results,
    },
  };
}
