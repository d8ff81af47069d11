// The closed loop inside the engine, for requests an alert caused: read the alert's episode and verify its last
// step, take the pure decision (escalation.ts), and carry it out — act, hand the next step on as the reply event,
// or open the breaker and tell a human; while the breaker is open, hold back and keep the human's alert firing.
import { type Breaker, breakerAnnotation, clearCommand, readBreaker } from './breaker.ts';
import type { ActionDeps, Decision } from './decision.ts';
import {
  currentEpisode,
  type Episode,
  episodesAnnotation,
  readEpisodes,
  type Step,
  withExhausted,
} from './episodes.ts';
import { SelfhealError } from './errors.ts';
import { decideLoop, type LoopVerdict, levelStep } from './escalation.ts';
import {
  type ActionName,
  type AlertRef,
  buildEscalationEvent,
  escalationEventId,
  type Target,
} from './events.ts';
import { selectorString } from './guards.ts';
import { conditionalPatch } from './ledger-store.ts';
import { type ChainStep, type LoopConfig, parseChain } from './loop-config.ts';
import { breakerOpen, breakerTrips, escalations, notifications } from './loop-metrics.ts';
import { type Channel, channels, type Delivery, notify } from './notify.ts';
import type { ActionRequest } from './request.ts';
import type { Found } from './targets.ts';
import { type Verification, verifyStep } from './verify.ts';
import { readWorkload, type Workload, workloadMeta, workloadName } from './workload.ts';

// Reads what verifying `step` needs (the workload's live pods, for a restart or a scale) and verifies it.
export async function verifyNow(
  deps: ActionDeps,
  workload: Workload,
  step: Step,
  now: Date,
  since?: string,
): Promise<Verification> {
  const selector = selectorString(workload.object.spec?.selector);
  const pods =
    step.action !== 'redeploy' && selector
      ? await deps.kube.listPods(workloadMeta(workload).namespace, selector)
      : undefined;
  return verifyStep({ step, workload, pods, now, verifySeconds: deps.config.loop.verifySeconds, since });
}

// A workload picks its own chain with this annotation (e.g. `restart-pod,notify`).
export const ESCALATION_ANNOTATION = 'selfheal.dev/escalation';

// The workload's chain: its annotation when valid, else the configured one.
export function chainOf(loop: LoopConfig, annotations: Record<string, string>): readonly ChainStep[] {
  const text = annotations[ESCALATION_ANNOTATION];
  if (!text) return loop.chain;
  const parsed = parseChain(text);
  return 'chain' in parsed ? parsed.chain : loop.chain;
}

// Act as `id` (the request's own id, or the id of the escalation step this function takes), as step `step`.
export type Acting = { kind: 'act'; id: string; step: number; escalated: boolean };
export type LoopOutcome = Decision | 'again' | Acting;

export function workloadTarget(workload: Workload): Target {
  const { namespace, name } = workloadMeta(workload);
  return { namespace, kind: workload.kind, name };
}

async function observe(deps: ActionDeps, found: Found, alert: AlertRef, now: Date) {
  const annotations = workloadMeta(found.workload).annotations;
  const episodes = readEpisodes(annotations);
  const breaker = readBreaker(annotations);
  const current = currentEpisode(episodes, alert.name, now, deps.config.loop.windowSeconds);
  const last =
    current?.state === 'open' ? levelStep(current, chainOf(deps.config.loop, annotations)) : undefined;
  const since = current && last && current.steps.find((s) => s.action === last.action)?.at;
  const verification = last && (await verifyNow(deps, found.workload, last, now, since));
  return { annotations, episodes, breaker, current, verification };
}

// The loop's part of a round: undefined-free — it either decides (a Decision, or 'again' after a conflict) or lets
// the action act under an id.
export async function closeLoop(
  action: ActionName,
  request: ActionRequest & { alert: AlertRef },
  deps: ActionDeps,
  found: Found,
  context: Partial<Decision>,
  now: Date,
): Promise<LoopOutcome> {
  const state = await observe(deps, found, request.alert, now);
  const verdict = decideLoop({
    action,
    alert: request.alert,
    episodes: state.episodes,
    breaker: state.breaker,
    chain: chainOf(deps.config.loop, state.annotations),
    kind: found.workload.kind,
    verification: state.verification,
    now,
    settleSeconds: deps.config.loop.settleSeconds,
    windowSeconds: deps.config.loop.windowSeconds,
  });
  const labels = {
    namespace: workloadMeta(found.workload).namespace,
    workload: workloadName(found.workload),
  };
  switch (verdict.kind) {
    case 'act':
      if (!state.breaker) breakerOpen.set(labels, 0);
      return { kind: 'act', id: request.id, step: verdict.step, escalated: false };
    case 'wait':
      return { outcome: 'skipped', reason: 'verifying', message: verdict.message, ...context };
    case 'breaker-open':
      return holdBack(deps, found, state.breaker as Breaker, verdict.message, context, now);
    case 'exhausted':
      countEscalation(request.alert, { from: verdict.from, to: 'notify', reason: verdict.reason });
      return trip(deps, found, request.alert, 'chain-exhausted', verdict.message, context, now);
    case 'escalate':
      // Counted once: by whoever decided it, not again by the step that was handed the event.
      if (!request.escalation) {
        countEscalation(request.alert, { from: verdict.from, to: verdict.to, reason: verdict.reason });
      }
      if (verdict.to === action) {
        const id = escalationEventId(request.alert.fingerprint, request.alert.startsAt, action, verdict.step);
        return { kind: 'act', id, step: verdict.step, escalated: true };
      }
      return handOn(verdict, request, found, context);
  }
}

// An escalation of one alert instance from one step to the next happens once; a round decided again after a write
// conflict (the workload changed meanwhile, e.g. its status) reaches the same verdict and is not counted twice.
const counted = new Set<string>();
const COUNTED_MAX = 4096;
function countEscalation(alert: AlertRef, labels: { from: string; to: string; reason: string }): void {
  const key = JSON.stringify([alert.name, alert.fingerprint, alert.startsAt, labels.from, labels.to]);
  if (counted.has(key)) return;
  if (counted.size >= COUNTED_MAX) counted.clear();
  counted.add(key);
  escalations.inc({ alertname: alert.name, ...labels });
}

// The next step is another function's: answer with its event; the router (or a Knative Broker) delivers it.
function handOn(
  verdict: Extract<LoopVerdict, { kind: 'escalate' }>,
  request: ActionRequest & { alert: AlertRef },
  found: Found,
  context: Partial<Decision>,
): Decision {
  const target =
    verdict.to === 'restart-pod' && request.target.kind === 'Pod'
      ? request.target
      : workloadTarget(found.workload);
  const next = buildEscalationEvent({
    action: verdict.to,
    alert: request.alert,
    target,
    escalation: { step: verdict.step, from: verdict.from, reason: verdict.reason, message: verdict.message },
  });
  return {
    outcome: 'skipped',
    reason: 'escalated',
    message: verdict.message,
    ...context,
    eventReason: 'Escalated',
    detail: {
      from: verdict.from,
      to: verdict.to,
      step: verdict.step,
      escalation: verdict.reason,
      next: next.id,
    },
    next,
  };
}

function subjectOf(found: Found, breaker: Breaker) {
  const { namespace, name } = workloadMeta(found.workload);
  return { kind: found.workload.kind, namespace, name, breaker, clearCommand: clearCommand(found.workload) };
}

// Posts to `which`, counts the outcome, and records on the breaker who was told (best effort: a lost record only
// means the human is told once more).
async function tell(
  deps: ActionDeps,
  found: Found,
  breaker: Breaker,
  which: readonly Channel[],
  now: Date,
): Promise<Delivery[]> {
  if (which.length === 0) return [];
  const deliveries = await notify(deps.config.loop, subjectOf(found, breaker), which, now);
  for (const d of deliveries) notifications.inc({ channel: d.channel, outcome: d.ok ? 'sent' : 'failed' });
  const sent = deliveries.filter((d) => d.ok).map((d) => d.channel);
  if (sent.length > 0 && !breaker.notified) {
    const { namespace, name } = workloadMeta(found.workload);
    const current = await readWorkload(deps.kube, found.workload.kind, namespace, name).catch(
      () => undefined,
    );
    const still = current && readBreaker(workloadMeta(current).annotations);
    if (current && still?.openedAt === breaker.openedAt) {
      const notified = { ...still, notified: { at: now.toISOString(), channels: sent } };
      await conditionalPatch(deps, current, breakerAnnotation(notified)).catch(() => 'conflict');
    }
  }
  for (const d of deliveries.filter((x) => !x.ok)) {
    deps.log.warn({ channel: d.channel, detail: d.detail }, 'could not notify a human of the open breaker');
  }
  return deliveries;
}

function toldSummary(deliveries: readonly Delivery[], configured: readonly Channel[]): string {
  if (configured.length === 0)
    return 'no notification channel is configured (SELFHEAL_ALERTMANAGER_URL, SELFHEAL_NOTIFY_WEBHOOK_URL)';
  return deliveries.map((d) => `${d.channel}: ${d.ok ? 'sent' : `failed (${d.detail})`}`).join(', ');
}

// The chain is spent (or the budget): open the breaker, close the episode as exhausted, tell a human.
export async function trip(
  deps: ActionDeps,
  found: Found,
  alert: AlertRef,
  reason: Breaker['reason'],
  message: string,
  context: Partial<Decision>,
  now: Date,
): Promise<Decision | 'again'> {
  const annotations = workloadMeta(found.workload).annotations;
  const episodes = readEpisodes(annotations);
  const window = deps.config.loop.windowSeconds;
  const episode: Episode | undefined = currentEpisode(episodes, alert.name, now, window);
  const breaker: Breaker = {
    openedAt: now.toISOString(),
    reason,
    alertname: alert.name,
    message,
    steps: (episode?.steps ?? []).map((s) => ({ action: s.action, at: s.at, result: s.result })),
  };
  const written = await conditionalPatch(deps, found.workload, {
    ...breakerAnnotation(breaker),
    ...episodesAnnotation(withExhausted(episodes, alert.name, now, window)),
  });
  if (written === 'conflict') return 'again';
  const labels = {
    namespace: workloadMeta(found.workload).namespace,
    workload: workloadName(found.workload),
  };
  breakerTrips.inc({ ...labels, reason });
  breakerOpen.set(labels, 1);
  const configured = channels(deps.config.loop);
  const deliveries = await tell(deps, { ...found, workload: written }, breaker, configured, now);
  const stopped = `${message}. selfheal stops acting on ${workloadName(found.workload)} for alerts until a person clears the breaker: ${clearCommand(found.workload)}`;
  if (configured.length > 0 && !deliveries.some((d) => d.ok)) {
    // Answered 503 so the alert is delivered again: the open breaker then tries to notify once more.
    throw new SelfhealError(
      'unavailable',
      `${stopped}; telling a human failed (${toldSummary(deliveries, configured)})`,
      // The breaker is open all the same: its Event says so, for whoever looks at the workload.
      { reason: 'notify-failed', eventReason: 'BreakerOpened' },
    );
  }
  return {
    outcome: 'skipped',
    reason: 'breaker-opened',
    message: `${stopped} (${toldSummary(deliveries, configured)})`,
    ...context,
    eventReason: 'BreakerOpened',
    warning: true,
    detail: { breaker: reason, notified: deliveries.filter((d) => d.ok).map((d) => d.channel) },
  };
}

// The breaker is open: act on nothing; tell the human if nobody was told yet, else keep their alert firing.
async function holdBack(
  deps: ActionDeps,
  found: Found,
  breaker: Breaker,
  message: string,
  context: Partial<Decision>,
  now: Date,
): Promise<Decision> {
  breakerOpen.set(
    { namespace: workloadMeta(found.workload).namespace, workload: workloadName(found.workload) },
    1,
  );
  const configured = channels(deps.config.loop);
  const which = breaker.notified ? configured.filter((c) => c === 'alertmanager') : configured;
  const deliveries = await tell(deps, found, breaker, which, now);
  if (!breaker.notified && configured.length > 0 && !deliveries.some((d) => d.ok)) {
    throw new SelfhealError(
      'unavailable',
      `${message}; telling a human failed (${toldSummary(deliveries, configured)})`,
      {
        reason: 'notify-failed',
      },
    );
  }
  return {
    outcome: 'skipped',
    reason: 'breaker-open',
    message: `${message}; clear it with: ${clearCommand(found.workload)}`,
    ...context,
    eventReason: 'BreakerOpen',
    warning: true,
  };
}
