// Finding what an action acts on: the workload a target names, directly or through a pod's owner references
// (Pod → ReplicaSet → Deployment); a pod nothing would bring back is refused.
import type { Decision } from './decision.ts';
import type { Target } from './events.ts';
import { checkNamespace, type NamespaceAllowList } from './guards.ts';
import type { KubeOps, V1Pod } from './kube.ts';
import type { ObjectRef } from './kube-events.ts';
import { readWorkload, type Workload } from './workload.ts';

// The workload, the pod the target named (if it named one) and the controller that replaces that pod.
export type Found = { workload: Workload; pod?: V1Pod | undefined; replacedBy?: string | undefined };
export type Resolution = ({ ok: true } & Found) | { ok: false; decision: Decision };

export function podRef(pod: V1Pod): ObjectRef {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: pod.metadata?.namespace ?? '',
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid,
  };
}

export function isPodReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

const skip = (reason: string, message: string, involved?: ObjectRef): Resolution => ({
  ok: false,
  decision: { outcome: 'skipped', reason, message, involved },
});
const refuse = (reason: string, message: string, involved?: ObjectRef): Resolution => ({
  ok: false,
  decision: { outcome: 'refused', reason, message, involved },
});

type OwnerRef = { controller?: boolean; kind: string; name: string; uid: string; apiVersion: string };

function controllerOf(meta: { ownerReferences?: OwnerRef[] } | undefined, kind: string) {
  return meta?.ownerReferences?.find(
    (r) => r.controller === true && r.kind === kind && r.apiVersion.startsWith('apps/'),
  );
}

// The pod's workload, or why there is none to act on: a Deployment's pod through its ReplicaSet, a StatefulSet's or
// DaemonSet's pod directly. A Job's pod, a bare pod, or a pod of anything else is refused.
export async function resolvePodOwner(kube: KubeOps, pod: V1Pod): Promise<Resolution> {
  const ref = podRef(pod);
  const where = `${ref.namespace}/${ref.name}`;
  const owner = pod.metadata?.ownerReferences?.find((r) => r.controller === true);
  if (!owner) {
    const owners = pod.metadata?.ownerReferences?.map((o) => `${o.kind} ${o.name}`).join(', ');
    return refuse(
      'not-managed',
      `pod ${where} is not managed by a Deployment, StatefulSet or DaemonSet (${owners ? `owned by ${owners}` : 'a bare pod'}); deleting it would not bring it back`,
      ref,
    );
  }
  const direct = controllerOf(pod.metadata, 'StatefulSet') ?? controllerOf(pod.metadata, 'DaemonSet');
  if (direct) {
    const kind = direct.kind as 'StatefulSet' | 'DaemonSet';
    const workload = await readWorkload(kube, kind, ref.namespace, direct.name);
    if (!workload || workload.object.metadata?.uid !== direct.uid) {
      return skip('gone', `${kind} ${ref.namespace}/${direct.name} of pod ${where} no longer exists`, ref);
    }
    return { ok: true, workload, pod, replacedBy: `${kind} ${direct.name}` };
  }
  const rsRef = controllerOf(pod.metadata, 'ReplicaSet');
  if (!rsRef) {
    return refuse(
      'unsupported-kind',
      `pod ${where} belongs to ${owner.kind} ${owner.name}; selfheal acts on pods of Deployments, StatefulSets and DaemonSets only (a ${owner.kind} decides itself whether its pods run again)`,
      ref,
    );
  }
  const replicaSet = await kube.readReplicaSet(ref.namespace, rsRef.name);
  if (!replicaSet || replicaSet.metadata?.uid !== rsRef.uid) {
    return skip('gone', `ReplicaSet ${ref.namespace}/${rsRef.name} of pod ${where} no longer exists`, ref);
  }
  const depRef = controllerOf(replicaSet.metadata, 'Deployment');
  if (!depRef) {
    return refuse(
      'not-managed',
      `ReplicaSet ${ref.namespace}/${rsRef.name} of pod ${where} is not owned by a Deployment`,
      ref,
    );
  }
  const workload = await readWorkload(kube, 'Deployment', ref.namespace, depRef.name);
  if (!workload || workload.object.metadata?.uid !== depRef.uid) {
    return skip('gone', `Deployment ${ref.namespace}/${depRef.name} of pod ${where} no longer exists`, ref);
  }
  return { ok: true, workload, pod, replacedBy: `ReplicaSet ${rsRef.name}` };
}

// The workload a target names (directly, or through a pod).
export async function resolveTarget(kube: KubeOps, target: Target): Promise<Resolution> {
  if (target.kind !== 'Pod') {
    const workload = await readWorkload(kube, target.kind, target.namespace, target.name);
    if (!workload) return skip('gone', `${target.kind} ${target.namespace}/${target.name} does not exist`);
    return { ok: true, workload };
  }
  const pod = await kube.readPod(target.namespace, target.name);
  if (!pod) return skip('pod-gone', `pod ${target.namespace}/${target.name} no longer exists`);
  return resolvePodOwner(kube, pod);
}

export function namespaceDecision(target: Target, allowed: NamespaceAllowList): Decision | undefined {
  const refusal = checkNamespace(target.namespace, allowed);
  // No Event either: the function has no business (nor, by its RBAC, any right) in that namespace.
  return refusal && { outcome: 'refused', ...refusal, recordEvent: false };
}
