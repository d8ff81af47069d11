// Derives a pod's status (phase, conditions, container statuses) from its containers, with the kubelet's rules.
import type { V1ContainerStatus, V1Pod, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';

export type PodRuntimeView = {
  pod: V1Pod;
  podIP: string | undefined;
  hostIP: string;
  startTime: Date;
  sandboxReady: boolean;
  containers: V1ContainerStatus[];
  /** The conditions last reported, so a condition keeps its lastTransitionTime until its status changes. */
  previousConditions: V1PodCondition[] | undefined;
  /** Set once every container has stopped for good because the pod is being deleted. */
  terminal: boolean;
  now: Date;
};

/** kubelet getPhase: waiting-never-ran → Pending, anything running → Running, all stopped → by restart policy. */
export function podPhase(pod: V1Pod, containers: V1ContainerStatus[], terminal: boolean): string {
  let waiting = 0;
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const c of containers) {
    if (c.state?.running) running++;
    else if (c.state?.terminated) {
      stopped++;
      if (c.state.terminated.exitCode === 0) succeeded++;
    } else if (c.lastState?.terminated) {
      stopped++;
      if (c.lastState.terminated.exitCode === 0) succeeded++;
    } else waiting++;
  }
  if (terminal) return stopped === succeeded && waiting === 0 ? 'Succeeded' : 'Failed';
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  const policy = pod.spec?.restartPolicy ?? 'Always';
  if (policy === 'Always') return 'Running';
  if (stopped === succeeded) return 'Succeeded';
  if (policy === 'Never') return 'Failed';
  return 'Running';
}

function condition(
  previous: V1PodCondition[] | undefined,
  type: string,
  ok: boolean,
  now: Date,
  generation: number | undefined,
  reason?: string,
  message?: string,
): V1PodCondition {
  const status = ok ? 'True' : 'False';
  const before = previous?.find((c) => c.type === type);
  const c: V1PodCondition = {
    type,
    status,
    lastTransitionTime:
      before?.status === status && before.lastTransitionTime ? before.lastTransitionTime : now,
  };
  if (generation !== undefined) c.observedGeneration = generation;
  // The status goes out as a strategic merge patch, merged by condition type: null removes an earlier reason.
  const clear = null as unknown as undefined;
  c.reason = !ok && reason ? reason : clear;
  c.message = !ok && message ? message : clear;
  return c;
}

export function buildPodStatus(view: PodRuntimeView): V1PodStatus {
  const { pod, containers, now } = view;
  const previous = view.previousConditions;
  const generation = pod.metadata?.generation;
  const phase = podPhase(pod, containers, view.terminal);
  const unready = containers.filter((c) => !c.ready).map((c) => c.name);
  const gatesOpen = (pod.spec?.readinessGates ?? []).every(
    (g) => pod.status?.conditions?.find((c) => c.type === g.conditionType)?.status === 'True',
  );
  const completed = phase === 'Succeeded' || phase === 'Failed';
  const notReadyReason = completed ? 'PodCompleted' : 'ContainersNotReady';
  const notReadyMessage = completed ? undefined : `containers with unready status: [${unready.join(' ')}]`;
  const containersReady = unready.length === 0 && !completed;
  const conditions: V1PodCondition[] = [
    condition(previous, 'PodReadyToStartContainers', view.sandboxReady && !completed, now, generation),
    condition(previous, 'Initialized', true, now, generation),
    condition(
      previous,
      'Ready',
      containersReady && gatesOpen,
      now,
      generation,
      notReadyReason,
      notReadyMessage,
    ),
    condition(previous, 'ContainersReady', containersReady, now, generation, notReadyReason, notReadyMessage),
  ];
  const status: V1PodStatus = {
    phase,
    conditions,
    hostIP: view.hostIP,
    hostIPs: [{ ip: view.hostIP }],
    startTime: view.startTime,
    containerStatuses: containers,
  };
  if (generation !== undefined) status.observedGeneration = generation;
  if (view.podIP) {
    status.podIP = view.podIP;
    status.podIPs = [{ ip: view.podIP }];
  }
  return status;
}
