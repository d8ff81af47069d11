// An alert resolved (the router forwards Alertmanager's resolved notifications): its instance no longer fires, and
// the episode it belongs to is healed once none of its instances does and its step is verified — recorded on the
// workload, with the time to recovery (alert start → resolution) as a metric and an Event.
import type { ActionDeps, Decision } from './decision.ts';
import { episodeOf, episodesAnnotation, readEpisodes, withResolved } from './episodes.ts';
import { SelfhealError } from './errors.ts';
import { levelStep } from './escalation.ts';
import { checkOptIn, OPT_IN_LABEL } from './guards.ts';
import { WORKLOAD_KINDS } from './kube.ts';
import { conditionalPatch, withConflictRetries } from './ledger-store.ts';
import { chainOf, verifyNow } from './loop.ts';
import { timeToRecovery } from './loop-metrics.ts';
import type { ActionRequest } from './request.ts';
import { resolveTarget } from './targets.ts';
import { readWorkload, type Workload, workloadMeta, workloadName, workloadRef } from './workload.ts';

const holds = (workload: Workload, fingerprint: string) =>
  episodeOf(readEpisodes(workloadMeta(workload).annotations), fingerprint) !== undefined;

// The workload whose open episode knows the alert instance: the target's, or — when the target (a restarted pod) is
// gone — the opted-in workload of the namespace that holds it.
async function findHolder(
  deps: ActionDeps,
  request: ActionRequest,
  fingerprint: string,
): Promise<Workload | undefined> {
  const resolved = await resolveTarget(deps.kube, request.target);
  if (resolved.ok && holds(resolved.workload, fingerprint)) return resolved.workload;
  if (resolved.ok) return undefined;
  const { namespace } = request.target;
  for (const kind of WORKLOAD_KINDS) {
    const objects = await deps.kube.listWorkloads(kind, namespace, `${OPT_IN_LABEL}=true`);
    const holder = objects.map((object) => ({ kind, object }) as Workload).find((w) => holds(w, fingerprint));
    if (holder) return holder;
  }
  return undefined;
}

export async function resolveAlert(request: ActionRequest, deps: ActionDeps): Promise<Decision> {
  const alert = request.alert;
  if (!alert) return { outcome: 'skipped', reason: 'no-episode', message: 'a resolution names no alert' };
  const endsAt = Number.isNaN(Date.parse(alert.endsAt ?? '')) ? deps.now() : new Date(alert.endsAt as string);
  let holder = await findHolder(deps, request, alert.fingerprint);
  return withConflictRetries(`the episode of ${alert.name}`, async (attempt): Promise<Decision | 'again'> => {
    if (attempt > 0 && holder) {
      const { namespace, name } = workloadMeta(holder);
      holder = await readWorkload(deps.kube, holder.kind, namespace, name);
    }
    if (!holder) {
      return {
        outcome: 'skipped',
        reason: 'no-episode',
        message: `${alert.name} (${alert.fingerprint}) resolved; selfheal had not acted on it`,
      };
    }
    const { annotations, labels, namespace, name } = workloadMeta(holder);
    // Opted out since it acted: selfheal writes nothing more on it, its episode included.
    const optedOut = checkOptIn({ kind: holder.kind, namespace, name }, labels);
    if (optedOut) {
      return {
        outcome: 'refused',
        ...optedOut,
        involved: workloadRef(holder),
        deployment: workloadName(holder),
      };
    }
    const episodes = readEpisodes(annotations);
    const current = episodeOf(episodes, alert.fingerprint);
    const level = current && levelStep(current, chainOf(deps.config.loop, annotations));
    const since = current?.steps.find((s) => s.action === level?.action)?.at;
    const verification = level && (await verifyNow(deps, holder, level, deps.now(), since));
    const verified = verification?.state === 'verified';
    const lastFiring = current ? current.firing.every((f) => f === alert.fingerprint) : false;
    if (lastFiring && verification?.state === 'pending') {
      // The last instance resolved while its step is still being verified (a rollout finishing): answered 503, so
      // Alertmanager delivers the resolution again and the episode is closed once verification has settled.
      throw new SelfhealError(
        'unavailable',
        `${alert.name} (${alert.fingerprint}) resolved; closing its episode once ${verification.message.replace(/ not verified yet: /, ' is verified (now: ')})`,
        { reason: 'verifying' },
      );
    }
    const { episodes: next, episode } = withResolved(episodes, alert.fingerprint, endsAt, verified);
    if (!episode) return 'again';
    if ((await conditionalPatch(deps, holder, episodesAnnotation(next))) === 'conflict') return 'again';
    const context = { involved: workloadRef(holder), deployment: workloadName(holder) };
    if (episode.state !== 'healed') {
      const still =
        episode.firing.length > 0
          ? `${episode.firing.length} more instance(s) of it still fire`
          : `not healed: ${verification?.message ?? 'no step to verify'}; if it returns within ${deps.config.loop.windowSeconds}s it escalates`;
      return {
        outcome: 'applied',
        reason: 'resolved',
        message: `${alert.name} (${alert.fingerprint}) resolved; ${still}`,
        ...context,
        eventReason: 'AlertResolved',
        detail: { firing: episode.firing.length, verified },
      };
    }
    const seconds = Math.max(0, (endsAt.getTime() - Date.parse(episode.startsAt)) / 1000);
    const action = level?.action ?? request.action;
    timeToRecovery.observe({ alertname: alert.name, action }, seconds);
    const steps = episode.steps.map((s) => s.action).join(' → ');
    return {
      outcome: 'applied',
      reason: 'healed',
      message: `${alert.name} resolved ${Math.round(seconds)}s after it started: healed after ${steps} (${verification?.message ?? 'verified'})`,
      ...context,
      eventReason: 'Healed',
      detail: { timeToRecoverySeconds: Math.round(seconds), steps: episode.steps.length, action, verified },
    };
  });
}
