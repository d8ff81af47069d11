// What every selfheal dashboard shares: the datasource and cluster variables, label selectors that carry the cluster,
// panel shapes, the links between the dashboards and the annotations that mark alerts and actions on the time axis.
import * as common from '@grafana/grafana-foundation-sdk/common';
import {
  AnnotationQueryBuilder,
  type Dashboard,
  DashboardBuilder,
  DashboardCursorSync,
  DashboardLinkBuilder,
  DashboardLinkType,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';

/** The tag every selfheal dashboard carries; the links between them follow it. */
export const TAG = 'selfheal';

/** Every panel queries the data source chosen in the `datasource` variable (Grafana syntax, not a JS template). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana variable reference
export const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

/** The label that tells clusters apart where one Grafana sees several (Thanos, Mimir, federation); absent is fine. */
export const CLUSTER_MATCHER = 'cluster=~"$cluster"';

/** A label selector that always carries the cluster: sel('namespace="$namespace"') → {cluster=~"$cluster", namespace="$namespace"}. */
export function sel(...matchers: string[]): string {
  return `{${[CLUSTER_MATCHER, ...matchers].join(', ')}}`;
}

/** The routes HighErrorRate leaves out (stack/prometheus/rules): probes and scrapes are not the service. */
export const SERVICE_ROUTES = 'route!~"/(health|healthz|livez|ready|readyz|metrics)"';

/** What the functions record themselves (functions/lib/metrics.ts), beside faas-js-runtime's metrics. */
export const METRICS = {
  decisions: 'selfheal_action_decisions_total',
  routerAlerts: 'selfheal_router_alerts_total',
  routerDelivery: 'selfheal_router_delivery_duration_seconds',
} as const;

export function query(expr: string, legend: string, refId = 'A'): DataqueryBuilder {
  return new DataqueryBuilder().expr(expr).legendFormat(legend).refId(refId).datasource(DATASOURCE);
}

export function thresholdLine(value: number): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([
    { value: null, color: 'green' },
    { value, color: 'red' },
  ]);
}

export function timeseries(title: string, description: string, unit: string): TimeseriesPanel {
  return new TimeseriesPanel()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .unit(unit)
    .height(8)
    .span(8)
    .lineWidth(1)
    .fillOpacity(10)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder()
        .mode(common.TooltipDisplayMode.Multi)
        .sort(common.SortOrder.Descending),
    );
}

export function withAlertThreshold(panel: TimeseriesPanel, value: number): TimeseriesPanel {
  return panel
    .thresholds(thresholdLine(value))
    .thresholdsStyle(
      new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed),
    );
}

export function stat(title: string, description: string, expr: string, legend: string): StatPanel {
  return new StatPanel()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .height(5)
    .span(6)
    .graphMode(common.BigValueGraphMode.Area)
    .withTarget(query(expr, legend));
}

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  /** Adds the `namespace` variable (the workload's namespace). */
  namespaced?: boolean;
}

/** The cluster label's values; "All" matches series without the label too. */
function clusterVariable(): QueryVariableBuilder {
  const values = 'label_values(kube_pod_info, cluster)';
  return new QueryVariableBuilder('cluster')
    .label('Cluster')
    .datasource(DATASOURCE)
    .query(values)
    .definition(values)
    .includeAll(true)
    .allValue('.*')
    .current({ text: 'All', value: '$__all', selected: true })
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc);
}

function namespaceVariable(): QueryVariableBuilder {
  const values = `label_values(kube_pod_labels${sel('label_selfheal_dev_enabled="true"')}, namespace)`;
  return new QueryVariableBuilder('namespace')
    .label('Namespace')
    .description('Namespaces with pods that opted in to self-healing.')
    .datasource(DATASOURCE)
    .query(values)
    .definition(values)
    .current({ text: 'demo', value: 'demo', selected: true })
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc);
}

/**
 * What happened, on every time axis: each action a function applied (or refused, or failed at) and each selfheal
 * alert that fired.
 */
function annotations(): AnnotationQueryBuilder[] {
  return [
    new AnnotationQueryBuilder()
      .name('selfheal actions')
      .datasource(DATASOURCE)
      .enable(true)
      .iconColor('blue')
      .expr(
        `sum by (action, outcome, reason) (increase(${METRICS.decisions}${sel('outcome!="skipped"')}[1m])) > 0`,
      )
      .titleFormat('{{action}}: {{outcome}}')
      .textFormat('{{reason}}')
      .tagKeys('action,outcome')
      .step('1m'),
    new AnnotationQueryBuilder()
      .name('selfheal alerts firing')
      .datasource(DATASOURCE)
      .enable(true)
      .iconColor('red')
      .expr(`max by (alertname, namespace, pod, action) (ALERTS${sel('alertstate="firing"', 'action!=""')})`)
      .titleFormat('{{alertname}} {{namespace}}/{{pod}}')
      .textFormat('→ {{action}}')
      .tagKeys('alertname,action')
      .step('1m'),
  ];
}

/** A dashboard with the shared variables, annotations and links to the other selfheal dashboards. */
export function dashboard(spec: DashboardSpec): DashboardBuilder {
  const builder = new DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags([TAG])
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .tooltip(DashboardCursorSync.Crosshair)
    .link(
      new DashboardLinkBuilder('selfheal')
        .type(DashboardLinkType.Dashboards)
        .tags([TAG])
        .asDropdown(false)
        .includeVars(true)
        .keepTime(true),
    )
    .annotations(annotations())
    .withVariable(new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'))
    .withVariable(clusterVariable());
  if (spec.namespaced) builder.withVariable(namespaceVariable());
  return builder;
}

/** Grafana keys panel state (links, edits) by id: give every panel a stable one in layout order. */
export function numberPanels(built: Dashboard): Dashboard {
  let id = 1;
  for (const panel of built.panels ?? []) panel.id = id++;
  return built;
}
