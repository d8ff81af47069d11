// The production monitoring files (Prometheus config, alert rules, Alertmanager config): where they are, the parts of
// them every renderer and check relies on (checked with zod), and how they are read.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { parseDuration } from './duration.ts';

const STACK_DIR = dirname(fileURLToPath(import.meta.url));

/** The production files: what Prometheus and Alertmanager run in a cluster, and what every profile starts from. */
export const STACK_FILES = {
  prometheusConfig: join(STACK_DIR, 'prometheus', 'prometheus.yml'),
  rules: join(STACK_DIR, 'prometheus', 'rules', 'selfheal.rules.yml'),
  ruleTests: join(STACK_DIR, 'prometheus', 'tests'),
  alertmanagerConfig: join(STACK_DIR, 'alertmanager', 'alertmanager.yml'),
  routeTests: join(STACK_DIR, 'alertmanager', 'tests', 'routes.yml'),
} as const;

/** How long Prometheus keeps samples; a launch flag, not part of prometheus.yml. */
export const PROMETHEUS_RETENTION = '200h';
export const PROMETHEUS_RETENTION_FLAG = `--storage.tsdb.retention.time=${PROMETHEUS_RETENTION}`;

/** Scrape jobs of prometheus.yml that the renderer rewrites; found by name. */
export const JOB_NAMES = {
  pods: 'kubernetes-pods',
  kubeStateMetrics: 'kube-state-metrics',
  cadvisor: 'kubernetes-cadvisor',
  openfaasGateway: 'openfaas-gateway',
  knativeQueueProxy: 'knative-queue-proxy',
} as const;

/** The Alertmanager receiver that delivers to the selfheal router. */
export const ROUTER_RECEIVER = 'selfheal-router';

export interface AlertRule {
  alert: string;
  expr: string;
  for: number;
  labels: Record<string, string>;
}

const Duration = z.string().refine((text) => {
  try {
    parseDuration(text);
    return true;
  } catch {
    return false;
  }
}, 'not a duration such as 15s or 2m');

const RelabelRule = z.looseObject({
  target_label: z.string().optional(),
  replacement: z.string().optional(),
});
const ScrapeConfig = z.looseObject({
  job_name: z.string(),
  kubernetes_sd_configs: z.array(z.looseObject({ role: z.string() })).optional(),
  relabel_configs: z.array(RelabelRule).optional(),
});
const PrometheusConfig = z.looseObject({
  global: z.looseObject({ scrape_interval: Duration.optional(), evaluation_interval: Duration.optional() }),
  rule_files: z.array(z.string()).optional(),
  alerting: z.looseObject({}).optional(),
  scrape_configs: z.array(ScrapeConfig),
});
export type PrometheusConfig = z.infer<typeof PrometheusConfig>;
export type RelabelRule = z.infer<typeof RelabelRule>;
export type ScrapeConfig = z.infer<typeof ScrapeConfig>;

const RuleFile = z.object({
  groups: z.array(
    z.looseObject({
      name: z.string(),
      rules: z.array(
        z.looseObject({
          alert: z.string(),
          expr: z.string(),
          for: Duration.optional(),
          labels: z.record(z.string(), z.string()).optional(),
        }),
      ),
    }),
  ),
});

export interface AlertmanagerRoute {
  receiver?: string;
  group_wait?: string;
  group_interval?: string;
  repeat_interval?: string;
  routes?: AlertmanagerRoute[];
  [key: string]: unknown;
}
const Route: z.ZodType<AlertmanagerRoute> = z.lazy(() =>
  z.looseObject({
    receiver: z.string().optional(),
    group_wait: Duration.optional(),
    group_interval: Duration.optional(),
    repeat_interval: Duration.optional(),
    routes: z.array(Route).optional(),
  }),
);
const AlertmanagerConfig = z.looseObject({
  route: Route,
  receivers: z.array(
    z.looseObject({
      name: z.string(),
      webhook_configs: z.array(z.looseObject({ url: z.string().optional() })).optional(),
    }),
  ),
});
export type AlertmanagerConfig = z.infer<typeof AlertmanagerConfig>;

/** The production files, parsed and checked for the parts the renderer relies on. */
export interface StackSource {
  prometheusConfig: PrometheusConfig;
  rulesText: string;
  rules: AlertRule[];
  alertmanagerConfig: AlertmanagerConfig;
}

function parseChecked<T>(schema: z.ZodType<T>, text: string, file: string): T {
  let value: unknown;
  try {
    value = parse(text);
  } catch (error) {
    throw new Error(`${file} is not valid YAML: ${(error as Error).message}`);
  }
  const result = schema.safeParse(value);
  if (!result.success) throw new Error(`${file} is not as expected:\n${z.prettifyError(result.error)}`);
  return result.data;
}

/** The alert rules of a rule file, with `for` in seconds. */
export function readAlertRules(rulesText: string, file = 'rules'): AlertRule[] {
  const ruleFile = parseChecked(RuleFile, rulesText, file);
  return ruleFile.groups.flatMap((group) =>
    group.rules.map((rule) => ({
      alert: rule.alert,
      expr: rule.expr,
      for: rule.for ? parseDuration(rule.for) : 0,
      labels: rule.labels ?? {},
    })),
  );
}

/** Reads the production files (or others of the same shape, for tests). */
export async function loadStack(
  files: Pick<typeof STACK_FILES, 'prometheusConfig' | 'rules' | 'alertmanagerConfig'> = STACK_FILES,
): Promise<StackSource> {
  const [prometheusText, rulesText, alertmanagerText] = await Promise.all([
    readFile(files.prometheusConfig, 'utf8'),
    readFile(files.rules, 'utf8'),
    readFile(files.alertmanagerConfig, 'utf8'),
  ]);
  return {
    prometheusConfig: parseChecked(PrometheusConfig, prometheusText, files.prometheusConfig),
    rulesText,
    rules: readAlertRules(rulesText, files.rules),
    alertmanagerConfig: parseChecked(AlertmanagerConfig, alertmanagerText, files.alertmanagerConfig),
  };
}
