// Builders of decision snapshots for the table tests of the actions' pure decisions: plain objects shaped like what
// the API server returns, no cluster.
import type { Snapshot } from './lib/engine.ts';
import type { ActionName, Target } from './lib/events.ts';
import type { V1DaemonSet, V1Deployment, V1Pod, V1StatefulSet } from './lib/kube.ts';
import type { ActionRecord, Ledger } from './lib/ledger.ts';
import type { Policy } from './lib/policy.ts';
import type { Workload } from './lib/workload.ts';

export const NOW = new Date('2026-11-26T12:00:00.250Z');
export const ago = (seconds: number): string => new Date(NOW.getTime() - seconds * 1000).toISOString();

export const POLICY: Policy = {
  cooldownSeconds: 300,
  budget: { max: 6, windowSeconds: 3600 },
  leaseSeconds: 60,
  maxReplicas: { value: 10, source: 'config' },
  scaleStep: 1,
};

export type DeploymentShape = {
  replicas?: number;
  maxUnavailable?: number | string;
  strategy?: 'RollingUpdate' | 'Recreate';
  minReadySeconds?: number;
  optIn?: boolean;
  paused?: boolean;
  restartedAt?: string;
};

export function deployment(shape: DeploymentShape = {}): V1Deployment {
  const { replicas = 3, optIn = true, strategy = 'RollingUpdate' } = shape;
  return {
    metadata: {
      namespace: 'demo',
      name: 'web',
      uid: 'd-1',
      resourceVersion: '100',
      labels: optIn ? { 'selfheal.dev/enabled': 'true' } : { app: 'web' },
      annotations: {},
    },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      ...(shape.paused ? { paused: true } : {}),
      ...(shape.minReadySeconds ? { minReadySeconds: shape.minReadySeconds } : {}),
      strategy:
        strategy === 'Recreate'
          ? { type: 'Recreate' }
          : { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: shape.maxUnavailable ?? '25%' } },
      template: {
        metadata: {
          labels: { app: 'web' },
          ...(shape.restartedAt
            ? { annotations: { 'kubectl.kubernetes.io/restartedAt': shape.restartedAt } }
            : {}),
        },
        spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
      },
    },
  };
}

const optInLabels = (optIn: boolean): Record<string, string> =>
  optIn ? { 'selfheal.dev/enabled': 'true' } : { app: 'web' };

export type SetShape = {
  replicas?: number;
  maxUnavailable?: number | string;
  onDelete?: boolean;
  optIn?: boolean;
  // A DaemonSet's count of the nodes that should run its pod, as its controller last wrote it.
  desiredNumberScheduled?: number;
};

function updateStrategy(shape: SetShape) {
  if (shape.onDelete) return { type: 'OnDelete' };
  return {
    type: 'RollingUpdate',
    ...(shape.maxUnavailable !== undefined
      ? { rollingUpdate: { maxUnavailable: shape.maxUnavailable } }
      : {}),
  };
}

const template = {
  metadata: { labels: { app: 'web' } },
  spec: { containers: [{ name: 'app', image: 'x:1' }] },
};

export function statefulSet(shape: SetShape = {}): Workload {
  const object: V1StatefulSet = {
    metadata: {
      namespace: 'demo',
      name: 'web',
      uid: 's-1',
      resourceVersion: '7',
      labels: optInLabels(shape.optIn ?? true),
    },
    spec: {
      replicas: shape.replicas ?? 3,
      serviceName: 'web',
      selector: { matchLabels: { app: 'web' } },
      updateStrategy: updateStrategy(shape),
      template,
    },
  };
  return { kind: 'StatefulSet', object };
}

export function daemonSet(shape: SetShape = {}): Workload {
  const object: V1DaemonSet = {
    metadata: {
      namespace: 'demo',
      name: 'web',
      uid: 'ds-1',
      resourceVersion: '9',
      labels: optInLabels(shape.optIn ?? true),
    },
    spec: { selector: { matchLabels: { app: 'web' } }, updateStrategy: updateStrategy(shape), template },
    status: {
      desiredNumberScheduled: shape.desiredNumberScheduled ?? 3,
      currentNumberScheduled: 0,
      numberMisscheduled: 0,
      numberReady: 0,
    },
  };
  return { kind: 'DaemonSet', object };
}

export type PodShape = {
  name?: string;
  uid?: string;
  ready?: boolean;
  readySince?: string;
  terminating?: boolean;
};

export function pod({
  name = 'web-1',
  uid = `uid-${name}`,
  ready = true,
  readySince,
  terminating,
}: PodShape = {}): V1Pod {
  return {
    metadata: {
      namespace: 'demo',
      name,
      uid,
      resourceVersion: `rv-${name}`,
      labels: { app: 'web' },
      ...(terminating ? { deletionTimestamp: new Date(ago(1)) } : {}),
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-1', controller: true },
      ],
    },
    status: {
      phase: 'Running',
      conditions: [
        {
          type: 'Ready',
          status: ready ? 'True' : 'False',
          lastTransitionTime: new Date(readySince ?? ago(600)),
        },
      ],
    },
  };
}

export function record(over: Partial<ActionRecord> = {}): ActionRecord {
  return {
    id: 'event-1',
    action: 'restart-pod',
    target: 'demo/Pod/web-1',
    state: 'failed',
    at: ago(5),
    ...over,
  };
}

export type SnapshotShape<S> = {
  action: ActionName;
  target?: Target;
  workload?: V1Deployment | Workload;
  pod?: V1Pod;
  ledger?: Partial<Ledger>;
  policy?: Partial<Policy>;
  step?: number;
  id?: string;
  state: S;
};

export function snapshot<S>(shape: SnapshotShape<S>): Snapshot<S> {
  const target: Target =
    shape.target ??
    (shape.pod
      ? { namespace: 'demo', kind: 'Pod', name: shape.pod.metadata?.name ?? '' }
      : { namespace: 'demo', kind: 'Deployment', name: 'web' });
  return {
    request: {
      id: shape.id ?? 'event-1',
      action: shape.action,
      intent: 'act',
      target,
      params: shape.step === undefined ? {} : { step: shape.step },
      alert: undefined,
      dryRun: false,
      format: 'cloudevent',
    },
    workload:
      shape.workload && 'object' in shape.workload
        ? shape.workload
        : { kind: 'Deployment', object: shape.workload ?? deployment() },
    pod: shape.pod,
    replacedBy: shape.pod ? 'ReplicaSet web-abc' : undefined,
    ledger: { last: undefined, history: [], ...shape.ledger },
    policy: { ...POLICY, ...shape.policy },
    now: NOW,
    state: shape.state,
  };
}
