// The "selfheal" Grafana dashboard as code: app health, alert history, function invocations and action outcomes.
import * as common from '@grafana/grafana-foundation-sdk/common';
import {
  type Dashboard,
  DashboardBuilder,
  DashboardCursorSync,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as StateTimelinePanel } from '@grafana/grafana-foundation-sdk/statetimeline';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';
import { closedLoopRow } from './closed-loop-row.ts';

// The routes HighErrorRate leaves out (stack/prometheus/rules): probes and scrapes are not the service.
const SERVICE_ROUTES = 'route!~"/(health|healthz|livez|ready|readyz|metrics)"';

/** Every panel queries the data source chosen in the `datasource` variable (Grafana syntax, not a JS template). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana variable reference
export const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
const datasource = DATASOURCE;

/** Series of real containers only: cAdvisor's pod-level cgroup has container="", the pause container "POD". */
const containers = 'namespace="$namespace", container!="", container!="POD"';

/** The thresholds the alert rules use (stack/prometheus/rules), drawn as lines so a panel shows how close it is. */
const MEMORY_LIMIT_BYTES = 200 * 1024 * 1024;
const ERROR_RATIO = 0.1;
const CPU_OF_LIMIT = 0.8;

function query(expr: string, legend: string, refId = 'A'): DataqueryBuilder {
  return new DataqueryBuilder().expr(expr).legendFormat(legend).refId(refId).datasource(datasource);
}

function thresholdLine(value: number): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([
    { value: null, color: 'green' },
    { value, color: 'red' },
  ]);
}

function timeseries(title: string, description: string, unit: string): TimeseriesPanel {
  return new TimeseriesPanel()
    .title(title)
    .description(description)
    .datasource(datasource)
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

function withAlertThreshold(panel: TimeseriesPanel, value: number): TimeseriesPanel {
  return panel
    .thresholds(thresholdLine(value))
    .thresholdsStyle(
      new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed),
    );
}

function appHealthRow(builder: DashboardBuilder): void {
  builder
    .withRow(new RowBuilder('App health'))
    .withPanel(
      timeseries(
        'Request rate per pod',
        'HTTP requests per second answered by each pod.',
        'reqps',
      ).withTarget(
        query(
          'sum by (pod) (rate(http_requests_total{namespace="$namespace"}[$__rate_interval]))',
          '{{pod}}',
        ),
      ),
    )
    .withPanel(
      withAlertThreshold(
        timeseries(
          '5xx ratio per pod',
          'Share of responses that are server errors, probes and scrapes aside (as HighErrorRate counts them); it fires above 10 % for 1 minute.',
          'percentunit',
        ),
        ERROR_RATIO,
      )
        .min(0)
        .withTarget(
          query(
            `sum by (pod) (rate(http_requests_total{namespace="$namespace", status=~"5..", ${SERVICE_ROUTES}}[$__rate_interval]))\n` +
              `  / (sum by (pod) (rate(http_requests_total{namespace="$namespace", ${SERVICE_ROUTES}}[$__rate_interval])) > 0)`,
            '{{pod}}',
          ),
        ),
    )
    .withPanel(
      timeseries('p95 latency per pod', '95th percentile of request duration.', 's').withTarget(
        query(
          'histogram_quantile(0.95, sum by (pod, le) (rate(http_request_duration_seconds_bucket{namespace="$namespace"}[$__rate_interval])))',
          '{{pod}}',
        ),
      ),
    )
    .withPanel(
      withAlertThreshold(
        timeseries(
          'Memory working set',
          'Working-set memory per container (what the kubelet compares with the limit); HighMemoryUsage fires above 200 MiB for 1 minute.',
          'bytes',
        ),
        MEMORY_LIMIT_BYTES,
      ).withTarget(
        query(
          `max by (pod, container) (container_memory_working_set_bytes{${containers}})`,
          '{{pod}}/{{container}}',
        ),
      ),
    )
    .withPanel(
      withAlertThreshold(
        timeseries(
          'CPU usage vs limit',
          "CPU used as a share of the container's CPU limit; HighCPUUsage fires above 80 % for 2 minutes.",
          'percentunit',
        ),
        CPU_OF_LIMIT,
      )
        .min(0)
        .withTarget(
          query(
            `sum by (pod, container) (rate(container_cpu_usage_seconds_total{${containers}}[$__rate_interval]))\n` +
              '  / on (pod, container)\n' +
              'max by (pod, container) (kube_pod_container_resource_limits{namespace="$namespace", resource="cpu"})',
            '{{pod}}/{{container}}',
          ),
        ),
    )
    .withPanel(
      new StatPanel()
        .title('Ready pods')
        .description('Pods whose Ready condition is true, against all running pods.')
        .datasource(datasource)
        .height(8)
        .span(4)
        .graphMode(common.BigValueGraphMode.Area)
        .withTarget(query('sum(kube_pod_status_ready{namespace="$namespace", condition="true"})', 'ready'))
        .withTarget(
          query('sum(kube_pod_status_phase{namespace="$namespace", phase="Running"})', 'running', 'B'),
        ),
    )
    .withPanel(
      timeseries(
        'Container restarts',
        'Restarts per container over the last 5 minutes (highest minus lowest count, as PodCrashLooping measures them).',
        'short',
      )
        .span(4)
        .withTarget(
          query(
            'max by (pod, container) (\n' +
              '  max_over_time(kube_pod_container_status_restarts_total{namespace="$namespace"}[5m])\n' +
              '  - min_over_time(kube_pod_container_status_restarts_total{namespace="$namespace"}[5m])\n' +
              ')',
            '{{pod}}/{{container}}',
          ),
        ),
    );
}

function alertsRow(builder: DashboardBuilder): void {
  builder
    .withRow(new RowBuilder('Alerts'))
    .withPanel(
      new StateTimelinePanel()
        .title('Alert history')
        .description('Pending and firing selfheal alerts over time, one lane per alert and target.')
        .datasource(datasource)
        .height(8)
        .span(16)
        .mergeValues(true)
        .showValue(common.VisibilityMode.Never)
        .withTarget(
          query(
            'max by (alertname, namespace, pod, alertstate) (ALERTS{action!="", alertstate=~"pending|firing"})',
            '{{alertname}} {{namespace}}/{{pod}} ({{alertstate}})',
          ),
        ),
    )
    .withPanel(
      new TablePanel()
        .title('Active alerts')
        .description(
          'Alerts active now and how long ago they started (ALERTS_FOR_STATE holds the start time).',
        )
        .datasource(datasource)
        .unit('s')
        .height(8)
        .span(8)
        .withTarget(
          query(
            'time() - max by (alertname, namespace, pod, action) (ALERTS_FOR_STATE{action!=""})',
            '{{alertname}} {{namespace}}/{{pod}}',
          )
            .instant()
            .format(PromQueryFormat.Table),
        ),
    );
}

function functionsRow(builder: DashboardBuilder): void {
  builder
    .withRow(new RowBuilder('Functions'))
    .withPanel(
      timeseries(
        'Invocations (faas-js-runtime)',
        'Invocations and failed invocations per function, from each function pod.',
        'ops',
      )
        .withTarget(query('sum by (faas_name) (rate(faas_invocations[$__rate_interval]))', '{{faas_name}}'))
        .withTarget(
          query('sum by (faas_name) (rate(faas_errors[$__rate_interval]))', '{{faas_name}} errors', 'B'),
        ),
    )
    .withPanel(
      timeseries(
        'Execution latency p95 (faas-js-runtime)',
        'Time from invocation to return per function.',
        's',
      ).withTarget(
        query(
          'histogram_quantile(0.95, sum by (faas_name, le) (rate(faas_execution_latency_bucket[$__rate_interval])))',
          '{{faas_name}}',
        ),
      ),
    )
    .withPanel(
      timeseries(
        'Cold start (faas-js-runtime)',
        'Time from container start to ready, per function instance started in the range.',
        's',
      ).withTarget(
        query(
          'max by (faas_name) (faas_cold_start_latency_sum / faas_cold_start_latency_count)',
          '{{faas_name}}',
        ),
      ),
    )
    .withPanel(
      timeseries(
        'OpenFaaS gateway invocations',
        'Requests the gateway forwarded to each function, by HTTP status code.',
        'reqps',
      ).withTarget(
        query(
          'sum by (function_name, code) (rate(gateway_function_invocation_total[$__rate_interval]))',
          '{{function_name}} {{code}}',
        ),
      ),
    )
    .withPanel(
      timeseries(
        'OpenFaaS gateway latency p95 and replicas',
        'Gateway-measured duration and function replicas.',
        's',
      )
        .withTarget(
          query(
            'histogram_quantile(0.95, sum by (function_name, le) (rate(gateway_functions_seconds_bucket[$__rate_interval])))',
            '{{function_name}} p95',
          ),
        )
        .withTarget(
          query('max by (function_name) (gateway_service_count)', '{{function_name}} replicas', 'B'),
        )
        .overrideByRegexp('.* replicas', [{ id: 'unit', value: 'short' }]),
    )
    .withPanel(
      timeseries(
        'Knative requests',
        'Requests per Knative service by status: OpenTelemetry metrics (1.19+) and OpenCensus ones (up to 1.18).',
        'reqps',
      )
        .withTarget(
          query(
            'sum by (kn_service_name, http_response_status_code) (rate(kn_serving_invocation_duration_seconds_count{k8s_namespace_name="selfheal"}[$__rate_interval]))',
            '{{kn_service_name}} {{http_response_status_code}}',
          ),
        )
        .withTarget(
          query(
            'sum by (service_name, response_code_class) (rate(revision_request_count{namespace_name="selfheal"}[$__rate_interval]))',
            '{{service_name}} {{response_code_class}}',
            'B',
          ),
        ),
    );
}

/** What the functions record themselves (functions/lib/metrics.ts), beside faas-js-runtime's metrics. */
export const ACTION_DECISIONS_METRIC = 'selfheal_action_decisions_total';
const ROUTER_ALERTS_METRIC = 'selfheal_router_alerts_total';
const ROUTER_DELIVERY_METRIC = 'selfheal_router_delivery_duration_seconds';

function actionsRow(builder: DashboardBuilder): void {
  builder
    .withRow(new RowBuilder('Actions'))
    .withPanel(
      timeseries(
        'Action outcomes',
        'Decisions per action and outcome (applied, skipped with a reason, failed).',
        'short',
      )
        .span(12)
        .withTarget(
          query(
            `sum by (action, outcome) (increase(${ACTION_DECISIONS_METRIC}[$__rate_interval]))`,
            '{{action}} {{outcome}}',
          ),
        ),
    )
    .withPanel(
      new TablePanel()
        .title('Decisions in range')
        .description('Every action, outcome and reason over the selected time range.')
        .datasource(datasource)
        .height(8)
        .span(12)
        .withTarget(
          query(
            `sum by (action, outcome, reason) (increase(${ACTION_DECISIONS_METRIC}[$__range])) > 0`,
            '{{action}} {{outcome}} {{reason}}',
          )
            .instant()
            .format(PromQueryFormat.Table),
        ),
    )
    .withPanel(
      timeseries(
        'Alerts received by the router',
        'Alerts per status (firing, resolved) and routing outcome.',
        'short',
      )
        .span(12)
        .withTarget(
          query(
            `sum by (status, outcome) (increase(${ROUTER_ALERTS_METRIC}[$__rate_interval]))`,
            '{{status}} {{outcome}}',
          ),
        ),
    )
    .withPanel(
      timeseries('Event delivery p95', 'Time for the router to deliver one CloudEvent to its action.', 's')
        .span(12)
        .withTarget(
          query(
            `histogram_quantile(0.95, sum by (action, le) (rate(${ROUTER_DELIVERY_METRIC}_bucket[$__rate_interval])))`,
            '{{action}}',
          ),
        ),
    );
}

export function selfhealDashboard(): Dashboard {
  const builder = new DashboardBuilder('selfheal')
    .uid('selfheal')
    .description(
      'Alert-driven self-healing: the workload, the alerts it raised, the functions and what they did.',
    )
    .tags(['selfheal'])
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .tooltip(DashboardCursorSync.Crosshair)
    .withVariable(new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'))
    .withVariable(
      new QueryVariableBuilder('namespace')
        .label('Namespace')
        .datasource(datasource)
        .query('label_values(kube_pod_info, namespace)')
        .definition('label_values(kube_pod_info, namespace)')
        .current({ text: 'demo', value: 'demo', selected: true })
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalAsc),
    );
  appHealthRow(builder);
  alertsRow(builder);
  functionsRow(builder);
  actionsRow(builder);
  closedLoopRow(builder);
  return numberPanels(builder.build());
}

/** Grafana keys panel state (links, edits) by id: give every panel a stable one in layout order. */
function numberPanels(dashboard: Dashboard): Dashboard {
  let id = 1;
  for (const panel of dashboard.panels ?? []) panel.id = id++;
  return dashboard;
}
