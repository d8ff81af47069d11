// Whether a step worked, pure: from the workload and its live pods as read now — the removed pod is gone and every
// pod available again, the rollout finished (the controller observed it), the added replicas are available — or not
// yet, or not within the time allowed.
import type { Step } from './episodes.ts';
import { countAvailable } from './guards.ts';
import type { V1Pod } from './kube.ts';
import { describeWorkload, disruptionAllowance, rolloutStatus, type Workload } from './workload.ts';

export type Verification = { state: 'verified' | 'pending' | 'failed'; message: string };

export type VerifyInput = {
  step: Step;
  workload: Workload;
  // The workload's pods from a live list (for a restart or a scale): a controller's status may lag, or the
  // controller be down, and a stale "all available" must never verify a step. Undefined: not listable.
  pods: V1Pod[] | undefined;
  now: Date;
  verifySeconds: number;
  // When the episode first took this step's action: repeating it for new instances never extends the deadline.
  since?: string | undefined;
};

// Available pods and how many the workload wants, counted from the live list when there is one.
function availability(input: VerifyInput): { available: number; desired: number } {
  const rollout = rolloutStatus(input.workload);
  if (!input.pods) return { available: rollout.available, desired: rollout.desired };
  const live = input.pods.filter((p) => !p.metadata?.deletionTimestamp).length;
  const { replicas, minReadySeconds } = disruptionAllowance(input.workload, live);
  return { available: countAvailable(input.pods, minReadySeconds, input.now), desired: replicas };
}

function pendingOrLate(input: VerifyInput, waiting: string): Verification {
  const since = input.since ?? input.step.at;
  const age = (input.now.getTime() - Date.parse(since)) / 1000;
  if (age >= input.verifySeconds) {
    return {
      state: 'failed',
      message: `${input.step.action} since ${since} is not verified after ${input.verifySeconds}s: ${waiting}`,
    };
  }
  return {
    state: 'pending',
    message: `${input.step.action} at ${input.step.at} not verified yet: ${waiting}`,
  };
}

export function verifyStep(input: VerifyInput): Verification {
  const { step, workload } = input;
  const name = describeWorkload(workload);
  if (step.result === 'skipped') {
    return { state: 'failed', message: `${step.action} could not act (${step.reason ?? 'skipped'})` };
  }
  const rollout = rolloutStatus(workload);
  const { available, desired } = availability(input);
  const allAvailable = `${available}/${desired} pods of ${name} available`;
  switch (step.action) {
    case 'restart-pod': {
      if (!input.pods || input.pods.some((p) => p.metadata?.uid === step.check?.uid)) {
        return pendingOrLate(
          input,
          `pod ${step.check?.pod} (uid ${step.check?.uid}) is not known to be gone`,
        );
      }
      if (available >= desired) {
        return { state: 'verified', message: `pod ${step.check?.pod} was replaced; ${allAvailable}` };
      }
      return pendingOrLate(input, allAvailable);
    }
    case 'redeploy': {
      const generation = step.check?.generation ?? 0;
      if (rollout.stalled) {
        return { state: 'failed', message: `the rollout of ${name} exceeded its progress deadline` };
      }
      const done =
        rollout.observedGeneration >= generation &&
        rollout.revisionsMatch &&
        rollout.updated >= rollout.desired &&
        rollout.total <= rollout.updated &&
        rollout.available >= rollout.desired;
      if (done) return { state: 'verified', message: `the rollout of ${name} finished; ${allAvailable}` };
      return pendingOrLate(
        input,
        `rollout of ${name}: ${rollout.updated}/${rollout.desired} updated, ${rollout.available} available, ${rollout.total} in all`,
      );
    }
    case 'scale': {
      const wanted = step.check?.replicas ?? desired;
      if (available >= wanted) {
        return { state: 'verified', message: `${available}/${wanted} replicas of ${name} available` };
      }
      return pendingOrLate(input, `${available}/${wanted} replicas of ${name} available`);
    }
  }
}
