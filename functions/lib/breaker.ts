// The breaker: once the escalation chain is spent on a workload, or the workload needs more actions than its
// budget, selfheal stops acting on it (for alerts) until a person removes the annotation. Kept on the workload.
import { z } from 'zod';
import { ACTIONS } from './events.ts';
import type { Workload } from './workload.ts';
import { workloadMeta } from './workload.ts';

export const BREAKER_ANNOTATION = 'selfheal.dev/breaker';

const breakerSchema = z.object({
  openedAt: z.string(),
  reason: z.enum(['chain-exhausted', 'budget-exhausted']),
  alertname: z.string(),
  message: z.string(),
  // The steps of the episode that tripped it, oldest first.
  steps: z.array(z.object({ action: z.enum(ACTIONS), at: z.string(), result: z.string() })),
  // When a human was told, and through which channels (alertmanager, webhook).
  notified: z.object({ at: z.string(), channels: z.array(z.string()) }).optional(),
});
export type Breaker = z.infer<typeof breakerSchema>;

export function readBreaker(annotations: Record<string, string> | undefined): Breaker | undefined {
  const text = annotations?.[BREAKER_ANNOTATION];
  if (!text) return undefined;
  try {
    const parsed = breakerSchema.safeParse(JSON.parse(text));
    // Present but unreadable (edited by hand): still open, so a typo never re-arms the automation.
    return parsed.success
      ? parsed.data
      : {
          openedAt: '',
          reason: 'chain-exhausted',
          alertname: '',
          message: 'unreadable breaker record',
          steps: [],
        };
  } catch {
    return {
      openedAt: '',
      reason: 'chain-exhausted',
      alertname: '',
      message: 'unreadable breaker record',
      steps: [],
    };
  }
}

export function breakerAnnotation(breaker: Breaker): Record<string, string> {
  return { [BREAKER_ANNOTATION]: JSON.stringify(breaker) };
}

// The command that closes the breaker (documented in the README, repeated in every message about it).
export function clearCommand(workload: Workload): string {
  const { namespace, name } = workloadMeta(workload);
  return `kubectl annotate ${workload.kind.toLowerCase()} ${name} -n ${namespace} ${BREAKER_ANNOTATION}-`;
}
