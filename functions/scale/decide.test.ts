// scale's decision as a table, pure: one step up, capped at the maximum, a claim replayed with its recorded target;
// no cluster.
import test from 'ava';
import { decide } from '../lib/engine.ts';
import type { Policy } from '../lib/policy.ts';
import { daemonSet, deployment, record, snapshot, statefulSet } from '../snapshots.ts';
import { scaleRemediation } from './scale.ts';

type Row = [
  title: string,
  shape: { replicas: number; step?: number; policy?: Partial<Policy>; resume?: Record<string, unknown> },
  expected: object,
];

const rows: Row[] = [
  [
    'one step up from the current replicas',
    { replicas: 2 },
    { kind: 'act', plan: { to: 3 }, detail: { from: 2, to: 3, max: 10, step: 1 } },
  ],
  [
    'a request step wins over the configured one',
    { replicas: 2, step: 3, policy: { scaleStep: 2 } },
    { kind: 'act', plan: { to: 5 } },
  ],
  [
    'the configured step applies when the request gives none',
    { replicas: 2, policy: { scaleStep: 2 } },
    { kind: 'act', plan: { to: 4 } },
  ],
  [
    'a step past the maximum stops at the maximum',
    { replicas: 2, step: 5, policy: { maxReplicas: { value: 3, source: 'annotation' } } },
    { kind: 'act', plan: { to: 3 }, detail: { max: 3 } },
  ],
  [
    'at the maximum: skipped, naming where the maximum comes from',
    { replicas: 3, policy: { maxReplicas: { value: 3, source: 'annotation' } } },
    { kind: 'stop', outcome: 'skipped', reason: 'at-maximum', detail: { current: 3, max: 3 } },
  ],
  ['above the maximum: skipped, never scaled down', { replicas: 12 }, { kind: 'stop', reason: 'at-maximum' }],
  [
    'a resumed claim replays its recorded target, whatever the replicas now',
    { replicas: 4, resume: { from: 1, to: 2, max: 10, step: 1 } },
    { kind: 'act', plan: { to: 2 }, detail: { from: 1, to: 2 } },
  ],
  [
    'a resumed claim past the maximum is never replayed',
    { replicas: 1, resume: { to: 50 } },
    { kind: 'stop', outcome: 'refused', reason: 'invalid-claim' },
  ],
];

for (const [title, shape, expected] of rows) {
  test(`scale: ${title}`, (t) => {
    const s = snapshot({
      action: 'scale',
      workload: deployment(),
      ...(shape.step ? { step: shape.step } : {}),
      ...(shape.policy ? { policy: shape.policy } : {}),
      ...(shape.resume
        ? { ledger: { last: record({ action: 'scale', state: 'failed', detail: shape.resume }) } }
        : {}),
      state: { scale: { spec: { replicas: shape.replicas } } },
    });
    t.like(decide(scaleRemediation, s), expected);
  });
}

test('scale: the at-maximum message names the annotation or the setting', (t) => {
  const message = (source: 'annotation' | 'config') => {
    const s = snapshot({
      action: 'scale',
      policy: { maxReplicas: { value: 2, source } },
      state: { scale: { spec: { replicas: 2 } } },
    });
    return (decide(scaleRemediation, s) as { message: string }).message;
  };
  t.regex(message('annotation'), /maximum of 2 \(selfheal\.dev\/max-replicas\)/);
  t.regex(message('config'), /maximum of 2 \(SELFHEAL_MAX_REPLICAS\)/);
});

test('scale: a StatefulSet scales like a Deployment; a DaemonSet has no replicas and is refused', (t) => {
  const sts = snapshot({
    action: 'scale',
    workload: statefulSet({ replicas: 2 }),
    state: { scale: { spec: { replicas: 2 } } },
  });
  t.like(decide(scaleRemediation, sts), { kind: 'act', plan: { to: 3 } });
  const ds = snapshot({ action: 'scale', workload: daemonSet(), state: { scale: undefined } });
  t.like(decide(scaleRemediation, ds), { kind: 'stop', outcome: 'refused', reason: 'not-scalable' });
  t.regex(
    (decide(scaleRemediation, ds) as { message: string }).message,
    /DaemonSet demo\/web runs one pod per node/,
  );
});
