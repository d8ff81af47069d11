// prometheus.yml for a profile: its intervals and rule file, and for a local run the rewiring of discovery,
// kube-state-metrics, the cAdvisor job and the Alertmanager address to a control plane outside the cluster.
import { resolve } from 'node:path';
import { formatDuration } from '../duration.ts';
import {
  JOB_NAMES,
  type PrometheusConfig,
  type RelabelRule,
  type ScrapeConfig,
  type StackSource,
} from '../source.ts';
import { checkFile, checkUrl } from './addresses.ts';
import type { Timing } from './timing.ts';

/** Kubernetes API server as the local playground reaches it: CA plus a client certificate or a bearer token. */
export interface ApiServerAccess {
  url: string;
  caFile: string;
  certFile?: string;
  keyFile?: string;
  bearerTokenFile?: string;
}

/** Where a Prometheus outside the cluster finds what an in-cluster one discovers or reaches by service name. */
export interface LocalPrometheusTargets {
  /** Used by every Kubernetes discovery instead of the in-cluster service account. */
  kubeconfigFile: string;
  /** Replaces kubernetes.default.svc and the service account files of the cAdvisor job (API server proxy). */
  apiServer: ApiServerAccess;
  /**
   * kube-state-metrics as a static target, e.g. http://127.0.0.1:8081/metrics; omit to find it through its Service
   * as in a cluster (when it runs as a pod of the local cluster).
   */
  kubeStateMetricsUrl?: string;
  /** Where Prometheus sends alerts, e.g. http://127.0.0.1:9093. */
  alertmanagerUrl: string;
}

function findJob(config: PrometheusConfig, name: string): ScrapeConfig {
  const job = config.scrape_configs.find((candidate) => candidate.job_name === name);
  if (!job) throw new Error(`prometheus.yml has no scrape job named ${name}`);
  return job;
}

/** prometheus.yml for a profile; with `local`, pointed at a control plane outside the cluster. */
export function renderPrometheusConfig(
  source: StackSource,
  options: { timing: Timing; rulesFile: string; local?: LocalPrometheusTargets },
): PrometheusConfig {
  const config = structuredClone(source.prometheusConfig);
  config.global = {
    ...config.global,
    scrape_interval: formatDuration(options.timing.scrapeInterval),
    evaluation_interval: formatDuration(options.timing.evaluationInterval),
  };
  config.rule_files = [resolve(options.rulesFile)];
  const local = options.local;
  if (!local) return config;

  const kubeconfigFile = checkFile(local.kubeconfigFile, 'kubeconfigFile');
  for (const job of config.scrape_configs) {
    for (const sd of job.kubernetes_sd_configs ?? []) {
      delete sd.api_server;
      sd.kubeconfig_file = kubeconfigFile;
    }
  }

  if (local.kubeStateMetricsUrl !== undefined) {
    const ksmUrl = checkUrl(local.kubeStateMetricsUrl, 'kubeStateMetricsUrl', ['http:', 'https:']);
    const ksm = findJob(config, JOB_NAMES.kubeStateMetrics);
    delete ksm.kubernetes_sd_configs;
    delete ksm.relabel_configs;
    ksm.scheme = ksmUrl.protocol.slice(0, -1);
    ksm.metrics_path = ksmUrl.pathname === '/' ? '/metrics' : ksmUrl.pathname;
    ksm.static_configs = [{ targets: [ksmUrl.host] }];
  }

  const api = local.apiServer;
  const apiUrl = checkUrl(api.url, 'apiServer.url', ['https:']);
  const byCertificate = Boolean(api.certFile || api.keyFile);
  if (byCertificate === Boolean(api.bearerTokenFile) || (byCertificate && !(api.certFile && api.keyFile))) {
    throw new Error('apiServer needs either certFile and keyFile (a client certificate) or bearerTokenFile');
  }
  const cadvisor = findJob(config, JOB_NAMES.cadvisor);
  const addressRules = (cadvisor.relabel_configs ?? []).filter((rule) => rule.target_label === '__address__');
  if (addressRules.length !== 1) {
    throw new Error(
      `the ${JOB_NAMES.cadvisor} job must set __address__ (the API server) in exactly one relabel rule`,
    );
  }
  (addressRules[0] as RelabelRule).replacement = apiUrl.port ? apiUrl.host : `${apiUrl.hostname}:443`;
  cadvisor.scheme = 'https';
  cadvisor.tls_config = byCertificate
    ? {
        ca_file: checkFile(api.caFile, 'apiServer.caFile'),
        cert_file: checkFile(api.certFile ?? '', 'apiServer.certFile'),
        key_file: checkFile(api.keyFile ?? '', 'apiServer.keyFile'),
      }
    : { ca_file: checkFile(api.caFile, 'apiServer.caFile') };
  if (byCertificate) delete cadvisor.authorization;
  else
    cadvisor.authorization = {
      credentials_file: checkFile(api.bearerTokenFile ?? '', 'apiServer.bearerTokenFile'),
    };

  const amUrl = checkUrl(local.alertmanagerUrl, 'alertmanagerUrl', ['http:', 'https:']);
  config.alerting = {
    alertmanagers: [
      {
        scheme: amUrl.protocol.slice(0, -1),
        ...(amUrl.pathname !== '/' ? { path_prefix: amUrl.pathname } : {}),
        static_configs: [{ targets: [amUrl.host] }],
      },
    ],
  };
  return config;
}
