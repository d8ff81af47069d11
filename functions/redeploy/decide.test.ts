// redeploy's decision as a table, pure: a rolling restart stamped to the second, unless paused; no cluster.
import test from 'ava';
import { decide } from '../lib/engine.ts';
import type { Workload } from '../lib/workload.ts';
import { daemonSet, deployment, snapshot, statefulSet } from '../snapshots.ts';
import { redeployRemediation } from './redeploy.ts';

const rows: Array<[string, Parameters<typeof deployment>[0], object]> = [
  [
    'a running Deployment gets a restart stamped in whole seconds (as kubectl writes it)',
    {},
    { kind: 'act', plan: { restartedAt: '2026-11-26T12:00:00Z' }, detail: { previousRestartedAt: null } },
  ],
  [
    'the previous restart is kept in the record',
    { restartedAt: '2026-11-25T08:00:00Z' },
    { kind: 'act', detail: { previousRestartedAt: '2026-11-25T08:00:00Z' } },
  ],
  [
    'a paused Deployment would not roll out: skipped',
    { paused: true },
    { kind: 'stop', outcome: 'skipped', reason: 'paused' },
  ],
  [
    'a Deployment that has not opted in is refused',
    { optIn: false },
    { kind: 'stop', outcome: 'refused', reason: 'not-opted-in' },
  ],
];

for (const [title, shape, expected] of rows) {
  test(`redeploy: ${title}`, (t) => {
    const s = snapshot({ action: 'redeploy', workload: deployment(shape), state: undefined });
    t.like(decide(redeployRemediation, s), expected);
  });
}

const kindRows: Array<[string, Workload, object]> = [
  [
    'a StatefulSet rolls its pods over',
    statefulSet(),
    { kind: 'act', plan: { restartedAt: '2026-11-26T12:00:00Z' } },
  ],
  ['a DaemonSet rolls its pods over', daemonSet(), { kind: 'act' }],
  [
    'a StatefulSet that updates only on delete would not roll out: skipped',
    statefulSet({ onDelete: true }),
    { kind: 'stop', outcome: 'skipped', reason: 'on-delete' },
  ],
  [
    'a DaemonSet that updates only on delete: skipped',
    daemonSet({ onDelete: true }),
    { kind: 'stop', reason: 'on-delete' },
  ],
  [
    'a StatefulSet without the opt-in label is refused',
    statefulSet({ optIn: false }),
    { kind: 'stop', reason: 'not-opted-in' },
  ],
];

for (const [title, workload, expected] of kindRows) {
  test(`redeploy: ${title}`, (t) => {
    t.like(
      decide(redeployRemediation, snapshot({ action: 'redeploy', workload, state: undefined })),
      expected,
    );
  });
}
