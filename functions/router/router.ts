// The router's work for one webhook: plan every alert (pure), deliver the planned events through the injected
// sender, and sum up — 200 when nothing is left to retry, 503 when a delivery may pass on a retry.
import type { Webhook } from '../lib/alertmanager.ts';
import type { RouterConfig } from '../lib/config.ts';
import { subjectOf } from '../lib/events.ts';
import type { Logger } from '../lib/log.ts';
import { alertsReceived, deliveryDuration } from '../lib/metrics.ts';
import {
  type ActionAnswer,
  type Delivery,
  deliver,
  mapLimit,
  type Post,
  sinkUrl,
  toMessage,
} from './deliver.ts';
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

function describe(plan: Planned, delivery: Delivery | undefined): AlertResult {
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
  const sent = { ...base, action: plan.action, eventId: plan.event.id, target: subjectOf(plan.target) };
  if (!delivery) return { ...sent, outcome: 'failed', reason: 'not-sent', message: 'not delivered' };
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

export async function routeWebhook(webhook: Webhook, deps: RouterDeps): Promise<RouterAnswer> {
  const { config, post, log } = deps;
  const plans = planWebhook(webhook, { routes: config.routes, namespaces: config.namespaces });
  const deliveries = await mapLimit(plans, config.deliveryConcurrency, async (plan) => {
    if (plan.kind !== 'deliver') return undefined;
    const started = performance.now();
    const delivery = await deliver(
      post,
      sinkUrl(config.sink, plan.action),
      toMessage(plan.event, config.actionToken),
      config.deliveryTimeoutMs,
    );
    deliveryDuration.observe(
      { action: plan.action, outcome: delivery.outcome },
      (performance.now() - started) / 1000,
    );
    return delivery;
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
