// The closed loop's decision, pure: from an alert, the workload's episodes and breaker, the verification of the
// episode's furthest step and the time to "act as asked", "wait", "escalate to the next step of the chain", "the
// chain is spent: open the breaker and tell a human", or "the breaker is open". Repeating what was verified not to
// help never happens.
import type { Breaker } from './breaker.ts';
import { currentEpisode, type Episode, type Step } from './episodes.ts';
import type { ActionName } from './events.ts';
import type { WorkloadKind } from './kube.ts';
import type { ChainStep } from './loop-config.ts';
import type { Verification } from './verify.ts';

export type LoopInput = {
  // The action of the function deciding (the one the alert, or an earlier step, asked for).
  action: ActionName;
  alert: { name: string; fingerprint: string; startsAt: string };
  episodes: readonly Episode[];
  breaker: Breaker | undefined;
  chain: readonly ChainStep[];
  kind: WorkloadKind;
  // The furthest step of the alert's current episode (levelStep), verified now (undefined without an episode).
  verification: Verification | undefined;
  now: Date;
  settleSeconds: number;
  windowSeconds: number;
};

export type Escalation = 'returned' | 'still-firing' | 'unverified';

export type LoopVerdict =
  // Act as asked, as step `step` of the episode (0: it opens one).
  | { kind: 'act'; step: number }
  // The episode went past the action asked for, and its furthest step is not verified yet: repeat nothing, wait.
  | { kind: 'wait'; message: string }
  // Act, or have `to` act, as the next step of the chain.
  | { kind: 'escalate'; to: ActionName; from: ActionName; step: number; reason: Escalation; message: string }
  | { kind: 'exhausted'; from: ActionName; reason: Escalation; message: string }
  | { kind: 'breaker-open'; message: string };

// The step after the furthest one taken, in the workload's chain (repeating a lower step for another instance of
// the alert never moves the chain back); actions that cannot apply to the kind (a DaemonSet has no replicas) are
// passed over. Actions taken outside the chain leave it at the first step not yet taken.
export function nextInChain(
  chain: readonly ChainStep[],
  taken: readonly ActionName[],
  kind: WorkloadKind,
): ChainStep | undefined {
  const applies = (step: ChainStep) => !(step === 'scale' && kind === 'DaemonSet');
  const position = Math.max(-1, ...taken.map((a) => chain.indexOf(a)));
  const rest =
    position >= 0 ? chain.slice(position + 1) : chain.filter((s) => !taken.includes(s as ActionName));
  return rest.find(applies);
}

// The episode's furthest step along the chain (the latest of equals): the one whose verification decides.
export function levelStep(episode: Episode, chain: readonly ChainStep[]): Step | undefined {
  let level: Step | undefined;
  for (const step of episode.steps) {
    if (!level || chain.indexOf(step.action) >= chain.indexOf(level.action)) level = step;
  }
  return level;
}

function escalate(input: LoopInput, episode: Episode, reason: Escalation, why: string): LoopVerdict {
  const taken = episode.steps.map((s) => s.action);
  const from = (levelStep(episode, input.chain)?.action ?? taken.at(-1)) as ActionName;
  const next = nextInChain(input.chain, taken, input.kind);
  if (!next || next === 'notify') {
    return {
      kind: 'exhausted',
      from,
      reason,
      message: `${why}; the escalation chain (${input.chain.join(' → ')}) is spent after ${taken.join(', ')}`,
    };
  }
  return {
    kind: 'escalate',
    to: next,
    from,
    step: episode.steps.length,
    reason,
    message: `${why}: escalating from ${from} to ${next}`,
  };
}

export function decideLoop(input: LoopInput): LoopVerdict {
  if (input.breaker) {
    return {
      kind: 'breaker-open',
      message: `the breaker is open since ${input.breaker.openedAt || 'an unknown time'} (${input.breaker.reason}: ${input.breaker.message})`,
    };
  }
  const episode = currentEpisode(input.episodes, input.alert.name, input.now, input.windowSeconds);
  if (!episode || episode.steps.length === 0) return { kind: 'act', step: 0 };
  const last = levelStep(episode, input.chain) as Step;
  const alert = `${input.alert.name} (${input.alert.fingerprint})`;
  if (
    episode.state === 'healed' ||
    (episode.quietSince && !episode.firing.includes(input.alert.fingerprint))
  ) {
    const after =
      episode.state === 'healed'
        ? `${ago(episode.closedAt, input.now)} after ${last.action} healed it`
        : `${ago(episode.quietSince, input.now)} after it resolved with ${last.action} not verified`;
    return escalate(input, episode, 'returned', `${alert} returned ${after}`);
  }
  const v = input.verification;
  if (v?.state === 'failed') return escalate(input, episode, 'unverified', v.message);
  if (v?.state !== 'verified') {
    // Past the action asked for: repeating it would undo the escalation; wait for the furthest step to show.
    if (input.chain.indexOf(input.action) < input.chain.indexOf(last.action)) {
      return {
        kind: 'wait',
        message: `${v?.message ?? `${last.action} not verified yet`}; not repeating ${input.action} meanwhile`,
      };
    }
    // Not verified yet: this instance gets the action it asked for, within the usual guards (cooldown, budget).
    return { kind: 'act', step: episode.steps.length };
  }
  // The instance a step was taken for; or the same alert told with another startsAt that is no later than the step
  // (Alertmanagers that merged an HA pair's copies differently): the failure the step answered, not a return.
  const started = Date.parse(input.alert.startsAt);
  const seen = episode.steps.some(
    (s) =>
      s.alert.fingerprint === input.alert.fingerprint &&
      (s.alert.startsAt === input.alert.startsAt || started <= Date.parse(s.at)),
  );
  if (!seen)
    return escalate(
      input,
      episode,
      'returned',
      `${alert} fires again after ${last.action} was verified (${v.message})`,
    );
  const since = (input.now.getTime() - Date.parse(last.at)) / 1000;
  if (since >= input.settleSeconds) {
    return escalate(
      input,
      episode,
      'still-firing',
      `${alert} still fires ${Math.round(since)}s after ${last.action}, which was verified (${v.message})`,
    );
  }
  return { kind: 'act', step: episode.steps.length };
}

function ago(at: string | undefined, now: Date): string {
  if (!at) return 'soon';
  return `${Math.round((now.getTime() - Date.parse(at)) / 1000)}s`;
}
