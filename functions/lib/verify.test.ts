// Verification as a table, pure: a restart is verified once the pod is gone and the workload available again, a
// redeploy once its rollout finished (failed past its deadline), a scale once the replicas are available; a step not
// verified in time has failed. No cluster.
import test from 'ava';
import { ago, daemonSet, NOW, pod, statefulSet } from '../snapshots.ts';
import type { Step } from './episodes.ts';
import type { V1DaemonSet, V1Deployment, V1StatefulSet } from './kube.ts';
import { verifyStep } from './verify.ts';
import type { Workload } from './workload.ts';

const deployment = (status: V1Deployment['status'], replicas = 2, generation = 4): Workload => ({
  kind: 'Deployment',
  object: {
    metadata: { name: 'web', namespace: 'demo', generation },
    spec: { replicas, selector: {}, template: {} },
    status,
  },
});

const restart: Step = {
  action: 'restart-pod',
  id: 'r',
  at: ago(30),
  alert: { fingerprint: 'f', startsAt: ago(90) },
  result: 'applied',
  check: { pod: 'web-1', uid: 'uid-web-1' },
};
const redeploy: Step = { ...restart, action: 'redeploy', check: { generation: 4 } };
const scale: Step = { ...restart, action: 'scale', check: { replicas: 3 } };

type Row = [string, Step, Workload, object, { pods?: ReturnType<typeof pod>[] | 'unlisted'; age?: number }?];

const live = (...names: Array<string | [string, boolean]>) =>
  names.map((n) => (typeof n === 'string' ? pod({ name: n }) : pod({ name: n[0], ready: n[1] })));

const rows: Row[] = [
  [
    'restart: the removed pod is still listed (terminating)',
    restart,
    deployment({ availableReplicas: 2 }),
    { state: 'pending' },
    { pods: [pod({ name: 'web-1', terminating: true }), ...live('web-2')] },
  ],
  [
    'restart: a new pod under the same name (a StatefulSet) is not the removed one',
    restart,
    statefulSetWith(2),
    { state: 'verified' },
    { pods: [pod({ name: 'web-1', uid: 'uid-new' }), ...live('web-2')] },
  ],
  [
    'restart: gone and every pod available',
    restart,
    deployment({}),
    { state: 'verified' },
    { pods: live('web-2', 'web-3') },
  ],
  [
    'restart: gone, the replacement not ready yet',
    restart,
    deployment({}),
    { state: 'pending' },
    { pods: live('web-2', ['web-3', false]) },
  ],
  [
    "restart: a lagging controller's status says all available, the live list does not: not verified",
    restart,
    deployment({ availableReplicas: 2 }),
    { state: 'pending' },
    { pods: live('web-2') },
  ],
  [
    'restart: pods that cannot be listed verify nothing',
    restart,
    deployment({ availableReplicas: 2 }),
    { state: 'pending' },
    { pods: 'unlisted' },
  ],
  [
    'restart: not available after the time allowed',
    restart,
    deployment({}),
    { state: 'failed', message: /not verified after 600s/ },
    { pods: live('web-2'), age: 700 },
  ],
  [
    'redeploy: rollout finished',
    redeploy,
    deployment({ observedGeneration: 4, updatedReplicas: 2, replicas: 2, availableReplicas: 2 }),
    { state: 'verified' },
  ],
  [
    'redeploy: the controller has not seen the restart yet',
    redeploy,
    deployment({ observedGeneration: 3, updatedReplicas: 2, replicas: 2, availableReplicas: 2 }),
    { state: 'pending' },
  ],
  [
    'redeploy: old pods still running',
    redeploy,
    deployment({ observedGeneration: 4, updatedReplicas: 2, replicas: 3, availableReplicas: 2 }),
    { state: 'pending' },
  ],
  [
    'redeploy: past its progress deadline',
    redeploy,
    deployment({
      observedGeneration: 4,
      updatedReplicas: 1,
      replicas: 3,
      availableReplicas: 2,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
    }),
    { state: 'failed', message: /progress deadline/ },
  ],
  [
    'scale: the added replicas available',
    scale,
    deployment({}, 3),
    { state: 'verified' },
    { pods: live('a', 'b', 'c') },
  ],
  [
    'scale: not yet',
    scale,
    deployment({ availableReplicas: 3 }, 3),
    { state: 'pending' },
    { pods: live('a', 'b', ['c', false]) },
  ],
  [
    'redeploy of a StatefulSet: pods still on the old revision',
    redeploy,
    statefulSetStatus({
      observedGeneration: 4,
      replicas: 2,
      updatedReplicas: 2,
      availableReplicas: 2,
      currentRevision: 'web-1',
      updateRevision: 'web-2',
    }),
    { state: 'pending' },
  ],
  [
    'redeploy of a StatefulSet: every pod on the new revision and available',
    redeploy,
    statefulSetStatus({
      observedGeneration: 4,
      replicas: 2,
      updatedReplicas: 2,
      availableReplicas: 2,
      currentRevision: 'web-2',
      updateRevision: 'web-2',
    }),
    { state: 'verified' },
  ],
  [
    'redeploy of a DaemonSet: a node still runs the old pod',
    redeploy,
    daemonSetStatus({
      observedGeneration: 4,
      desiredNumberScheduled: 2,
      currentNumberScheduled: 2,
      updatedNumberScheduled: 1,
      numberAvailable: 2,
    }),
    { state: 'pending' },
  ],
  [
    'redeploy of a DaemonSet: every node runs an updated, available pod',
    redeploy,
    daemonSetStatus({
      observedGeneration: 4,
      desiredNumberScheduled: 2,
      currentNumberScheduled: 2,
      updatedNumberScheduled: 2,
      numberAvailable: 2,
    }),
    { state: 'verified' },
  ],
  [
    'restart of a DaemonSet pod: the node has its replacement, ready',
    restart,
    daemonSetStatus({ desiredNumberScheduled: 2, currentNumberScheduled: 2, numberAvailable: 1 }),
    { state: 'verified' },
    { pods: live('agent-a', 'agent-b') },
  ],
  [
    'restart of a DaemonSet pod: the replacement not ready yet',
    restart,
    daemonSetStatus({ desiredNumberScheduled: 2, currentNumberScheduled: 2, numberAvailable: 2 }),
    { state: 'pending' },
    { pods: live('agent-a', ['agent-b', false]) },
  ],
  [
    'a step that could not act has failed',
    { ...scale, result: 'skipped', reason: 'at-maximum' },
    deployment({ availableReplicas: 3 }, 3),
    { state: 'failed', message: /could not act \(at-maximum\)/ },
  ],
];

function statefulSetStatus(status: V1StatefulSet['status'] & object): Workload {
  const w = statefulSet({ replicas: 2 });
  return {
    ...w,
    object: { ...w.object, metadata: { ...w.object.metadata, generation: 4 }, status },
  } as Workload;
}

function daemonSetStatus(status: Partial<NonNullable<V1DaemonSet['status']>>): Workload {
  const w = daemonSet();
  const object = w.object as V1DaemonSet;
  return {
    kind: 'DaemonSet',
    object: {
      ...object,
      metadata: { ...object.metadata, generation: 4 },
      status: { ...(object.status as NonNullable<V1DaemonSet['status']>), ...status },
    },
  };
}

function statefulSetWith(available: number): Workload {
  const w = statefulSet({ replicas: 2 });
  return { ...w, object: { ...w.object, status: { replicas: 2, availableReplicas: available } } } as Workload;
}

test('verify: a restart repeated for a new instance keeps the deadline of the first one', (t) => {
  const input = {
    step: restart,
    workload: deployment({}),
    pods: live('web-2'),
    now: NOW,
    verifySeconds: 600,
  };
  t.is(verifyStep(input).state, 'pending');
  t.like(verifyStep({ ...input, since: ago(700) }), { state: 'failed' });
});

for (const [title, step, workload, expected, options = {}] of rows) {
  test(`verify: ${title}`, (t) => {
    const s = options.age ? { ...step, at: ago(options.age) } : step;
    const pods = options.pods === 'unlisted' ? undefined : (options.pods ?? []);
    const v = verifyStep({ step: s, workload, pods, now: NOW, verifySeconds: 600 });
    const { message, ...rest } = expected as { message?: RegExp };
    t.like(v, rest);
    if (message) t.regex(v.message, message);
  });
}
