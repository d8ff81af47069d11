// What kube-prometheus-stack scrapes on its own (kube-state-metrics, the kubelets' cAdvisor), as ScrapeConfigs for a
// cluster that has only prometheus-operator: the production jobs of prometheus.yml, pointed at this machine.
import { JOB_NAMES, type StackSource } from '../source.ts';
import { MONITORING_GROUP } from './cluster.ts';
import { toOperatorRelabels } from './relabel.ts';

export interface StandInOptions {
  namespace: string;
  /** kube-state-metrics' metrics URL, e.g. http://127.0.0.1:8081/metrics. */
  kubeStateMetricsUrl: string;
  /** The API server that proxies the kubelets' cAdvisor, e.g. https://127.0.0.1:6443. */
  apiServer: string;
  /** PEM of the API server's CA. */
  caPem: string;
  /** A bearer token allowed to get nodes/proxy (the production Prometheus ServiceAccount's). */
  token: string;
}

const CA_SECRET = { name: 'selfheal-api-server-ca', key: 'ca.crt' };
const TOKEN_SECRET = { name: 'selfheal-prometheus-token', key: 'token' };

/** Two Secrets and two ScrapeConfigs, scraped at the source's scrape interval. */
export function standInScrapeConfigs(source: StackSource, options: StandInOptions): object[] {
  const interval = source.prometheusConfig.global.scrape_interval;
  const cadvisor = source.prometheusConfig.scrape_configs.find((job) => job.job_name === JOB_NAMES.cadvisor);
  if (!cadvisor) throw new Error(`prometheus.yml has no ${JOB_NAMES.cadvisor} job`);
  const apiServer = new URL(options.apiServer);
  const relabelings = toOperatorRelabels(cadvisor.relabel_configs ?? [], JOB_NAMES.cadvisor).map((rule) =>
    rule.targetLabel === '__address__' ? { ...rule, replacement: apiServer.host } : rule,
  );
  const meta = (name: string) => ({ name, namespace: options.namespace });
  const every = interval ? { scrapeInterval: interval } : {};
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(CA_SECRET.name),
      stringData: { [CA_SECRET.key]: options.caPem },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(TOKEN_SECRET.name),
      stringData: { [TOKEN_SECRET.key]: options.token },
    },
    {
      apiVersion: `${MONITORING_GROUP}/v1alpha1`,
      kind: 'ScrapeConfig',
      metadata: meta(JOB_NAMES.kubeStateMetrics),
      spec: {
        staticConfigs: [{ targets: [new URL(options.kubeStateMetricsUrl).host] }],
        // Its series describe other pods: their namespace, pod and container labels win (as in prometheus.yml).
        honorLabels: true,
        ...every,
      },
    },
    {
      apiVersion: `${MONITORING_GROUP}/v1alpha1`,
      kind: 'ScrapeConfig',
      metadata: meta(JOB_NAMES.cadvisor),
      spec: {
        kubernetesSDConfigs: [{ role: 'Node' }],
        scheme: 'HTTPS',
        tlsConfig: { ca: { secret: CA_SECRET } },
        authorization: { credentials: TOKEN_SECRET },
        relabelings,
        ...every,
      },
    },
  ];
}
