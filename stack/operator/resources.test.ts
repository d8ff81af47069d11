// The renderer's translations: matchers and relabel rules into the operator's form, and what it refuses to guess.
import test from 'ava';
import { loadStack, ROUTER_RECEIVER } from '../source.ts';
import { parseMatcher } from './matchers.ts';
import { toOperatorRelabel } from './relabel.ts';
import { alertmanagerConfig, operatorResources, prometheusRule } from './resources.ts';

const OPTIONS = { namespace: 'selfheal', webhookTokenSecret: { name: 'token', key: 'token' } };

test('matchers: every operator, quoted or bare values, escapes kept as Alertmanager reads them', (t) => {
  t.deepEqual(parseMatcher('action=~".+"'), { name: 'action', matchType: '=~', value: '.+' });
  t.deepEqual(parseMatcher('severity="critical"'), { name: 'severity', matchType: '=', value: 'critical' });
  t.deepEqual(parseMatcher('team != ops'), { name: 'team', matchType: '!=', value: 'ops' });
  t.deepEqual(parseMatcher('path!~"/a\\"b"'), { name: 'path', matchType: '!~', value: '/a"b' });
  for (const bad of ['action', '=~".+"', 'a b="c"', '{action=~".+"}'])
    t.throws(() => parseMatcher(bad), { message: /not an Alertmanager matcher/ }, bad);
});

test('relabel rules: same fields in camelCase; a field the operator cannot express is an error, not a loss', (t) => {
  t.deepEqual(
    toOperatorRelabel(
      {
        source_labels: ['a', 'b'],
        separator: ';',
        target_label: 'c',
        regex: '(.+)',
        replacement: '$1',
        action: 'replace',
      },
      'x',
    ),
    {
      sourceLabels: ['a', 'b'],
      separator: ';',
      targetLabel: 'c',
      regex: '(.+)',
      replacement: '$1',
      action: 'replace',
    },
  );
  t.throws(() => toOperatorRelabel({ source_labels: ['a'], action: 'keep', regexp: 'x' }, 'job pods'), {
    message: /job pods: a relabel rule prometheus-operator cannot express/,
  });
});

test('the AlertmanagerConfig takes the router route with what it inherits, and the platform URL when given', async (t) => {
  const source = await loadStack();
  const changed = structuredClone(source);
  // A route tree with the router one level deeper and its own timing: inherited values and matchers add up.
  changed.alertmanagerConfig.route = {
    receiver: 'null',
    group_by: ['alertname'],
    group_wait: '20s',
    routes: [
      {
        receiver: 'null',
        matchers: ['team="platform"'],
        repeat_interval: '1h',
        routes: [{ receiver: ROUTER_RECEIVER, matchers: ['action=~".+"'], group_interval: '1m' }],
      },
    ],
  };
  const config = alertmanagerConfig(changed, { ...OPTIONS, routerUrl: 'http://router.example/' });
  t.like(config.spec, {
    route: {
      receiver: ROUTER_RECEIVER,
      matchers: [
        { name: 'team', matchType: '=', value: 'platform' },
        { name: 'action', matchType: '=~', value: '.+' },
      ],
      groupBy: ['alertname'],
      groupWait: '20s',
      groupInterval: '1m',
      repeatInterval: '1h',
    },
    receivers: [{ name: ROUTER_RECEIVER, webhookConfigs: [{ url: 'http://router.example/' }] }],
  });
  changed.alertmanagerConfig.route = { receiver: ROUTER_RECEIVER };
  t.throws(() => alertmanagerConfig(changed, OPTIONS), {
    message: /no route to the selfheal-router receiver below its root/,
  });
});

test('the PrometheusRule keeps each group and sets the production evaluation interval only where none is set', async (t) => {
  const source = await loadStack();
  const [group] = (prometheusRule(source, OPTIONS).spec.groups as { name: string; interval: string }[]) ?? [];
  t.like(group, { name: 'selfheal', interval: '15s' });
  const own = structuredClone(source);
  own.rulesText = own.rulesText.replace('  - name: selfheal\n', '  - name: selfheal\n    interval: 1m\n');
  t.like((prometheusRule(own, OPTIONS).spec.groups as object[])[0], { interval: '1m' });
  t.deepEqual(
    operatorResources(source, { ...OPTIONS, labels: { release: 'kps' } }).map((o) => [
      o.kind,
      o.metadata.labels.release,
    ]),
    [
      ['PrometheusRule', 'kps'],
      ['PodMonitor', 'kps'],
      ['PodMonitor', 'kps'],
      ['AlertmanagerConfig', 'kps'],
    ],
  );
});
