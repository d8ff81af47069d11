// The workload an action changes and keeps its record on — a Deployment, StatefulSet or DaemonSet — read and
// written through one narrow set of helpers, with what differs per kind stated here and nowhere else.
import { resolveIntOrPercent } from './guards.ts';
import type {
  KubeOps,
  V1DaemonSet,
  V1Deployment,
  V1StatefulSet,
  WorkloadKind,
  WriteOptions,
} from './kube.ts';
import type { ObjectRef } from './kube-events.ts';

export type { WorkloadKind } from './kube.ts';

export type Workload =
  | { kind: 'Deployment'; object: V1Deployment }
  | { kind: 'StatefulSet'; object: V1StatefulSet }
  | { kind: 'DaemonSet'; object: V1DaemonSet };

export function workloadMeta(workload: Workload) {
  const meta = workload.object.metadata;
  return {
    namespace: meta?.namespace ?? '',
    name: meta?.name ?? '',
    uid: meta?.uid,
    resourceVersion: meta?.resourceVersion,
    generation: meta?.generation,
    labels: meta?.labels ?? {},
    annotations: meta?.annotations ?? {},
  };
}

// `namespace/name`, as results and logs name the workload.
export function workloadName(workload: Workload): string {
  const { namespace, name } = workloadMeta(workload);
  return `${namespace}/${name}`;
}

// `Deployment namespace/name`, as messages name it.
export function describeWorkload(workload: Workload): string {
  return `${workload.kind} ${workloadName(workload)}`;
}

export function workloadRef(workload: Workload): ObjectRef {
  const { namespace, name, uid } = workloadMeta(workload);
  return { apiVersion: 'apps/v1', kind: workload.kind, namespace, name, uid };
}

function asWorkload(kind: WorkloadKind, object: Workload['object']): Workload {
  return { kind, object } as Workload;
}

export async function readWorkload(
  kube: KubeOps,
  kind: WorkloadKind,
  namespace: string,
  name: string,
): Promise<Workload | undefined> {
  const object = await kube.readWorkload(kind, namespace, name);
  return object && asWorkload(kind, object);
}

// A strategic-merge patch; a metadata.resourceVersion in it makes the write conditional (409 when it changed).
export async function patchWorkload(
  kube: KubeOps,
  workload: Workload,
  patch: object,
  options: WriteOptions,
): Promise<Workload> {
  const { namespace, name } = workloadMeta(workload);
  return asWorkload(workload.kind, await kube.patchWorkload(workload.kind, namespace, name, patch, options));
}

// How many pods the workload wants, and how many of them it lets be unavailable at once, the way its own
// controller counts during a rolling update: a Deployment's maxUnavailable (25 % rounded down; 0 for Recreate), a
// StatefulSet's or DaemonSet's (1 by default, a percentage rounded up). A DaemonSet wants one pod per eligible node:
// the larger of its controller's count and the pods that exist, so a lagging status never shrinks it.
export function disruptionAllowance(
  workload: Workload,
  livePods: number,
): { replicas: number; maxUnavailable: number; minReadySeconds: number } {
  const minReadySeconds = workload.object.spec?.minReadySeconds ?? 0;
  if (workload.kind === 'Deployment') {
    const spec = workload.object.spec;
    const replicas = spec?.replicas ?? 1;
    const maxUnavailable =
      spec?.strategy?.type === 'Recreate'
        ? 0
        : resolveIntOrPercent(spec?.strategy?.rollingUpdate?.maxUnavailable, replicas, '25%');
    return { replicas, maxUnavailable, minReadySeconds };
  }
  const replicas =
    workload.kind === 'StatefulSet'
      ? (workload.object.spec?.replicas ?? 1)
      : Math.max(workload.object.status?.desiredNumberScheduled ?? 0, livePods);
  const rolling = workload.object.spec?.updateStrategy?.rollingUpdate?.maxUnavailable;
  return { replicas, maxUnavailable: resolveIntOrPercent(rolling, replicas, '1', true), minReadySeconds };
}

// Why a rolling restart of the workload would not roll out, if it would not.
export function rolloutBlocked(workload: Workload): { reason: string; message: string } | undefined {
  if (workload.kind === 'Deployment' && workload.object.spec?.paused) {
    return {
      reason: 'paused',
      message: `${describeWorkload(workload)} is paused; a restart would not roll out`,
    };
  }
  if (workload.kind !== 'Deployment' && workload.object.spec?.updateStrategy?.type === 'OnDelete') {
    return {
      reason: 'on-delete',
      message: `${describeWorkload(workload)} updates its pods only when they are deleted (updateStrategy OnDelete); a restart would not roll out`,
    };
  }
  return undefined;
}

// The workload's rollout as its controller last reported it: how many pods it wants, how many run the current
// template and are available, and whether it has seen the latest spec (observedGeneration).
export type RolloutStatus = {
  desired: number;
  updated: number;
  available: number;
  total: number;
  observedGeneration: number;
  // The controller gave up on the rollout (a Deployment past its progressDeadlineSeconds).
  stalled: boolean;
  // A StatefulSet rolls its pods to updateRevision; done when every pod is on it.
  revisionsMatch: boolean;
};

export function rolloutStatus(workload: Workload): RolloutStatus {
  if (workload.kind === 'Deployment') {
    const { spec, status } = workload.object;
    const progressing = status?.conditions?.find((c) => c.type === 'Progressing');
    return {
      desired: spec?.replicas ?? 1,
      updated: status?.updatedReplicas ?? 0,
      available: status?.availableReplicas ?? 0,
      total: status?.replicas ?? 0,
      observedGeneration: status?.observedGeneration ?? 0,
      stalled: progressing?.reason === 'ProgressDeadlineExceeded',
      revisionsMatch: true,
    };
  }
  if (workload.kind === 'StatefulSet') {
    const { spec, status } = workload.object;
    return {
      desired: spec?.replicas ?? 1,
      updated: status?.updatedReplicas ?? 0,
      available: status?.availableReplicas ?? 0,
      total: status?.replicas ?? 0,
      observedGeneration: status?.observedGeneration ?? 0,
      stalled: false,
      revisionsMatch: !status?.updateRevision || status.updateRevision === status.currentRevision,
    };
  }
  const status = workload.object.status;
  return {
    desired: status?.desiredNumberScheduled ?? 0,
    updated: status?.updatedNumberScheduled ?? 0,
    available: status?.numberAvailable ?? 0,
    total: status?.currentNumberScheduled ?? 0,
    observedGeneration: status?.observedGeneration ?? 0,
    stalled: false,
    revisionsMatch: true,
  };
}
