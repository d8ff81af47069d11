// The safety model's pure decisions: namespaces, opt-in, the ready-replica budget, the scale ceiling.
import test from 'ava';
import fc from 'fast-check';
import {
  annotationNumber,
  checkNamespace,
  checkOptIn,
  checkRestartBudget,
  countAvailable,
  matchesSelector,
  planScale,
  resolveIntOrPercent,
  selectorString,
} from './guards.ts';

test('namespaces outside the allow-list are refused; only * allows every one, an empty list none', (t) => {
  t.is(checkNamespace('demo', '*'), undefined);
  t.is(checkNamespace('demo', [])?.reason, 'namespace-not-allowed');
  t.is(checkNamespace('demo', ['demo', 'shop']), undefined);
  t.is(checkNamespace('kube-system', ['demo'])?.reason, 'namespace-not-allowed');
});

test('only the exact opt-in label value "true" opts in', (t) => {
  const d = { namespace: 'demo', name: 'web' };
  t.is(checkOptIn(d, { 'selfheal.dev/enabled': 'true' }), undefined);
  const variants: Array<Record<string, string> | undefined> = [
    undefined,
    {},
    { 'selfheal.dev/enabled': 'True' },
    { 'selfheal.dev/enabled': 'yes' },
  ];
  for (const labels of variants) {
    t.is(checkOptIn(d, labels)?.reason, 'not-opted-in');
  }
});

test('maxUnavailable resolves like the Deployment controller (percent rounds down)', (t) => {
  t.is(resolveIntOrPercent(undefined, 4, '25%'), 1);
  t.is(resolveIntOrPercent(undefined, 3, '25%'), 0);
  t.is(resolveIntOrPercent('50%', 5, '25%'), 2);
  t.is(resolveIntOrPercent(2, 5, '25%'), 2);
  t.is(resolveIntOrPercent('34%', 3, '25%', true), 2);
});

test('a ready pod is deleted only when the rest keep replicas − maxUnavailable ready', (t) => {
  const base = {
    replicas: 4,
    availableReplicas: 4,
    maxUnavailable: 1,
    strategy: 'RollingUpdate',
    podReady: true,
  };
  t.is(checkRestartBudget(base), undefined);
  t.is(checkRestartBudget({ ...base, availableReplicas: 3 })?.reason, 'disruption-budget');
  t.is(checkRestartBudget({ ...base, maxUnavailable: 0 })?.reason, 'disruption-budget');
  t.is(checkRestartBudget({ ...base, strategy: 'Recreate' })?.reason, 'disruption-budget');
  t.regex(
    checkRestartBudget({ ...base, availableReplicas: 3 })?.message ?? '',
    /leave 2 available replica\(s\); the Deployment requires 3/,
  );
});

test('a pod that is not ready costs no ready replica and a single replica may restart', (t) => {
  t.is(
    checkRestartBudget({
      replicas: 3,
      availableReplicas: 2,
      maxUnavailable: 0,
      strategy: undefined,
      podReady: false,
    }),
    undefined,
  );
  t.is(
    checkRestartBudget({
      replicas: 1,
      availableReplicas: 1,
      maxUnavailable: 0,
      strategy: undefined,
      podReady: true,
    }),
    undefined,
  );
});

test('property: an allowed restart never leaves fewer ready replicas than required (replicas > 1)', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 50 }),
      fc.integer({ min: 0, max: 50 }),
      fc.integer({ min: 0, max: 100 }),
      (replicas, ready, percent) => {
        const availableReplicas = Math.min(ready, replicas);
        const refused = checkRestartBudget({
          replicas,
          availableReplicas,
          maxUnavailable: `${percent}%`,
          strategy: 'RollingUpdate',
          podReady: true,
        });
        const minReady = replicas - Math.floor((percent * replicas) / 100);
        return refused === undefined ? availableReplicas - 1 >= minReady : availableReplicas - 1 < minReady;
      },
    ),
  );
  t.pass();
});

test('a selector becomes the label selector that lists exactly its pods', (t) => {
  t.is(selectorString({ matchLabels: { app: 'web', tier: 'front' } }), 'app=web,tier=front');
  t.is(
    selectorString({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'track', operator: 'In', values: ['stable', 'canary'] },
        { key: 'zone', operator: 'NotIn', values: ['b'] },
        { key: 'team', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    }),
    'app=web,track in (stable,canary),zone notin (b),team,!legacy',
  );
  t.is(selectorString(undefined), undefined);
  t.is(selectorString({ matchExpressions: [{ key: 'x', operator: 'Gt', values: ['1'] }] }), undefined);
});

test('available pods: Ready, not terminating, and Ready for minReadySeconds', (t) => {
  const now = new Date('2026-12-02T10:00:00Z');
  const ready = (since: string, extra: object = {}) => ({
    ...extra,
    status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: since }] },
  });
  const pods = [
    ready('2026-12-02T09:59:00Z'),
    ready('2026-12-02T09:59:55Z'),
    ready('2026-12-02T09:00:00Z', { metadata: { deletionTimestamp: '2026-12-02T09:59:59Z' } }),
    { status: { conditions: [{ type: 'Ready', status: 'False' }] } },
    {},
  ];
  t.is(countAvailable(pods, 0, now), 2);
  t.is(countAvailable(pods, 30, now), 1);
  t.is(countAvailable([], 0, now), 0);
});

test('label selectors match like Kubernetes (empty selects all, absent selects none)', (t) => {
  const labels = { app: 'web', tier: 'front' };
  t.true(matchesSelector({}, labels));
  t.false(matchesSelector(undefined, labels));
  t.true(matchesSelector({ matchLabels: { app: 'web' } }, labels));
  t.false(matchesSelector({ matchLabels: { app: 'api' } }, labels));
  t.true(
    matchesSelector(
      { matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] },
      labels,
    ),
  );
  t.false(
    matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, labels),
  );
  t.false(matchesSelector({ matchExpressions: [{ key: 'canary', operator: 'Exists' }] }, labels));
  t.true(matchesSelector({ matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] }, labels));
});

test('property: a scale plan never goes past the maximum and always grows when below it', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 200 }),
      fc.integer({ min: 1, max: 100 }),
      fc.integer({ min: 1, max: 200 }),
      (current, step, max) => {
        const plan = planScale(current, step, max);
        if (current >= max) return plan.kind === 'at-max';
        return plan.kind === 'scale' && plan.to <= max && plan.to > current && plan.to <= current + step;
      },
    ),
  );
  t.pass();
});

test('annotation numbers fall back to the configuration when absent or malformed', (t) => {
  t.deepEqual(annotationNumber({ 'selfheal.dev/max-replicas': '5' }, 'selfheal.dev/max-replicas', 10), {
    value: 5,
    source: 'annotation',
  });
  t.deepEqual(annotationNumber({ 'selfheal.dev/max-replicas': 'lots' }, 'selfheal.dev/max-replicas', 10), {
    value: 10,
    source: 'config',
  });
  t.deepEqual(annotationNumber(undefined, 'selfheal.dev/max-replicas', 10), { value: 10, source: 'config' });
});
