// Checks the generated dashboards are current, every panel query parses as PromQL, and provisioning points at them.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { DASHBOARDS_DIR, renderDashboards } from './generate.ts';
import { checkWithPromtool, panelQueries, substituteVariables } from './promql.ts';
import { DATASOURCE, selfhealDashboard } from './selfheal-dashboard.ts';

const PROVISIONING = join(import.meta.dirname, 'provisioning');

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

test('every panel query is PromQL that promtool accepts', async (t) => {
  const queries = panelQueries(selfhealDashboard());
  t.true(queries.length >= 15, `expected the dashboard's queries, found ${queries.length}`);
  const result = await checkWithPromtool(queries);
  t.true(result.ok, result.output);
});

test('the PromQL check rejects a query Prometheus cannot parse', async (t) => {
  const result = await checkWithPromtool([
    { panel: 'broken', refId: 'A', expr: 'sum by (pod) (rate(http_requests_total[$__rate_interval])' },
  ]);
  t.false(result.ok);
  t.regex(result.output, /parse error|unclosed/i);
});

test('Grafana variables are replaced by values of their kind, unknown ones left for promtool to reject', (t) => {
  t.is(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the braced Grafana variable form
    substituteVariables('rate(x{namespace="$namespace"}[$__rate_interval]) + y[${__range}]'),
    'rate(x{namespace="demo"}[1m]) + y[1h]',
  );
  t.is(substituteVariables('x{a="$unknown"}'), 'x{a="$unknown"}');
});

test('the dashboard covers app health, alerts, functions, actions and the closed loop with the contract metrics', (t) => {
  const dashboard = selfhealDashboard();
  const exprs = panelQueries(dashboard)
    .map((q) => q.expr)
    .join('\n');
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
    'revision_request_count',
    'selfheal_action_decisions_total',
    'selfheal_router_alerts_total',
    'selfheal_time_to_recovery_seconds_bucket',
    'selfheal_escalations_total',
    'selfheal_breaker_open',
    'selfheal_breaker_trips_total',
  ]) {
    t.regex(exprs, new RegExp(`\\b${metric}\\b`), `no panel queries ${metric}`);
  }
  const ids = (dashboard.panels ?? []).map((p) => p.id);
  t.is(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const panel of dashboard.panels ?? []) {
    if (panel.type === 'row') continue;
    t.deepEqual(panel.datasource, DATASOURCE, `${panel.title} uses the variable`);
  }
});

test('provisioning: the datasource is Prometheus and the dashboard provider loads files', (t) => {
  const datasources = parse(readFileSync(join(PROVISIONING, 'datasources', 'prometheus.yaml'), 'utf8'));
  t.is(datasources.apiVersion, 1);
  t.like(datasources.datasources[0], { type: 'prometheus', uid: 'prometheus', access: 'proxy' });
  t.regex(datasources.datasources[0].url, /^http:\/\/prometheus\.selfheal\.svc:9090$/);

  const providers = parse(readFileSync(join(PROVISIONING, 'dashboards', 'selfheal.yaml'), 'utf8'));
  t.is(providers.apiVersion, 1);
  t.like(providers.providers[0], { type: 'file' });
  t.regex(providers.providers[0].options.path, /^\//);
});
