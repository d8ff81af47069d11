// Kubernetes Events about pods, as a kubelet records them; repeats of one event raise its count instead of piling up.
import { randomBytes } from 'node:crypto';
import type { CoreV1Api, CoreV1Event, V1Pod } from '@kubernetes/client-node';

export type EventType = 'Normal' | 'Warning';
export type RecordEvent = (
  pod: V1Pod,
  type: EventType,
  reason: string,
  message: string,
  fieldPath?: string,
) => void;

type Series = {
  name: string;
  namespace: string;
  count: number;
  first: Date;
  lastSentAt: number;
  sending: boolean;
};

/** At most one write per series every few seconds; a later repeat carries the count of the ones in between. */
const MIN_UPDATE_INTERVAL_MS = 5_000;

export function eventRecorder(
  core: CoreV1Api,
  nodeName: string,
  onError: (err: unknown) => void,
): RecordEvent {
  const series = new Map<string, Series>();
  return (pod, type, reason, message, fieldPath) => {
    const meta = pod.metadata ?? {};
    const namespace = meta.namespace ?? 'default';
    const key = `${meta.uid}|${fieldPath}|${type}|${reason}|${message}`;
    const now = new Date();
    let s = series.get(key);
    if (s) {
      s.count++;
      if (s.sending || Date.now() - s.lastSentAt < MIN_UPDATE_INTERVAL_MS) return;
      s.sending = true;
      s.lastSentAt = Date.now();
      const current = s;
      core
        .patchNamespacedEvent({
          name: current.name,
          namespace,
          body: [
            { op: 'replace', path: '/count', value: current.count },
            { op: 'replace', path: '/lastTimestamp', value: now.toISOString() },
          ],
        })
        .catch(onError)
        .finally(() => {
          current.sending = false;
        });
      return;
    }
    if (series.size > 2_000) series.clear();
    s = {
      name: `${meta.name}.${randomBytes(8).toString('hex')}`,
      namespace,
      count: 1,
      first: now,
      lastSentAt: Date.now(),
      sending: true,
    };
    series.set(key, s);
    const created = s;
    const body: CoreV1Event = {
      metadata: { name: s.name, namespace },
      involvedObject: {
        apiVersion: 'v1',
        kind: 'Pod',
        name: meta.name ?? '',
        namespace,
        uid: meta.uid ?? '',
        ...(fieldPath ? { fieldPath } : {}),
      },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: 'kubelet', host: nodeName },
      reportingComponent: 'kubelet',
      reportingInstance: nodeName,
    };
    core
      .createNamespacedEvent({ namespace, body })
      .catch(onError)
      .finally(() => {
        created.sending = false;
      });
  };
}
