// The series a Knative Service's queue-proxy puts in Prometheus, shaped exactly as each Knative version exports them,
// read from knative/serving's source at each release tag, for checking the Knative panels against them:
// - 1.19, 1.20 (tags knative-v1.19.0, knative-v1.20.0): pkg/queue/request_metric.go records the OpenTelemetry
//   histogram "kn.queueproxy.app.duration" (unit s, bounds latencyBounds) with the one attribute
//   http.response.status_code, under the meter scope "knative.dev/serving/pkg/queue"; 1.19 and 1.20 record whole
//   seconds (float64(latency / time.Second)).
// - 1.21 and later (knative-v1.21.0 … knative-v1.23.0): the same histogram renamed "kn.serving.invocation.duration",
//   recording latency.Seconds().
// - both: pkg/queue/sharedmain/otel.go makes the resource (k8s.container.name queue-proxy, k8s.namespace.name,
//   k8s.pod.name, service.name, service.version, service.instance.id, and kn.service.name, kn.configuration.name,
//   kn.revision.name from pkg/metrics/key.go) and serves Prometheus on networking.UserQueueMetricsPort (9091,
//   pkg/networking/constants.go) when request-metrics-protocol is prometheus. knative.dev/pkg's exporter
//   (observability/metrics/prometheus_enabled.go) is OpenTelemetry's Prometheus exporter with
//   UnderscoreEscapingWithSuffixes: names get the unit and _bucket/_sum/_count, the resource goes to target_info
//   only, and every series carries otel_scope_name (otel_scope_version and otel_scope_schema_url are empty, which
//   Prometheus drops). The exporter versions (v0.59.0 in 1.19, v0.60.0 in 1.20, v0.61.0 in 1.21) add the same labels.
// - up to 1.18 (knative-v1.18.0): OpenCensus, pkg/queue/request_metric.go's request_count view under the component
//   "revision" (revision_request_count) with the tags of pkg/metrics/key.go (pod_name, container_name, response_code,
//   response_code_class) and the knative_revision resource labels (namespace_name, service_name, configuration_name,
//   revision_name) on every series.
// Prometheus adds the scrape labels of the knative-queue-proxy job (stack/prometheus/prometheus.yml): job, instance,
// namespace, pod.

export type Series = { series: string; values: string };

export type KnativeVersion = {
  name: string;
  /** The series of one queue-proxy serving `restart-pod`: 2 requests/s answered 200 and 0.5/s answered 500. */
  series: Series[];
};

const POD = 'restart-pod-00001-deployment-6d9c7b6b5-x2x7q';
const SCRAPE = { job: 'knative-queue-proxy', instance: '10.244.1.7:9091', namespace: 'selfheal', pod: POD };
const SCOPE = { otel_scope_name: 'knative.dev/serving/pkg/queue' };
/** pkg/queue/request_metric.go latencyBounds (1.19 and later). */
export const LATENCY_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

function render(name: string, labels: Record<string, string>): string {
  const body = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ');
  return `${name}{${body}}`;
}

// Counters growing by `perScrape` every 15 s scrape: rate = perScrape / 15 per second.
const growing = (perScrape: number) => `0+${perScrape}x60`;

function openTelemetry(metric: string, sdkVersion: string): Series[] {
  const out: Series[] = [];
  for (const [code, perScrape] of [
    ['200', 30],
    ['500', 7.5],
  ] as const) {
    const labels = { ...SCRAPE, ...SCOPE, http_response_status_code: code };
    // Every request of the example took under 0.25 s.
    for (const le of LATENCY_BOUNDS) {
      out.push({
        series: render(`${metric}_bucket`, { ...labels, le: String(le) }),
        values: growing(le >= 0.25 ? perScrape : 0),
      });
    }
    out.push({ series: render(`${metric}_bucket`, { ...labels, le: '+Inf' }), values: growing(perScrape) });
    out.push({ series: render(`${metric}_count`, labels), values: growing(perScrape) });
    out.push({ series: render(`${metric}_sum`, labels), values: growing(perScrape * 0.2) });
  }
  out.push({
    series: render('target_info', {
      ...SCRAPE,
      k8s_container_name: 'queue-proxy',
      k8s_namespace_name: 'selfheal',
      k8s_pod_name: POD,
      kn_configuration_name: 'restart-pod',
      kn_revision_name: 'restart-pod-00001',
      kn_service_name: 'restart-pod',
      service_instance_id: POD,
      service_name: 'restart-pod',
      service_version: 'v1',
      telemetry_sdk_language: 'go',
      telemetry_sdk_name: 'opentelemetry',
      telemetry_sdk_version: sdkVersion,
    }),
    values: '1x60',
  });
  return out;
}

function openCensus(): Series[] {
  return [
    ['200', '2xx', 30],
    ['500', '5xx', 7.5],
  ].map(([code, cls, perScrape]) => ({
    series: render('revision_request_count', {
      ...SCRAPE,
      namespace_name: 'selfheal',
      service_name: 'restart-pod',
      configuration_name: 'restart-pod',
      revision_name: 'restart-pod-00001',
      pod_name: POD,
      container_name: 'queue-proxy',
      response_code: String(code),
      response_code_class: String(cls),
    }),
    values: growing(Number(perScrape)),
  }));
}

export const KNATIVE_VERSIONS: KnativeVersion[] = [
  { name: '1.18', series: openCensus() },
  { name: '1.19', series: openTelemetry('kn_queueproxy_app_duration_seconds', '1.37.0') },
  { name: '1.20', series: openTelemetry('kn_queueproxy_app_duration_seconds', '1.38.0') },
  { name: '1.21+', series: openTelemetry('kn_serving_invocation_duration_seconds', '1.39.0') },
];
