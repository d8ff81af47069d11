// Finding what an action acts on: a Deployment by name, or a pod's Deployment through its owner references
// (Pod → ReplicaSet → Deployment), with the opt-in and namespace checks of the safety model.
import type { Decision } from './action.ts';
import type { Target } from './events.ts';
import { checkNamespace, checkOptIn, type NamespaceAllowList } from './guards.ts';
import type { KubeOps, V1Deployment, V1Pod, V1ReplicaSet } from './kube.ts';
import type { ObjectRef } from './kube-events.ts';

export type Resolved = { deployment: V1Deployment; pod?: V1Pod; replicaSet?: V1ReplicaSet };
export type Resolution = ({ ok: true } & Resolved) | { ok: false; decision: Decision };

export function podRef(pod: V1Pod): ObjectRef {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: pod.metadata?.namespace ?? '',
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid,
  };
}

export function deploymentRef(deployment: V1Deployment): ObjectRef {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    namespace: deployment.metadata?.namespace ?? '',
    name: deployment.metadata?.name ?? '',
    uid: deployment.metadata?.uid,
  };
}

export function deploymentName(deployment: V1Deployment): string {
  return `${deployment.metadata?.namespace}/${deployment.metadata?.name}`;
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

function controllerOf(
  meta:
    | {
        ownerReferences?: Array<{
          controller?: boolean;
          kind: string;
          name: string;
          uid: string;
          apiVersion: string;
        }>;
      }
    | undefined,
  kind: string,
) {
  return meta?.ownerReferences?.find(
    (r) => r.controller === true && r.kind === kind && r.apiVersion.startsWith('apps/'),
  );
}

// The pod's Deployment, or why there is none to act on.
export async function resolvePodOwner(kube: KubeOps, pod: V1Pod): Promise<Resolution> {
  const ref = podRef(pod);
  const where = `${ref.namespace}/${ref.name}`;
  const rsRef = controllerOf(pod.metadata, 'ReplicaSet');
  if (!rsRef) {
    const owners = pod.metadata?.ownerReferences?.map((o) => `${o.kind} ${o.name}`).join(', ');
    return refuse(
      'not-managed',
      `pod ${where} is not managed by a Deployment's ReplicaSet (${owners ? `owned by ${owners}` : 'a bare pod'}); deleting it would not bring it back`,
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
  const deployment = await kube.readDeployment(ref.namespace, depRef.name);
  if (!deployment || deployment.metadata?.uid !== depRef.uid) {
    return skip('gone', `Deployment ${ref.namespace}/${depRef.name} of pod ${where} no longer exists`, ref);
  }
  return { ok: true, deployment, pod, replicaSet };
}

// The Deployment a target names (directly, or through a pod).
export async function resolveTarget(kube: KubeOps, target: Target): Promise<Resolution> {
  if (target.kind === 'Deployment') {
    const deployment = await kube.readDeployment(target.namespace, target.name);
    if (!deployment) return skip('gone', `Deployment ${target.namespace}/${target.name} does not exist`);
    return { ok: true, deployment };
  }
  const pod = await kube.readPod(target.namespace, target.name);
  if (!pod) return skip('pod-gone', `pod ${target.namespace}/${target.name} no longer exists`);
  return resolvePodOwner(kube, pod);
}

export type OptedIn =
  | { ok: true; deployment: V1Deployment; involved: ObjectRef; name: string }
  | { ok: false; decision: Decision };

// The opted-in Deployment an action on `target` changes (with its Event reference and `namespace/name`), or the
// decision that ends the action: gone, not managed, or not opted in.
export async function resolveOptedInDeployment(kube: KubeOps, target: Target): Promise<OptedIn> {
  const resolved = await resolveTarget(kube, target);
  if (!resolved.ok) return resolved;
  const { deployment } = resolved;
  const involved = deploymentRef(deployment);
  const refused = optInDecision(deployment, involved);
  if (refused) return { ok: false, decision: refused };
  return { ok: true, deployment, involved, name: deploymentName(deployment) };
}

export function namespaceDecision(target: Target, allowed: NamespaceAllowList): Decision | undefined {
  const refusal = checkNamespace(target.namespace, allowed);
  // No Event either: the function has no business (nor, by its RBAC, any right) in that namespace.
  return refusal && { outcome: 'refused', ...refusal, recordEvent: false };
}

export function optInDecision(deployment: V1Deployment, involved: ObjectRef): Decision | undefined {
  const refusal = checkOptIn(
    { namespace: deployment.metadata?.namespace ?? '', name: deployment.metadata?.name ?? '' },
    deployment.metadata?.labels,
  );
  return refusal && { outcome: 'refused', ...refusal, involved, deployment: deploymentName(deployment) };
}
