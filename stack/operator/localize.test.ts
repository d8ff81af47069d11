// The operator's generated configuration made runnable here: what changes (variables, in-pod paths, in-cluster
// discovery, the Alertmanagers) and what must not (jobs, relabelling, alert relabelling).
import test from 'ava';
import { parse } from 'yaml';
import { localizePrometheusConfig } from './localize.ts';

// An excerpt of what prometheus-operator v0.85 generated in operator.test.ts (Secret prometheus-<name>).
const GENERATED = `
global:
  scrape_interval: 30s
  external_labels:
    prometheus: ns/selfheal
    prometheus_replica: $(POD_NAME)
rule_files:
- /etc/prometheus/rules/prometheus-selfheal-rulefiles-0/*.yaml
scrape_configs:
- job_name: podMonitor/ns/selfheal-workloads/0
  kubernetes_sd_configs:
  - role: pod
  relabel_configs:
  - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
    regex: ([^:]+)(?::\\d+)?;(\\d+)
    replacement: $1:$2
    target_label: __address__
  - source_labels: [__tmp_hash, __tmp_disable_sharding]
    regex: $(SHARD);|.+;.+
    action: keep
- job_name: scrapeConfig/ns/cadvisor
  scheme: https
  tls_config:
    ca_file: /etc/prometheus/certs/secret_ns_api_ca.crt
  kubernetes_sd_configs:
  - role: node
    api_server: https://10.0.0.1:443
alerting:
  alert_relabel_configs:
  - action: labeldrop
    regex: prometheus_replica
  alertmanagers:
  - path_prefix: /
    scheme: http
    kubernetes_sd_configs:
    - role: endpoints
      namespaces:
        names: [ns]
    relabel_configs:
    - action: keep
      source_labels: [__meta_kubernetes_service_name]
      regex: alertmanager-operated
`;

test('variables, in-pod paths, in-cluster discovery and the Alertmanagers are made local; the rest is kept', (t) => {
  const local = parse(
    localizePrometheusConfig(GENERATED, {
      ruleDir: '/tmp/x/rules/',
      certDir: '/tmp/x/certs',
      kubeconfigFile: '/tmp/x/kubeconfig',
      alertmanagers: ['127.0.0.1:9093', '127.0.0.1:9094'],
      podName: 'prometheus-selfheal-0',
    }),
  );
  const generated = parse(GENERATED);
  t.is(local.global.external_labels.prometheus_replica, 'prometheus-selfheal-0');
  t.deepEqual(local.rule_files, ['/tmp/x/rules/*.yaml']);
  const [pods, cadvisor] = local.scrape_configs;
  t.deepEqual(pods.kubernetes_sd_configs, [{ role: 'pod', kubeconfig_file: '/tmp/x/kubeconfig' }]);
  t.is(pods.relabel_configs[1].regex, '0;|.+;.+', '$(SHARD) as the reloader expands it');
  t.deepEqual(pods.relabel_configs[0], generated.scrape_configs[0].relabel_configs[0], '$1 is no variable');
  t.is(cadvisor.tls_config.ca_file, '/tmp/x/certs/secret_ns_api_ca.crt');
  t.deepEqual(
    cadvisor.kubernetes_sd_configs,
    generated.scrape_configs[1].kubernetes_sd_configs,
    'an explicit API server stays',
  );
  t.deepEqual(local.alerting.alert_relabel_configs, generated.alerting.alert_relabel_configs);
  t.deepEqual(local.alerting.alertmanagers, [
    { path_prefix: '/', scheme: 'http', static_configs: [{ targets: ['127.0.0.1:9093', '127.0.0.1:9094'] }] },
  ]);
});

test('anything but a Prometheus configuration is refused', (t) => {
  const options = { ruleDir: '/r', certDir: '/c', kubeconfigFile: '/k', alertmanagers: [], podName: 'p' };
  t.throws(() => localizePrometheusConfig('rule_files: 3', options), {
    message: /not a Prometheus configuration/,
  });
});
