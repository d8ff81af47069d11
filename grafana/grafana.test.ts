// Checks the generated dashboards are current, every query parses as PromQL, they are the four the design names
// (linked, annotated, cluster-aware, on a datasource of their own), and provisioning points at them.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import test from 'ava';
import { parse } from 'yaml';
import { CLOSED_LOOP_METRICS } from './closed-loop-row.ts';
import { DASHBOARDS } from './dashboards.ts';
import { DASHBOARDS_DIR, renderDashboards } from './generate.ts';
import { CLUSTER_MATCHER, DATASOURCE, METRICS, TAG } from './panels.ts';
import { checkWithPromtool, panelQueries, substituteVariables } from './promql.ts';

const PROVISIONING = join(import.meta.dirname, 'provisioning');
const dashboards: [string, Dashboard][] = Object.entries(DASHBOARDS).map(([name, build]) => [name, build()]);

test('the committed dashboard JSON is what grafana/generate.ts produces', (t) => {
  const rendered = renderDashboards();
  t.deepEqual(
    readdirSync(DASHBOARDS_DIR).sort(),
    [...rendered.keys()].sort(),
    'stale: run node grafana/generate.ts',
  );
  for (const [name, content] of rendered) {
    t.is(
      readFileSync(join(DASHBOARDS_DIR, name), 'utf8'),
      content,
      `${name} is stale: run node grafana/generate.ts`,
    );
  }
});

test('four dashboards: the overview for the person on call, application metrics, alert history, function invocations', (t) => {
  t.deepEqual(
    dashboards.map(([, d]) => d.title),
    [
      'selfheal / Self-Healing Overview',
      'selfheal / Application Metrics',
      'selfheal / Alert History',
      'selfheal / Function Invocations',
    ],
  );
  const uids = dashboards.map(([, d]) => d.uid);
  t.is(new Set(uids).size, uids.length, 'uids are unique');
});

for (const [name, dashboard] of dashboards) {
  test(`${name}: every panel and annotation query is PromQL that promtool accepts`, async (t) => {
    const queries = panelQueries(dashboard);
    t.true(queries.length >= 5, `expected the dashboard's queries, found ${queries.length}`);
    const result = await checkWithPromtool(queries);
    t.true(result.ok, result.output);
  });

  test(`${name}: linked to the others, actions and alerts on the time axis, datasource and cluster variables`, (t) => {
    t.deepEqual(dashboard.tags, [TAG]);
    // A "dashboards" link lists every dashboard with the tag, so each one links to the other three.
    t.like(dashboard.links?.[0], { type: 'dashboards', tags: [TAG], includeVars: true, keepTime: true });
    const annotations = (dashboard.annotations?.list ?? []) as { name: string; expr?: string }[];
    t.true(
      annotations.some((a) => a.expr?.includes(METRICS.decisions)),
      'every action is an annotation on the time axis',
    );
    t.true(
      annotations.some((a) => a.expr?.includes('ALERTS')),
      'every firing alert is an annotation',
    );
    const variables = (dashboard.templating?.list ?? []).map((v) => v.name);
    t.deepEqual(variables.slice(0, 2), ['datasource', 'cluster']);
    const ids = (dashboard.panels ?? []).map((p) => p.id);
    t.is(new Set(ids).size, ids.length, 'panel ids are unique');
    for (const panel of dashboard.panels ?? []) {
      if (panel.type === 'row') continue;
      t.deepEqual(panel.datasource, DATASOURCE, `${panel.title} uses the datasource variable`);
    }
  });

  test(`${name}: every series selector carries the cluster`, (t) => {
    for (const { panel, expr } of panelQueries(dashboard)) {
      // Label matcher blocks, not legend templates ({{pod}}).
      for (const block of expr.match(/(?<!\{)\{(?!\{)[^{}]*\}/g) ?? []) {
        t.true(block.includes(CLUSTER_MATCHER), `${panel}: ${block} in ${expr}`);
      }
      // And no metric without a selector.
      t.notRegex(
        expr,
        /\b(?:[a-z_]+_total|ALERTS(?:_FOR_STATE)?|kube_[a-z_]+|container_[a-z_]+)\b(?![{_a-z])/,
        `${panel}: ${expr}`,
      );
    }
  });
}

test('the PromQL check rejects a query Prometheus cannot parse', async (t) => {
  const result = await checkWithPromtool([
    { panel: 'broken', refId: 'A', expr: 'sum by (pod) (rate(http_requests_total[$__rate_interval])' },
  ]);
  t.false(result.ok);
  t.regex(result.output, /parse error|unclosed/i);
});

test('Grafana variables are replaced by values of their kind, unknown ones left for promtool to reject', (t) => {
  t.is(
    substituteVariables(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the braced Grafana variable form
      'rate(x{cluster=~"$cluster", namespace="$namespace"}[$__rate_interval]) + y[${__range}]',
    ),
    'rate(x{cluster=~".*", namespace="demo"}[1m]) + y[1h]',
  );
  t.is(substituteVariables('x{a="$unknown"}'), 'x{a="$unknown"}');
});

test('together the dashboards cover app health, alerts, functions, actions and the closed loop with the contract metrics', (t) => {
  const exprs = dashboards.flatMap(([, d]) => panelQueries(d).map((q) => q.expr)).join('\n');
  for (const metric of [
    'http_requests_total',
    'http_request_duration_seconds_bucket',
    'container_memory_working_set_bytes',
    'container_cpu_usage_seconds_total',
    'kube_pod_container_resource_limits',
    'kube_pod_status_ready',
    'kube_pod_container_status_restarts_total',
    'ALERTS',
    'ALERTS_FOR_STATE',
    'faas_invocations',
    'faas_errors',
    'faas_execution_latency_bucket',
    'gateway_function_invocation_total',
    'kn_serving_invocation_duration_seconds_count',
    'kn_queueproxy_app_duration_seconds_count',
    'revision_request_count',
    'selfheal_action_decisions_total',
    'selfheal_router_alerts_total',
    'selfheal_router_delivery_duration_seconds_bucket',
    'selfheal_time_to_recovery_seconds_bucket',
    'selfheal_escalations_total',
    'selfheal_breaker_open',
    'selfheal_breaker_trips_total',
  ]) {
    t.regex(exprs, new RegExp(`\\b${metric}\\b`), `no panel queries ${metric}`);
  }
});

test('the closed loop is on the overview, where the person on call looks', (t) => {
  const overview = DASHBOARDS.overview?.();
  const rows = (overview?.panels ?? []).filter((p) => p.type === 'row').map((p) => p.title);
  t.true(rows.includes('Closed loop'));
  const exprs = panelQueries(overview as Dashboard)
    .map((q) => q.expr)
    .join('\n');
  for (const metric of Object.values(CLOSED_LOOP_METRICS)) t.regex(exprs, new RegExp(`\\b${metric}`));
});

test('provisioning: a datasource of its own that is not the default, and a provider that loads the files', (t) => {
  const datasources = parse(readFileSync(join(PROVISIONING, 'datasources', 'prometheus.yaml'), 'utf8'));
  t.is(datasources.apiVersion, 1);
  const [datasource] = datasources.datasources;
  t.like(datasource, { type: 'prometheus', uid: 'selfheal-prometheus', access: 'proxy', isDefault: false });
  // kube-prometheus-stack provisions uid "prometheus", name "Prometheus", as the default.
  t.not(datasource.uid, 'prometheus');
  t.not(datasource.name, 'Prometheus');
  t.regex(datasource.url, /^http:\/\/prometheus\.selfheal\.svc:9090$/);

  const providers = parse(readFileSync(join(PROVISIONING, 'dashboards', 'selfheal.yaml'), 'utf8'));
  t.is(providers.apiVersion, 1);
  t.like(providers.providers[0], { type: 'file' });
  t.regex(providers.providers[0].options.path, /^\//);
});
