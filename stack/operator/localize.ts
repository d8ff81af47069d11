// Runs what prometheus-operator generated outside the pods it generated it for: the variables its config reloader
// would substitute, the in-pod rule folder and certificate paths pointed at local copies, in-cluster discovery through
// a kubeconfig, and the Alertmanagers it discovers in-cluster replaced by addresses on this machine. Jobs, relabelling,
// rules and routes stay exactly as the operator generated them.
import { parse, stringify } from 'yaml';
import { z } from 'zod';

/** Where the operator's pods mount the rule ConfigMaps and the TLS assets (prometheus-operator v0.85). */
export const POD_RULES_DIR = '/etc/prometheus/rules/';
export const POD_CERTS_DIR = '/etc/prometheus/certs/';

export interface LocalizeOptions {
  /** The folder the generated rule files were written to (all rule ConfigMaps' files together). */
  ruleDir: string;
  /** The folder the TLS assets Secret's files were written to. */
  certDir: string;
  /** Used by every Kubernetes discovery that would use the pod's in-cluster credentials. */
  kubeconfigFile: string;
  /** Where the Alertmanagers listen, as host:port; replaces the operator's in-cluster discovery of them. */
  alertmanagers: string[];
  /** What `$(POD_NAME)` stands for, e.g. prometheus-selfheal-0. */
  podName: string;
  /** What `$(SHARD)` stands for (0 without sharding). */
  shard?: number;
}

const Config = z.looseObject({
  rule_files: z.array(z.string()).optional(),
  scrape_configs: z
    .array(z.looseObject({ kubernetes_sd_configs: z.array(z.looseObject({})).optional() }))
    .optional(),
  alerting: z.looseObject({ alertmanagers: z.array(z.looseObject({})).optional() }).optional(),
});

/** Applies `change` to every string of a parsed YAML value. */
function mapStrings(value: unknown, change: (text: string) => string): unknown {
  if (typeof value === 'string') return change(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, change));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mapStrings(item, change)]));
  }
  return value;
}

/** The generated prometheus.yaml, runnable by a Prometheus on this machine. */
export function localizePrometheusConfig(text: string, options: LocalizeOptions): string {
  const parsed = Config.safeParse(parse(text));
  if (!parsed.success) throw new Error(`not a Prometheus configuration:\n${z.prettifyError(parsed.error)}`);
  // The reloader's $(VAR) expansion, for the variables the operator's pods set; then the mounted certificates.
  const vars: Record<string, string> = { POD_NAME: options.podName, SHARD: String(options.shard ?? 0) };
  const certDir = `${options.certDir.replace(/\/+$/, '')}/`;
  const config = mapStrings(parsed.data, (text) => {
    const expanded = text.replace(/\$\(([A-Z_]+)\)/g, (whole, name: string) => vars[name] ?? whole);
    return expanded.startsWith(POD_CERTS_DIR) ? certDir + expanded.slice(POD_CERTS_DIR.length) : expanded;
  }) as z.infer<typeof Config>;

  config.rule_files = (config.rule_files ?? []).map((file) => {
    if (!file.startsWith(POD_RULES_DIR)) return file;
    // /etc/prometheus/rules/<ConfigMap>/<glob>: every ConfigMap's files sit in one local folder.
    const glob = file.slice(POD_RULES_DIR.length).split('/').slice(1).join('/');
    return `${options.ruleDir.replace(/\/+$/, '')}/${glob}`;
  });
  for (const job of config.scrape_configs ?? []) {
    for (const sd of job.kubernetes_sd_configs ?? []) {
      if (!('api_server' in sd) && !('kubeconfig_file' in sd)) sd.kubeconfig_file = options.kubeconfigFile;
    }
  }
  if (config.alerting?.alertmanagers) {
    config.alerting.alertmanagers = config.alerting.alertmanagers.map((am) => {
      const { kubernetes_sd_configs: _sd, relabel_configs: _relabel, ...rest } = am;
      return { ...rest, static_configs: [{ targets: options.alertmanagers }] };
    });
  }
  return stringify(config, { lineWidth: 0 });
}
