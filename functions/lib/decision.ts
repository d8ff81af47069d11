// What an action decided (applied, dry-run, skipped or refused, with the reason) and what deciding may use: the
// Kubernetes operations, the configuration, a logger and the clock.
import type { CloudEvent } from 'cloudevents';
import type { ActionConfig } from './config.ts';
import type { ActionEventData } from './events.ts';
import type { KubeOps } from './kube.ts';
import type { ObjectRef } from './kube-events.ts';
import type { Logger } from './log.ts';
import type { ActionRequest } from './request.ts';

export type ActionDeps = {
  kube: KubeOps;
  config: ActionConfig;
  log: Logger;
  now: () => Date;
  instance: string;
  // Test seam: runs between a read and the write that depends on it (to provoke real conflicts).
  beforeWrite?: (stage: string) => Promise<void>;
};

export type Decision = {
  outcome: 'applied' | 'dry-run' | 'skipped' | 'refused';
  reason: string;
  message: string;
  involved?: ObjectRef | undefined;
  related?: ObjectRef | undefined;
  deployment?: string | undefined;
  detail?: Record<string, unknown> | undefined;
  // false when no Event can be recorded (a namespace the function may not touch at all).
  recordEvent?: boolean;
  // The Event's reason and type when the outcome alone does not say it (Escalated, BreakerOpened, Healed, …).
  eventReason?: string | undefined;
  warning?: boolean | undefined;
  // The next step of the escalation chain: answered instead of the result, so the caller routes it on.
  next?: CloudEvent<ActionEventData> | undefined;
};

export type ActionLogic = (request: ActionRequest, deps: ActionDeps) => Promise<Decision>;
