// The workload an action changes and keeps its record on (a Deployment), read and written through one narrow set
// of helpers, so the engine never needs to know which kind it holds.
import type { KubeOps, V1Deployment, WriteOptions } from './kube.ts';
import type { ObjectRef } from './kube-events.ts';

export type WorkloadKind = 'Deployment';
export type Workload = { kind: 'Deployment'; object: V1Deployment };

export function workloadMeta(workload: Workload) {
  const meta = workload.object.metadata;
  return {
    namespace: meta?.namespace ?? '',
    name: meta?.name ?? '',
    uid: meta?.uid,
    resourceVersion: meta?.resourceVersion,
    labels: meta?.labels ?? {},
    annotations: meta?.annotations ?? {},
  };
}

// `namespace/name`, as results and logs name the workload.
export function workloadName(workload: Workload): string {
  const { namespace, name } = workloadMeta(workload);
  return `${namespace}/${name}`;
}

export function workloadRef(workload: Workload): ObjectRef {
  const { namespace, name, uid } = workloadMeta(workload);
  return { apiVersion: 'apps/v1', kind: workload.kind, namespace, name, uid };
}

export async function readWorkload(
  kube: KubeOps,
  kind: WorkloadKind,
  namespace: string,
  name: string,
): Promise<Workload | undefined> {
  const object = await kube.readDeployment(namespace, name);
  return object && { kind, object };
}

// A strategic-merge patch; a metadata.resourceVersion in it makes the write conditional (409 when it changed).
export async function patchWorkload(
  kube: KubeOps,
  workload: Workload,
  patch: object,
  options: WriteOptions,
): Promise<Workload> {
  const { namespace, name } = workloadMeta(workload);
  return { kind: workload.kind, object: await kube.patchDeployment(namespace, name, patch, options) };
}
