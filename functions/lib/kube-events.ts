// Kubernetes Events for selfheal's decisions: what a human sees in `kubectl describe` and `kubectl get events`.
import { createHash } from 'node:crypto';
import type { CoreV1Event } from './kube.ts';

export type ObjectRef = {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string | undefined;
};

export type EventInput = {
  fn: string;
  instance: string;
  // The decision's idempotency key: the same decision on redelivery names the same Event (created once).
  key: string;
  reason: string;
  message: string;
  warning: boolean;
  involved: ObjectRef;
  related?: ObjectRef | undefined;
  action: string;
  now: Date;
};

const MAX_MESSAGE = 1024;

export function buildEvent(input: EventInput): CoreV1Event {
  const suffix = createHash('sha256').update(`${input.key}\n${input.reason}`).digest('hex').slice(0, 16);
  const message =
    input.message.length > MAX_MESSAGE ? `${input.message.slice(0, MAX_MESSAGE - 1)}…` : input.message;
  const ref = (r: ObjectRef) => ({
    apiVersion: r.apiVersion,
    kind: r.kind,
    namespace: r.namespace,
    name: r.name,
    ...(r.uid ? { uid: r.uid } : {}),
  });
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${input.involved.name.slice(0, 200)}.${suffix}`, namespace: input.involved.namespace },
    involvedObject: ref(input.involved),
    ...(input.related ? { related: ref(input.related) } : {}),
    reason: input.reason,
    message,
    type: input.warning ? 'Warning' : 'Normal',
    action: input.action,
    source: { component: `selfheal/${input.fn}` },
    reportingComponent: `selfheal/${input.fn}`,
    reportingInstance: input.instance.slice(0, 128),
    firstTimestamp: input.now,
    lastTimestamp: input.now,
    count: 1,
  };
}
