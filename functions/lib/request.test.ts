// An action's request as parsed from what the router sends (the captured Alertmanager payloads, planned) or from an
// operator's JSON: every refusal is a 400 naming its problems, with the reason invalid-cloudevent for a CloudEvent.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { planWebhook, toEvent } from '../router/plan.ts';
import { parseWebhook } from './alertmanager.ts';
import { DEFAULT_ROUTES } from './config.ts';
import { SelfhealError } from './errors.ts';
import { parseCloudEventRequest, parsePlainRequest } from './request.ts';

// The event the router sends for the captured notification `name` (restart-pod, for demo/web-7d9f8b6c5-abcde).
function routed(
  name: 'firing' | 'resolved',
): Record<string, unknown> & { id: string; type: string; data: unknown } {
  const file = join(import.meta.dirname, 'fixtures', 'alertmanager-0.35.0', `${name}.json`);
  const [plan] = planWebhook(parseWebhook(JSON.parse(readFileSync(file, 'utf8'))), {
    routes: DEFAULT_ROUTES,
    namespaces: '*',
  });
  if (plan?.kind !== 'deliver' && plan?.kind !== 'resolve') throw new Error(`no event for ${name}`);
  return JSON.parse(JSON.stringify(toEvent(plan)));
}

test('the events the router sends for the captured payloads parse', (t) => {
  t.like(parseCloudEventRequest('restart-pod', routed('firing'), false), {
    intent: 'act',
    target: { namespace: 'demo', kind: 'Pod', name: 'web-7d9f8b6c5-abcde' },
  });
  t.like(parseCloudEventRequest('restart-pod', routed('resolved'), false), { intent: 'resolved' });
});

const withData = (event: Record<string, unknown>, change: (data: Record<string, unknown>) => unknown) => ({
  ...event,
  data: change(structuredClone(event.data as Record<string, unknown>)),
});

const cloudEventCases: Array<[string, () => Record<string, unknown>, RegExp]> = [
  [
    'an action event sent to another action',
    () => ({ ...routed('firing'), type: 'dev.selfheal.action.scale' }),
    /^type: expected dev\.selfheal\.action\.restart-pod$/,
  ],
  [
    'data without a target',
    () => withData(routed('firing'), ({ target: _target, ...rest }) => rest),
    /^data\.target: /,
  ],
  ['data that is not JSON', () => ({ ...routed('firing'), data: '{"target":' }), /^data: not JSON$/],
  [
    'a Deployment for restart-pod',
    () =>
      withData(routed('firing'), (data) => ({
        ...data,
        target: { namespace: 'demo', kind: 'Deployment', name: 'web' },
      })),
    /^target: restart-pod needs a Pod$/,
  ],
  [
    'a resolution without its alert',
    () => withData(routed('resolved'), ({ alert: _alert, ...rest }) => rest),
    /^data\.alert: /,
  ],
];
for (const [name, event, problem] of cloudEventCases) {
  test(`a CloudEvent with ${name} is a 400 invalid-cloudevent naming the problem`, (t) => {
    const error = t.throws(() => parseCloudEventRequest('restart-pod', event() as never, false), {
      instanceOf: SelfhealError,
    });
    t.like(error?.toJSON(), { kind: 'invalid', reason: 'invalid-cloudevent' });
    t.true(
      error?.problems.some((p) => problem.test(p)),
      error?.problems.join('\n'),
    );
  });
}

test('a plain request is refused with the reason of its kind, naming the problems', (t) => {
  for (const body of [{ namespace: 'demo', deployment: 'web' }, { namespace: 'demo' }, 'namespace=demo']) {
    const error = t.throws(() => parsePlainRequest('restart-pod', body, false), {
      instanceOf: SelfhealError,
    });
    t.like(error?.toJSON(), { kind: 'invalid', reason: 'invalid' }, JSON.stringify(body));
    t.true((error?.problems.length ?? 0) > 0, JSON.stringify(body));
  }
});
