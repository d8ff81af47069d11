// The closed loop's settings from the environment (zod, fail fast): the escalation chain, how long an action may
// take to be verified and an alert to keep firing after it, how long a healed alert counts as returning, and where
// a human is told.
import { z } from 'zod';
import { blankToUndefined, httpUrl, int } from './env-fields.ts';
import { describeIssues } from './errors.ts';
import { ACTIONS, type ActionName, isAction } from './events.ts';

// A step of the escalation chain: an action, or `notify` (stop acting and tell a human).
export type ChainStep = ActionName | 'notify';
export const DEFAULT_CHAIN: readonly ChainStep[] = ['restart-pod', 'redeploy', 'scale', 'notify'];

export type LoopConfig = {
  chain: readonly ChainStep[];
  verifySeconds: number;
  settleSeconds: number;
  windowSeconds: number;
  alertmanagerUrl: string | undefined;
  webhookUrl: string | undefined;
  holdSeconds: number;
  notifyTimeoutMs: number;
};

// `restart-pod,redeploy,notify`: actions in order, each at most once, `notify` only last (and implied at the end).
export function parseChain(text: string): { chain: ChainStep[] } | { problem: string } {
  const steps = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (steps.length === 0) return { problem: 'names no step' };
  for (const [i, step] of steps.entries()) {
    if (step === 'notify') {
      if (i !== steps.length - 1) return { problem: 'notify ends the chain: nothing may follow it' };
      continue;
    }
    if (!isAction(step)) return { problem: `"${step}" is not an action (${ACTIONS.join(', ')}) or notify` };
    if (steps.indexOf(step) !== i) return { problem: `${step} appears twice` };
  }
  const chain = steps as ChainStep[];
  return { chain: chain.at(-1) === 'notify' ? chain : [...chain, 'notify'] };
}

const url = z.preprocess(blankToUndefined, httpUrl.optional());

const loopEnv = z.object({
  SELFHEAL_ESCALATION: z.preprocess(
    blankToUndefined,
    z
      .string()
      .default(DEFAULT_CHAIN.join(','))
      .transform((text, ctx) => {
        const parsed = parseChain(text);
        if ('problem' in parsed) {
          ctx.addIssue({ code: 'custom', message: parsed.problem });
          return z.NEVER;
        }
        return parsed.chain;
      }),
  ),
  SELFHEAL_VERIFY_SECONDS: int(600, 10, 86_400),
  SELFHEAL_SETTLE_SECONDS: int(600, 10, 86_400),
  SELFHEAL_EPISODE_WINDOW_SECONDS: int(3600, 60, 7 * 86_400),
  SELFHEAL_ALERTMANAGER_URL: url,
  SELFHEAL_NOTIFY_WEBHOOK_URL: url,
  SELFHEAL_NOTIFY_HOLD_SECONDS: int(900, 60, 7 * 86_400),
  SELFHEAL_NOTIFY_TIMEOUT_MS: int(5000, 100, 60_000),
});

// The loop's settings, or the problems (named by variable) added to `problems`.
export function loadLoopConfig(env: Record<string, string | undefined>, problems: string[]): LoopConfig {
  const parsed = loopEnv.safeParse(env);
  if (!parsed.success) {
    problems.push(...describeIssues(parsed.error));
    return { ...loopDefaults };
  }
  const e = parsed.data;
  return {
    chain: e.SELFHEAL_ESCALATION,
    verifySeconds: e.SELFHEAL_VERIFY_SECONDS,
    settleSeconds: e.SELFHEAL_SETTLE_SECONDS,
    windowSeconds: e.SELFHEAL_EPISODE_WINDOW_SECONDS,
    alertmanagerUrl: e.SELFHEAL_ALERTMANAGER_URL,
    webhookUrl: e.SELFHEAL_NOTIFY_WEBHOOK_URL,
    holdSeconds: e.SELFHEAL_NOTIFY_HOLD_SECONDS,
    notifyTimeoutMs: e.SELFHEAL_NOTIFY_TIMEOUT_MS,
  };
}

export const loopDefaults: LoopConfig = {
  chain: DEFAULT_CHAIN,
  verifySeconds: 600,
  settleSeconds: 600,
  windowSeconds: 3600,
  alertmanagerUrl: undefined,
  webhookUrl: undefined,
  holdSeconds: 900,
  notifyTimeoutMs: 5000,
};
