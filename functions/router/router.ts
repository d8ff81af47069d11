// The router's work for one webhook: plan every alert (pure), deliver the planned events through the injected
// sender (following the actions' escalations) until the answer deadline, and sum up — 200 when nothing is left to
// retry, 503 when a delivery failed in a way a retry may fix or the deadline came first, so that Alertmanager sends
// the notification again.
import type { Webhook } from '../lib/alertmanager.ts';
import type { RouterConfig } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import { deliveryDuration } from '../lib/metrics.ts';
import type { Post } from './deliver.ts';
import { deliverFollowing } from './follow.ts';
import { type Deliverable, type Planned, planWebhook, toEvent } from './plan.ts';
import { mapUntil } from './pool.ts';
import { notificationKey, type Progress } from './progress.ts';
import { type AlertResult, describe, type Fate, report, settledOf } from './results.ts';

export type { AlertResult } from './results.ts';

export type RouterDeps = {
  config: RouterConfig;
  post: Post;
  log: Logger;
  // Aborts when the answer is due; by default config.answerDeadlineMs from now.
  deadline?: AbortSignal;
  // What attempts of the same notification settled or are delivering, so that a retry re-sends only the rest.
  progress?: Progress;
  // performance.now() when the webhook arrived; by default when routeWebhook starts.
  receivedAt?: number;
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

// Delivers `pending` until the deadline. With `progress`, an event settled meanwhile by a concurrent attempt of
// the notification (Alertmanager sends again while this one still runs) is not sent, nor one it is delivering.
async function deliverPending(
  pending: readonly Deliverable[],
  deps: RouterDeps,
  deadline: AbortSignal,
  key: string | undefined,
  receivedAt: number,
): Promise<Fate[]> {
  const { config, post } = deps;
  const progress = key ? deps.progress : undefined;
  const held = new Set<string>();
  const release = (id: string) => {
    if (held.delete(id)) progress?.release(key as string, id);
  };
  const settled = await mapUntil(pending, config.deliveryConcurrency, deadline, async (plan, signal) => {
    if (progress) {
      const earlier = progress.recall(key as string)?.get(plan.id);
      if (earlier) return { kind: 'earlier', settled: earlier } satisfies Fate;
      if (!progress.claim(key as string, plan.id)) return { kind: 'concurrent' } satisfies Fate;
      held.add(plan.id);
    }
    const started = performance.now();
    try {
      const { delivery, hops } = await deliverFollowing(
        post,
        config,
        { action: plan.action, event: toEvent(plan) },
        signal,
      );
      if (!signal.aborted) {
        const seconds = (performance.now() - started) / 1000;
        deliveryDuration.observe({ action: plan.action, outcome: delivery.outcome }, seconds);
        // Remembered at once, so that a concurrent attempt does not send it again either.
        const done = settledOf(delivery, hops);
        if (progress && done) progress.remember(key as string, new Map([[plan.id, done]]));
      }
      return { kind: 'delivered', delivery, hops, ms: performance.now() - receivedAt } satisfies Fate;
    } finally {
      release(plan.id);
    }
  });
  // Deliveries abandoned at the deadline give up their claims now: the next attempt may send them again.
  for (const id of [...held]) release(id);
  return settled.map((s) =>
    s.state === 'done'
      ? s.value
      : { kind: 'deadline', stage: s.state === 'in-flight' ? 'in-flight' : 'not-attempted' },
  );
}

export async function routeWebhook(webhook: Webhook, deps: RouterDeps): Promise<RouterAnswer> {
  const { config, progress, receivedAt = performance.now() } = deps;
  const deadline = deps.deadline ?? AbortSignal.timeout(config.answerDeadlineMs);
  const plans = planWebhook(webhook, {
    routes: config.routes,
    namespaces: config.namespaces,
    dryRun: config.dryRun,
  });
  const key = progress ? notificationKey(webhook) : undefined;
  const earlier = key ? progress?.recall(key) : undefined;

  const fates = new Map<Planned, Fate>();
  const pending: Deliverable[] = [];
  for (const plan of plans) {
    if (plan.kind !== 'deliver' && plan.kind !== 'resolve') continue;
    const settled = earlier?.get(plan.id);
    if (settled) fates.set(plan, { kind: 'earlier', settled });
    else pending.push(plan);
  }
  const delivered = await deliverPending(pending, deps, deadline, key, receivedAt);
  for (const [i, plan] of pending.entries()) fates.set(plan, delivered[i] as Fate);

  const results = plans.map((plan) => describe(plan, fates.get(plan), config.answerDeadlineMs));
  const { inFlight, notAttempted } = report(webhook, plans, fates, results, {
    log: deps.log,
    deadlineMs: config.answerDeadlineMs,
  });
  const retry = results.some((r) => r.outcome === 'failed');
  // A notification answered 200 starts afresh next time: its repeat sends everything again.
  if (key && !retry) progress?.forget(key);
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
