// Episodes: what selfheal did about one alert on one workload, kept in the workload's annotations next to the ledger
// (so they survive restarts and replicas): the steps taken, the alert instances still firing, and the end (healed
// when the alert resolved, exhausted when the escalation chain ran out).
import { z } from 'zod';
import { ACTIONS } from './events.ts';

export const EPISODES_ANNOTATION = 'selfheal.dev/episodes';
// Episodes kept per workload, firing instances per episode, steps per episode: bounded, whatever happens.
export const MAX_EPISODES = 10;
export const MAX_FIRING = 20;
export const MAX_STEPS = 20;
// A closed episode is forgotten after this long.
export const EPISODE_RETENTION_SECONDS = 86_400;

const occurrenceSchema = z.object({ fingerprint: z.string(), startsAt: z.string() });
export type Occurrence = z.infer<typeof occurrenceSchema>;

const stepSchema = z.object({
  action: z.enum(ACTIONS),
  id: z.string(),
  at: z.string(),
  alert: occurrenceSchema,
  // skipped: the step could not act (e.g. already at the maximum); the chain moves past it.
  result: z.enum(['applied', 'skipped']),
  reason: z.string().optional(),
  // What verification compares with: the pod removed, the generation rolled out, the replicas wanted.
  check: z
    .object({
      pod: z.string().optional(),
      uid: z.string().optional(),
      generation: z.number().optional(),
      replicas: z.number().optional(),
    })
    .optional(),
});
export type Step = z.infer<typeof stepSchema>;

const episodeSchema = z.object({
  alertname: z.string(),
  // When the first alert instance started: time to recovery counts from here.
  startsAt: z.string(),
  state: z.enum(['open', 'healed', 'exhausted']),
  steps: z.array(stepSchema),
  // Fingerprints of the instances seen firing and not yet resolved.
  firing: z.array(z.string()),
  closedAt: z.string().optional(),
  // Whether the last step was verified when the alert resolved.
  verified: z.boolean().optional(),
  // Open, but quiet: its last firing instance resolved while its step was not verified. It heals only verified;
  // an alert that returns within the window continues it, and after the window it is over.
  quietSince: z.string().optional(),
});
export type Episode = z.infer<typeof episodeSchema>;

// Malformed annotations (edited by hand) are ignored rather than blocking every action.
export function readEpisodes(annotations: Record<string, string> | undefined): Episode[] {
  const text = annotations?.[EPISODES_ANNOTATION];
  if (!text) return [];
  try {
    const parsed = z.array(z.unknown()).safeParse(JSON.parse(text));
    if (!parsed.success) return [];
    return parsed.data.flatMap((e) => {
      const episode = episodeSchema.safeParse(e);
      return episode.success ? [episode.data] : [];
    });
  } catch {
    return [];
  }
}

export function episodesAnnotation(episodes: readonly Episode[]): Record<string, string> {
  return { [EPISODES_ANNOTATION]: JSON.stringify(episodes) };
}

const seconds = (from: string, now: Date) => (now.getTime() - Date.parse(from)) / 1000;

// The episode an alert continues: its open one, or one healed within the window (the alert returned).
export function currentEpisode(
  episodes: readonly Episode[],
  alertname: string,
  now: Date,
  windowSeconds: number,
): Episode | undefined {
  const latest = episodes.findLast((e) => e.alertname === alertname);
  if (!latest) return undefined;
  if (latest.state === 'open') {
    return latest.quietSince && seconds(latest.quietSince, now) >= windowSeconds ? undefined : latest;
  }
  if (latest.state === 'healed' && latest.closedAt && seconds(latest.closedAt, now) < windowSeconds)
    return latest;
  return undefined;
}

function trim(episodes: readonly Episode[], now: Date): Episode[] {
  const ended = (e: Episode) => (e.state === 'open' ? e.quietSince : e.closedAt);
  return episodes
    .filter((e) => {
      const at = ended(e);
      return !at || seconds(at, now) < EPISODE_RETENTION_SECONDS;
    })
    .slice(-MAX_EPISODES);
}

const withFiring = (firing: readonly string[], fingerprint: string) =>
  [...firing.filter((f) => f !== fingerprint), fingerprint].slice(-MAX_FIRING);

// The episodes with `step` taken for `alertname`: appended to its current episode (reopening one that healed within
// the window), or the first step of a new one.
export function withStep(
  episodes: readonly Episode[],
  alertname: string,
  step: Step,
  now: Date,
  windowSeconds: number,
): Episode[] {
  const current = currentEpisode(episodes, alertname, now, windowSeconds);
  if (!current) {
    const opened: Episode = {
      alertname,
      startsAt: step.alert.startsAt,
      state: 'open',
      steps: [step],
      firing: [step.alert.fingerprint],
    };
    return trim([...episodes, opened], now);
  }
  const { closedAt: _closed, verified: _verified, quietSince: _quiet, ...rest } = current;
  const updated: Episode = {
    ...rest,
    state: 'open',
    steps: [...current.steps.filter((s) => s.id !== step.id), step].slice(-MAX_STEPS),
    firing: withFiring(current.firing, step.alert.fingerprint),
  };
  return trim(
    episodes.map((e) => (e === current ? updated : e)),
    now,
  );
}

// The episode an alert instance belongs to: the open one that saw it fire or acted on it.
export function episodeOf(episodes: readonly Episode[], fingerprint: string): Episode | undefined {
  return episodes.findLast(
    (e) =>
      e.state === 'open' &&
      (e.firing.includes(fingerprint) || e.steps.some((s) => s.alert.fingerprint === fingerprint)),
  );
}

// The episodes once instance `fingerprint` resolved at `at`: it no longer fires, and when none of the episode's
// instances does, the episode is healed — if its step is verified; else it goes quiet.
export function withResolved(
  episodes: readonly Episode[],
  fingerprint: string,
  at: Date,
  verified: boolean,
): { episodes: Episode[]; episode: Episode | undefined } {
  const current = episodeOf(episodes, fingerprint);
  if (!current) return { episodes: [...episodes], episode: undefined };
  const firing = current.firing.filter((f) => f !== fingerprint);
  const { quietSince: _quiet, ...rest } = current;
  const updated: Episode =
    firing.length > 0
      ? { ...current, firing }
      : verified
        ? { ...rest, firing, state: 'healed', closedAt: at.toISOString(), verified }
        : { ...current, firing, quietSince: current.quietSince ?? at.toISOString() };
  return {
    episodes: trim(
      episodes.map((e) => (e === current ? updated : e)),
      at,
    ),
    episode: updated,
  };
}

// The episodes with the current one of `alertname` closed as exhausted (the breaker opened on it).
export function withExhausted(
  episodes: readonly Episode[],
  alertname: string,
  now: Date,
  windowSeconds: number,
): Episode[] {
  const current = currentEpisode(episodes, alertname, now, windowSeconds);
  if (!current) return [...episodes];
  const closed: Episode = { ...current, state: 'exhausted', closedAt: now.toISOString() };
  return trim(
    episodes.map((e) => (e === current ? closed : e)),
    now,
  );
}
