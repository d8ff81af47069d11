// restart-pod's decision as a table, pure: which pod it removes and how (evict a ready pod, delete one that is not),
// and when it stops instead (terminating, the workload's available replicas, a claim whose pod changed); no cluster.
import test from 'ava';
import { decide } from '../lib/engine.ts';
import type { Workload } from '../lib/workload.ts';
import {
  ago,
  type DeploymentShape,
  daemonSet,
  deployment,
  type PodShape,
  pod,
  record,
  snapshot,
  statefulSet,
} from '../snapshots.ts';
import { restartPodRemediation } from './restart-pod.ts';

type Row = [
  title: string,
  shape: {
    workload?: DeploymentShape;
    target?: PodShape;
    others?: PodShape[] | 'unlistable';
    resume?: { uid: string };
  },
  expected: object,
];

const ready = (name: string): PodShape => ({ name, ready: true });
const unready = (name: string): PodShape => ({ name, ready: false });

const rows: Row[] = [
  [
    'a ready pod among enough available ones is evicted',
    { workload: { replicas: 3, maxUnavailable: 1 }, others: [ready('web-2'), ready('web-3')] },
    {
      kind: 'act',
      plan: { name: 'web-1', uid: 'uid-web-1', pod: { ready: true, resourceVersion: 'rv-web-1' } },
    },
  ],
  [
    'a pod that is not ready costs no available replica: deleted even at maxUnavailable 0',
    { workload: { replicas: 3, maxUnavailable: 0 }, target: unready('web-1'), others: [] },
    { kind: 'act', plan: { pod: { ready: false } } },
  ],
  [
    'a ready pod is kept when the rest would fall below replicas − maxUnavailable',
    { workload: { replicas: 3, maxUnavailable: 1 }, others: [ready('web-2'), unready('web-3')] },
    { kind: 'stop', outcome: 'skipped', reason: 'disruption-budget' },
  ],
  [
    'maxUnavailable 25 % of 4 replicas allows one ready pod to go',
    { workload: { replicas: 4 }, others: [ready('web-2'), ready('web-3'), ready('web-4')] },
    { kind: 'act' },
  ],
  [
    'a Recreate Deployment allows no ready pod to go while it has redundancy',
    { workload: { replicas: 2, strategy: 'Recreate' }, others: [ready('web-2')] },
    { kind: 'stop', reason: 'disruption-budget' },
  ],
  [
    'a terminating pod counts for nothing, whatever its last condition says',
    {
      workload: { replicas: 3, maxUnavailable: 1 },
      others: [ready('web-2'), { name: 'web-3', ready: true, terminating: true }],
    },
    { kind: 'stop', reason: 'disruption-budget' },
  ],
  [
    'a pod Ready for less than minReadySeconds is not yet available',
    {
      workload: { replicas: 3, maxUnavailable: 1, minReadySeconds: 30 },
      target: { name: 'web-1', ready: true },
      others: [ready('web-2'), { name: 'web-3', ready: true, readySince: ago(5) }],
    },
    { kind: 'stop', reason: 'disruption-budget' },
  ],
  [
    'a single replica may be restarted: it has no redundancy to protect',
    { workload: { replicas: 1, maxUnavailable: 0 }, others: [] },
    { kind: 'act', plan: { pod: { ready: true } } },
  ],
  [
    'a pod that is already terminating is skipped',
    { target: { name: 'web-1', terminating: true } },
    { kind: 'stop', outcome: 'skipped', reason: 'already-terminating' },
  ],
  [
    'a ready pod whose workload selector cannot be listed is kept',
    { others: 'unlistable' },
    { kind: 'stop', reason: 'disruption-budget' },
  ],
  [
    'a resumed claim whose pod was replaced meanwhile (another uid) removes nothing',
    { resume: { uid: 'uid-old' }, others: [ready('web-2'), ready('web-3')] },
    { kind: 'act', plan: { uid: 'uid-old', pod: undefined } },
  ],
  [
    'a resumed claim judges the budget again',
    { resume: { uid: 'uid-web-1' }, workload: { replicas: 3, maxUnavailable: 1 }, others: [ready('web-2')] },
    { kind: 'stop', reason: 'disruption-budget' },
  ],
  [
    'a resumed claim of a terminating pod has nothing left to remove',
    { resume: { uid: 'uid-web-1' }, target: { name: 'web-1', terminating: true } },
    { kind: 'act', plan: { pod: undefined } },
  ],
];

for (const [title, shape, expected] of rows) {
  test(`restart-pod: ${title}`, (t) => {
    const target = pod(shape.target ?? ready('web-1'));
    const others = shape.others === 'unlistable' ? undefined : (shape.others ?? []).map((p) => pod(p));
    const s = snapshot({
      action: 'restart-pod',
      workload: deployment(shape.workload),
      pod: target,
      ...(shape.resume
        ? { ledger: { last: record({ state: 'failed', detail: { pod: 'web-1', uid: shape.resume.uid } }) } }
        : {}),
      state: { pods: others && [target, ...others] },
    });
    t.like(decide(restartPodRemediation, s), expected);
  });
}

test('restart-pod: the refusal says how many would be left and how many are required', (t) => {
  const target = pod(ready('web-1'));
  const s = snapshot({
    action: 'restart-pod',
    workload: deployment({ replicas: 2, maxUnavailable: 0 }),
    pod: target,
    state: { pods: [target, pod(ready('web-2'))] },
  });
  const verdict = decide(restartPodRemediation, s);
  t.is(verdict.kind, 'stop');
  t.regex(
    (verdict as { message: string }).message,
    /would leave 1 available replica\(s\); the Deployment requires 2 \(replicas 2 − maxUnavailable 0\)/,
  );
});

type KindRow = [title: string, workload: Workload, others: PodShape[], expected: object];

const kindRows: KindRow[] = [
  [
    'a StatefulSet lets one pod be unavailable by default: a ready pod goes when the others are available',
    statefulSet({ replicas: 3 }),
    [ready('web-2'), ready('web-3')],
    { kind: 'act', plan: { pod: { ready: true } } },
  ],
  [
    'a StatefulSet with one pod already down keeps its ready pods',
    statefulSet({ replicas: 3 }),
    [ready('web-2'), unready('web-3')],
    { kind: 'stop', reason: 'disruption-budget', message: /the StatefulSet requires 2/ },
  ],
  [
    "a StatefulSet's maxUnavailable percentage rounds up, as its controller does",
    statefulSet({ replicas: 4, maxUnavailable: '30%' }),
    [ready('web-2'), unready('web-3'), ready('web-4')],
    { kind: 'act' },
  ],
  [
    'a DaemonSet counts the nodes its controller wants a pod on',
    daemonSet({ desiredNumberScheduled: 3 }),
    [ready('web-2'), unready('web-3')],
    { kind: 'stop', reason: 'disruption-budget', message: /the DaemonSet requires 2 \(replicas 3/ },
  ],
  [
    "a DaemonSet whose controller's count lags behind the pods that exist counts the pods",
    daemonSet({ desiredNumberScheduled: 1 }),
    [unready('web-2'), unready('web-3')],
    { kind: 'stop', reason: 'disruption-budget', message: /replicas 3/ },
  ],
  [
    'a DaemonSet with every pod available lets one go',
    daemonSet({ desiredNumberScheduled: 3 }),
    [ready('web-2'), ready('web-3')],
    { kind: 'act' },
  ],
];

for (const [title, workload, others, expected] of kindRows) {
  test(`restart-pod: ${title}`, (t) => {
    const target = pod(ready('web-1'));
    const s = snapshot({
      action: 'restart-pod',
      workload,
      pod: target,
      state: { pods: [target, ...others.map((p) => pod(p))] },
    });
    const verdict = decide(restartPodRemediation, s) as { message?: string };
    const { message, ...rest } = expected as { message?: RegExp };
    t.like(verdict, rest);
    if (message) t.regex(verdict.message ?? '', message);
  });
}
