// "selfheal / Application Metrics": the opted-in workload as the alert rules see it, each threshold drawn on its panel.
import { type Dashboard, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import {
  dashboard,
  numberPanels,
  query,
  SERVICE_ROUTES,
  sel,
  stat,
  timeseries,
  withAlertThreshold,
} from './panels.ts';

export const APPLICATION_UID = 'selfheal-application';

/** The thresholds the alert rules use (stack/prometheus/rules), drawn as lines so a panel shows how close it is. */
const MEMORY_LIMIT_BYTES = 200 * 1024 * 1024;
const ERROR_RATIO = 0.1;
const CPU_OF_LIMIT = 0.8;

const ns = 'namespace="$namespace"';
/** Series of real containers only: cAdvisor's pod-level cgroup has container="", the pause container "POD". */
const containers = sel(ns, 'container!=""', 'container!="POD"');

export function applicationDashboard(): Dashboard {
  const builder = dashboard({
    uid: APPLICATION_UID,
    title: 'selfheal / Application Metrics',
    description:
      'The opted-in workloads of a namespace: traffic, errors, latency, memory, CPU, readiness, restarts.',
    namespaced: true,
  })
    .withRow(new RowBuilder('Traffic'))
    .withPanel(
      timeseries(
        'Request rate per pod',
        'HTTP requests per second answered by each pod.',
        'reqps',
      ).withTarget(query(`sum by (pod) (rate(http_requests_total${sel(ns)}[$__rate_interval]))`, '{{pod}}')),
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
            `sum by (pod) (rate(http_requests_total${sel(ns, 'status=~"5.."', SERVICE_ROUTES)}[$__rate_interval]))\n` +
              `  / (sum by (pod) (rate(http_requests_total${sel(ns, SERVICE_ROUTES)}[$__rate_interval])) > 0)`,
            '{{pod}}',
          ),
        ),
    )
    .withPanel(
      timeseries('p95 latency per pod', '95th percentile of request duration.', 's').withTarget(
        query(
          `histogram_quantile(0.95, sum by (pod, le) (rate(http_request_duration_seconds_bucket${sel(ns)}[$__rate_interval])))`,
          '{{pod}}',
        ),
      ),
    )
    .withRow(new RowBuilder('Resources'))
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
          `max by (pod, container) (container_memory_working_set_bytes${containers})`,
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
            `sum by (pod, container) (rate(container_cpu_usage_seconds_total${containers}[$__rate_interval]))\n` +
              '  / on (pod, container)\n' +
              `max by (pod, container) (kube_pod_container_resource_limits${sel(ns, 'resource="cpu"')})`,
            '{{pod}}/{{container}}',
          ),
        ),
    )
    .withPanel(
      timeseries(
        'Container restarts',
        'Restarts per container over the last 5 minutes (highest minus lowest count, as PodCrashLooping measures them).',
        'short',
      ).withTarget(
        query(
          'max by (pod, container) (\n' +
            `  max_over_time(kube_pod_container_status_restarts_total${sel(ns)}[5m])\n` +
            `  - min_over_time(kube_pod_container_status_restarts_total${sel(ns)}[5m])\n` +
            ')',
          '{{pod}}/{{container}}',
        ),
      ),
    )
    .withRow(new RowBuilder('Pods'))
    .withPanel(
      stat(
        'Ready pods',
        'Pods whose Ready condition is true, against all running pods.',
        `sum(kube_pod_status_ready${sel(ns, 'condition="true"')})`,
        'ready',
      )
        .span(8)
        .withTarget(query(`sum(kube_pod_status_phase${sel(ns, 'phase="Running"')})`, 'running', 'B')),
    )
    .withPanel(
      stat(
        'Opted-in pods',
        'Pods carrying selfheal.dev/enabled: "true": the only ones the alert rules watch.',
        `count(kube_pod_labels${sel(ns, 'label_selfheal_dev_enabled="true"')})`,
        'opted in',
      ).span(8),
    )
    .withPanel(
      stat(
        'Unready pods',
        'Running pods that are not Ready (PodNotReady fires after 2 minutes).',
        `sum(kube_pod_status_ready${sel(ns, 'condition="false"')})`,
        'unready',
      ).span(8),
    );
  return numberPanels(builder.build());
}
