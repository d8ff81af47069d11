// The limits an action works within for one workload: the configuration, overridden by the workload's annotations.
import type { ActionConfig } from './config.ts';
import { annotationNumber, COOLDOWN_ANNOTATION, MAX_REPLICAS_ANNOTATION } from './guards.ts';
import type { LedgerPolicy } from './ledger.ts';

export type Policy = LedgerPolicy & {
  maxReplicas: { value: number; source: 'annotation' | 'config' };
  scaleStep: number;
};

export function policyFor(config: ActionConfig, annotations: Record<string, string> | undefined): Policy {
  return {
    cooldownSeconds: annotationNumber(annotations, COOLDOWN_ANNOTATION, config.cooldownSeconds).value,
    budget: config.budget,
    leaseSeconds: config.leaseSeconds,
    maxReplicas: annotationNumber(annotations, MAX_REPLICAS_ANNOTATION, config.maxReplicas),
    scaleStep: config.scaleStep,
  };
}
