// The router's pure planning: one outcome per alert, the action label before the routing table, targets from
// labels, the namespace allow-list, and deterministic events.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { type Alert, parseWebhook, type Webhook } from '../lib/alertmanager.ts';
import { DEFAULT_ROUTES } from '../lib/config.ts';
import { ACTIONS, eventId, resolvedEventId } from '../lib/events.ts';
import { planAlert, planWebhook, toEvent } from './plan.ts';

const fixtures = join(import.meta.dirname, '..', 'lib', 'fixtures');
const versions = readdirSync(fixtures).filter((d) => /^alertmanager-\d/.test(d));
const fixture = (version: string, name: string): Webhook =>
  parseWebhook(JSON.parse(readFileSync(join(fixtures, version, `${name}.json`), 'utf8')));
const options = { routes: DEFAULT_ROUTES, namespaces: '*' as const };

const alert = (labels: Record<string, string>, over: Partial<Alert> = {}): Alert => ({
  status: 'firing',
  labels: { alertname: 'HighMemoryUsage', namespace: 'demo', pod: 'web-1', ...labels },
  annotations: {},
  startsAt: '2026-11-26T09:47:08.653Z',
  endsAt: '0001-01-01T00:00:00Z',
  generatorURL: '',
  fingerprint: '28df17c4d8ca3a0d',
  ...over,
});

for (const version of versions) {
  test(`${version}: the captured firing alert becomes one restart-pod event for its pod`, (t) => {
    const [plan] = planWebhook(fixture(version, 'firing'), options);
    if (plan?.kind !== 'deliver') return t.fail(`expected a delivery, got ${JSON.stringify(plan)}`);
    t.is(plan.action, 'restart-pod');
    t.deepEqual(plan.target, { namespace: 'demo', kind: 'Pod', name: 'web-7d9f8b6c5-abcde' });
    const event = toEvent(plan);
    t.is(event.type, 'dev.selfheal.action.restart-pod');
    t.is(plan.id, eventId(plan.alert.fingerprint, plan.alert.startsAt, 'restart-pod'));
    t.is(event.id, plan.id);
    t.is(event.data?.alert?.name, 'HighMemoryUsage');
  });

  test(`${version}: a resolved alert is told to the action its firing self went to, never as an action`, (t) => {
    const [resolved] = planWebhook(fixture(version, 'resolved'), options);
    if (resolved?.kind !== 'resolve') return t.fail(`expected a resolution, got ${JSON.stringify(resolved)}`);
    t.is(resolved.action, 'restart-pod');
    const event = toEvent(resolved);
    t.is(event.type, 'dev.selfheal.resolved');
    t.is(resolved.id, resolvedEventId(resolved.alert.fingerprint, resolved.alert.startsAt));
    t.is(event.id, resolved.id);
    t.truthy(event.data?.alert.endsAt, 'Alertmanager says when it stopped firing');
    const mixed = planWebhook(fixture(version, 'mixed'), options);
    t.deepEqual(mixed.map((p) => p.kind).sort(), ['deliver', 'deliver', 'resolve']);
    // Nothing acted on an alert without a route: nothing to tell.
    const unrouted = planAlert(alert({ alertname: 'DiskFull' }, { status: 'resolved' }), options);
    t.is(unrouted.kind, 'resolved');
  });

  test(`${version}: alerts without an action label follow the routing table (HighCPUUsage → scale)`, (t) => {
    for (const plan of planWebhook(fixture(version, 'truncated'), options)) {
      t.like(plan, { kind: 'deliver', action: 'scale', target: { kind: 'Deployment' } });
    }
  });
}

test('the action label wins over the routing table; an unknown one is rejected', (t) => {
  t.like(planAlert(alert({ action: 'redeploy' }), options), { kind: 'deliver', action: 'redeploy' });
  t.like(planAlert(alert({ action: 'reboot' }), options), { kind: 'rejected', reason: 'unknown-action' });
  t.like(planAlert(alert({ alertname: 'DiskFull' }), options), { kind: 'rejected', reason: 'no-route' });
  t.like(planAlert(alert({ alertname: 'toString' }), options), { kind: 'rejected', reason: 'no-route' });
});

test('targets come from labels: restart-pod needs a pod, the others prefer the deployment', (t) => {
  t.like(planAlert(alert({ action: 'restart-pod', pod: '' }), options), {
    kind: 'rejected',
    reason: 'no-target',
  });
  t.like(planAlert(alert({ action: 'scale', deployment: 'web' }), options), {
    kind: 'deliver',
    target: { kind: 'Deployment', name: 'web' },
  });
  t.like(planAlert(alert({ action: 'redeploy' }), options), {
    kind: 'deliver',
    target: { kind: 'Pod', name: 'web-1' },
  });
  t.like(planAlert(alert({ namespace: '' }), options), { kind: 'rejected', reason: 'no-target' });
  t.like(planAlert(alert({ pod: 'Web_1' }), options), { kind: 'rejected', reason: 'invalid-target' });
});

test('a statefulset or daemonset label names the workload as a deployment label does; restart-pod keeps the pod', (t) => {
  t.like(planAlert(alert({ action: 'scale', statefulset: 'db' }), options), {
    kind: 'deliver',
    target: { kind: 'StatefulSet', name: 'db' },
  });
  t.like(planAlert(alert({ action: 'redeploy', daemonset: 'agent' }), options), {
    kind: 'deliver',
    target: { kind: 'DaemonSet', name: 'agent' },
  });
  t.like(planAlert(alert({ action: 'restart-pod', statefulset: 'db' }), options), {
    kind: 'deliver',
    target: { kind: 'Pod', name: 'web-1' },
  });
  t.like(planAlert(alert({ action: 'redeploy', statefulset: 'Db!' }), options), {
    kind: 'rejected',
    reason: 'invalid-target',
  });
});

test('namespaces outside the allow-list are rejected, whatever the labels claim', (t) => {
  t.like(planAlert(alert({ namespace: 'kube-system' }), { ...options, namespaces: ['demo'] }), {
    kind: 'rejected',
    reason: 'namespace-not-allowed',
  });
});

const labelValue = fc.oneof(
  fc.constantFrom('demo', 'web-1', 'kube-system', ''),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/),
  fc.string(),
);
const arbitraryAlert = fc.record({
  status: fc.constantFrom('firing' as const, 'resolved' as const),
  labels: fc.record(
    {
      alertname: fc.constantFrom(...Object.keys(DEFAULT_ROUTES), 'Other'),
      action: fc.constantFrom(...ACTIONS, 'bogus'),
      namespace: labelValue,
      pod: labelValue,
      deployment: labelValue,
    },
    { requiredKeys: ['alertname'] },
  ),
  annotations: fc.constant({}),
  startsAt: fc
    .date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true })
    .map((d) => d.toISOString()),
  fingerprint: fc.stringMatching(/^[0-9a-f]{16}$/),
});

test('property: one plan per alert; only firing alerts in allowed namespaces are delivered, with valid targets', (t) => {
  fc.assert(
    fc.property(
      fc.array(arbitraryAlert, { maxLength: 20 }),
      fc.oneof(fc.constant('*' as const), fc.subarray(['demo', 'shop'])),
      (alerts, namespaces) => {
        const webhook = {
          version: '4',
          status: 'firing',
          receiver: 'r',
          truncatedAlerts: 0,
          groupLabels: {},
          commonLabels: {},
          commonAnnotations: {},
          alerts,
        } as Webhook;
        const plans = planWebhook(webhook, { routes: DEFAULT_ROUTES, namespaces });
        if (plans.length !== alerts.length) return false;
        return plans.every((plan, i) => {
          const source = alerts[i] as Alert;
          if (source.status === 'resolved') {
            // Told to its action when it has a route and a target in an allowed namespace; else nothing to tell.
            if (plan.kind === 'resolved') return true;
            const allowed =
              plan.kind === 'resolve' && (namespaces === '*' || namespaces.includes(plan.target.namespace));
            return (
              allowed &&
              plan.kind === 'resolve' &&
              plan.id === resolvedEventId(source.fingerprint, source.startsAt) &&
              toEvent(plan).id === plan.id
            );
          }
          if (plan.kind !== 'deliver') return plan.kind === 'rejected' && plan.reason.length > 0;
          const allowed = namespaces === '*' || namespaces.includes(plan.target.namespace);
          const idOk =
            plan.id === eventId(source.fingerprint, source.startsAt, plan.action) &&
            toEvent(plan).id === plan.id;
          return (
            allowed &&
            idOk &&
            plan.target.namespace === source.labels.namespace &&
            /^[a-z0-9]/.test(plan.target.name)
          );
        });
      },
    ),
  );
  t.pass();
});

test('property: planning is deterministic (same webhook, same events)', (t) => {
  fc.assert(
    fc.property(fc.array(arbitraryAlert, { maxLength: 10 }), (alerts) => {
      const webhook = {
        version: '4',
        status: 'firing',
        receiver: 'r',
        truncatedAlerts: 0,
        groupLabels: {},
        commonLabels: {},
        commonAnnotations: {},
        alerts,
      } as Webhook;
      const json = (p: ReturnType<typeof planWebhook>[number]) =>
        p.kind === 'deliver' || p.kind === 'resolve' ? toEvent(p).toJSON() : p;
      const a = planWebhook(webhook, options).map(json);
      const b = planWebhook(webhook, options).map(json);
      return JSON.stringify(a) === JSON.stringify(b);
    }),
  );
  t.pass();
});
