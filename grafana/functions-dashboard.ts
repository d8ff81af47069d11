// "selfheal / Function Invocations": the four functions seen by their runtime (faas-js-runtime), by the platform in
// front of them (OpenFaaS gateway, Knative queue-proxy) and by their own metrics (routing, delivery, decisions).
import { type Dashboard, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { DATASOURCE, dashboard, METRICS, numberPanels, query, sel, timeseries } from './panels.ts';

export const FUNCTIONS_UID = 'selfheal-functions';

/**
 * The queue-proxy's request histogram under both of its names: kn.queueproxy.app.duration in Knative 1.19 and 1.20,
 * kn.serving.invocation.duration from 1.21 (knative/serving pkg/queue/request_metric.go), as Prometheus names them.
 */
export const KNATIVE_REQUESTS = {
  count: 'kn_queueproxy_app_duration_seconds_count|kn_serving_invocation_duration_seconds_count',
  bucket: 'kn_queueproxy_app_duration_seconds_bucket|kn_serving_invocation_duration_seconds_bucket',
} as const;

/** The queue-proxies of selfheal's Knative Services: their resource attributes are on target_info only. */
const KNATIVE_TARGET = `target_info${sel('k8s_namespace_name="selfheal"', 'kn_service_name!=""')}`;

export function functionsDashboard(): Dashboard {
  const builder = dashboard({
    uid: FUNCTIONS_UID,
    title: 'selfheal / Function Invocations',
    description:
      'router, restart-pod, redeploy and scale: invocations, errors, latency and cold starts, from the runtime, the platform and their own metrics.',
  })
    .withRow(new RowBuilder('faas-js-runtime'))
    .withPanel(
      timeseries(
        'Invocations',
        'Invocations and failed invocations per function, from each function pod.',
        'ops',
      )
        .withTarget(
          query(`sum by (faas_name) (rate(faas_invocations${sel()}[$__rate_interval]))`, '{{faas_name}}'),
        )
        .withTarget(
          query(
            `sum by (faas_name) (rate(faas_errors${sel()}[$__rate_interval]))`,
            '{{faas_name}} errors',
            'B',
          ),
        ),
    )
    .withPanel(
      timeseries('Execution latency p95', 'Time from invocation to return per function.', 's').withTarget(
        query(
          `histogram_quantile(0.95, sum by (faas_name, le) (rate(faas_execution_latency_bucket${sel()}[$__rate_interval])))`,
          '{{faas_name}}',
        ),
      ),
    )
    .withPanel(
      timeseries(
        'Cold start',
        'Time from container start to ready, per function instance started in the range.',
        's',
      ).withTarget(
        query(
          `max by (faas_name) (faas_cold_start_latency_sum${sel()} / faas_cold_start_latency_count${sel()})`,
          '{{faas_name}}',
        ),
      ),
    )
    .withRow(new RowBuilder('OpenFaaS gateway'))
    .withPanel(
      timeseries(
        'Gateway invocations',
        'Requests the gateway forwarded to each function, by HTTP status code.',
        'reqps',
      )
        .span(12)
        .withTarget(
          query(
            `sum by (function_name, code) (rate(gateway_function_invocation_total${sel()}[$__rate_interval]))`,
            '{{function_name}} {{code}}',
          ),
        ),
    )
    .withPanel(
      timeseries('Gateway latency p95 and replicas', 'Gateway-measured duration and function replicas.', 's')
        .span(12)
        .withTarget(
          query(
            `histogram_quantile(0.95, sum by (function_name, le) (rate(gateway_functions_seconds_bucket${sel()}[$__rate_interval])))`,
            '{{function_name}} p95',
          ),
        )
        .withTarget(
          query(`max by (function_name) (gateway_service_count${sel()})`, '{{function_name}} replicas', 'B'),
        )
        .overrideByRegexp('.* replicas', [{ id: 'unit', value: 'short' }]),
    )
    .withRow(new RowBuilder('Knative'))
    .withPanel(
      timeseries(
        'Knative requests',
        "Requests per Knative service by status, from the queue-proxy's OpenTelemetry histogram (Knative 1.19-1.20: kn.queueproxy.app.duration; 1.21 and later: kn.serving.invocation.duration), scraped on port 9091; the service and namespace are resource attributes, joined from target_info.",
        'reqps',
      )
        .span(8)
        .withTarget(
          query(
            'sum by (kn_service_name, http_response_status_code) (\n' +
              `    rate(${sel(`__name__=~"${KNATIVE_REQUESTS.count}"`)}[$__rate_interval])\n` +
              '  * on (job, instance) group_left (kn_service_name)\n' +
              `    ${KNATIVE_TARGET}\n` +
              ')',
            '{{kn_service_name}} {{http_response_status_code}}',
          ),
        ),
    )
    .withPanel(
      timeseries(
        'Knative request latency p95',
        'Time the queue-proxy measured per request to the function, per Knative service (1.19 and later; 1.19 and 1.20 record whole seconds, so a request under a second counts as 0 s).',
        's',
      )
        .span(8)
        .withTarget(
          query(
            'histogram_quantile(0.95, sum by (kn_service_name, le) (\n' +
              `    rate(${sel(`__name__=~"${KNATIVE_REQUESTS.bucket}"`)}[$__rate_interval])\n` +
              '  * on (job, instance) group_left (kn_service_name)\n' +
              `    ${KNATIVE_TARGET}\n` +
              '))',
            '{{kn_service_name}}',
          ),
        ),
    )
    .withPanel(
      timeseries(
        'Knative requests (up to 1.18)',
        'Requests per Knative service by status class (OpenCensus).',
        'reqps',
      )
        .span(8)
        .withTarget(
          query(
            `sum by (service_name, response_code_class) (rate(revision_request_count${sel('namespace_name="selfheal"')}[$__rate_interval]))`,
            '{{service_name}} {{response_code_class}}',
          ),
        ),
    )
    .withRow(new RowBuilder('selfheal'))
    .withPanel(
      timeseries(
        'Action outcomes',
        'Decisions per action and outcome (applied, skipped with a reason, refused, failed).',
        'short',
      ).withTarget(
        query(
          `sum by (action, outcome) (increase(${METRICS.decisions}${sel()}[$__rate_interval]))`,
          '{{action}} {{outcome}}',
        ),
      ),
    )
    .withPanel(
      timeseries(
        'Event delivery p95',
        'Time for the router to deliver one CloudEvent to its action.',
        's',
      ).withTarget(
        query(
          `histogram_quantile(0.95, sum by (action, le) (rate(${METRICS.routerDelivery}_bucket${sel()}[$__rate_interval])))`,
          '{{action}}',
        ),
      ),
    )
    .withPanel(
      new TablePanel()
        .title('Decisions in range')
        .description('Every action, outcome and reason over the selected time range.')
        .datasource(DATASOURCE)
        .height(8)
        .span(8)
        .withTarget(
          query(
            `sum by (action, outcome, reason) (increase(${METRICS.decisions}${sel()}[$__range])) > 0`,
            '{{action}} {{outcome}} {{reason}}',
          )
            .instant()
            .format(PromQueryFormat.Table),
        ),
    );
  return numberPanels(builder.build());
}
