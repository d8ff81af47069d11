// Renders the production Prometheus config, alert rules and Alertmanager config for a timing profile and a place to run.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Document, isMap, isScalar, isSeq, parse, parseDocument } from 'yaml';
import { z } from 'zod';
import { durationInWords, formatDuration, parseDuration } from './duration.ts';

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

export const PROFILE_NAMES = ['production', 'fast'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/**
 * The accelerated profile: the same expressions, every `for` divided by FAST.forDivisor, short intervals.
 * A `for` that is not a whole number of evaluations is silently rounded up by Prometheus, so the divisor and the
 * evaluation interval are chosen to divide every production `for` exactly (1m → 12s, 2m → 24s).
 */
export const FAST = {
  scrapeInterval: 3,
  evaluationInterval: 3,
  forDivisor: 5,
  groupWait: 1,
  groupInterval: 5,
} as const;

/** Timings of a profile, in seconds. */
export interface Timing {
  scrapeInterval: number;
  evaluationInterval: number;
  groupWait: number;
  groupInterval: number;
  repeatInterval: number;
  /** The `for` of each alert, by alert name. */
  for: Record<string, number>;
}

export interface AlertRule {
  alert: string;
  expr: string;
  for: number;
  labels: Record<string, string>;
}

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

/** The router as Alertmanager reaches it. */
export interface RouterTarget {
  url: string;
  tokenFile: string;
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
type ScrapeConfig = z.infer<typeof ScrapeConfig>;

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

interface AlertmanagerRoute {
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

// Alertmanager's own defaults, for values a route leaves unset.
const ALERTMANAGER_DEFAULTS = { group_wait: '30s', group_interval: '5m', repeat_interval: '4h' };

/** The route settings the router's alerts get: the root route's, overridden along the path to the router route. */
function routerRouteTiming(route: AlertmanagerRoute): {
  groupWait: number;
  groupInterval: number;
  repeatInterval: number;
} {
  const find = (
    node: AlertmanagerRoute,
    inherited: typeof ALERTMANAGER_DEFAULTS,
  ): typeof ALERTMANAGER_DEFAULTS | undefined => {
    const own = {
      group_wait: node.group_wait ?? inherited.group_wait,
      group_interval: node.group_interval ?? inherited.group_interval,
      repeat_interval: node.repeat_interval ?? inherited.repeat_interval,
    };
    if (node.receiver === ROUTER_RECEIVER) return own;
    for (const child of node.routes ?? []) {
      const found = find(child, own);
      if (found) return found;
    }
    return undefined;
  };
  const timing = find(route, ALERTMANAGER_DEFAULTS);
  if (!timing) throw new Error(`alertmanager.yml has no route to the ${ROUTER_RECEIVER} receiver`);
  return {
    groupWait: parseDuration(timing.group_wait),
    groupInterval: parseDuration(timing.group_interval),
    repeatInterval: parseDuration(timing.repeat_interval),
  };
}

/** The timings a profile runs with. Production timings are read from the production files. */
export function profileTiming(source: StackSource, profile: ProfileName): Timing {
  const global = source.prometheusConfig.global;
  const production: Timing = {
    scrapeInterval: parseDuration(global.scrape_interval ?? '1m'),
    evaluationInterval: parseDuration(global.evaluation_interval ?? '1m'),
    ...routerRouteTiming(source.alertmanagerConfig.route),
    for: Object.fromEntries(source.rules.map((rule) => [rule.alert, rule.for])),
  };
  if (profile === 'production') return production;
  if (profile !== 'fast')
    throw new Error(`unknown profile "${profile}"; use one of: ${PROFILE_NAMES.join(', ')}`);
  const fastFor: Record<string, number> = {};
  for (const [alert, seconds] of Object.entries(production.for)) {
    const shortened = seconds / FAST.forDivisor;
    if (!Number.isInteger(shortened / FAST.evaluationInterval)) {
      throw new Error(
        `the fast profile cannot shorten the for of ${alert} (${formatDuration(seconds)}): ${seconds}/${FAST.forDivisor} s is not a whole number of ${FAST.evaluationInterval} s evaluations`,
      );
    }
    fastFor[alert] = shortened;
  }
  return {
    scrapeInterval: FAST.scrapeInterval,
    evaluationInterval: FAST.evaluationInterval,
    groupWait: FAST.groupWait,
    groupInterval: FAST.groupInterval,
    repeatInterval: production.repeatInterval,
    for: fastFor,
  };
}

/** The delays the pipeline itself adds before the router hears of a fault, per alert. */
export interface DetectionFloor {
  alert: string;
  action: string;
  scrapeInterval: number;
  evaluationInterval: number;
  for: number;
  groupWait: number;
  /** scrape + evaluation + for + group_wait, in seconds. */
  total: number;
}

/**
 * The detection floor: a fault shows in the next scrape, the next rule evaluation sees it, the alert waits its
 * `for`, and Alertmanager waits group_wait before the first notification of a new group (Prometheus sends an
 * alert with startsAt = the moment it fired, so group_wait is never skipped). The time the fault itself needs to
 * meet the expression (four restarts, a one-minute rate window filling up) comes on top, and an alert that joins a
 * group already notified (same alert name and namespace) waits for the group's next flush, up to group_interval,
 * instead of group_wait.
 */
export function detectionFloor(source: StackSource, timing: Timing): DetectionFloor[] {
  return source.rules.map((rule) => {
    const forSeconds = timing.for[rule.alert] ?? rule.for;
    return {
      alert: rule.alert,
      action: rule.labels.action ?? '',
      scrapeInterval: timing.scrapeInterval,
      evaluationInterval: timing.evaluationInterval,
      for: forSeconds,
      groupWait: timing.groupWait,
      total: timing.scrapeInterval + timing.evaluationInterval + forSeconds + timing.groupWait,
    };
  });
}

/** A Markdown table of the detection floor of both profiles, for the README. */
export function detectionFloorTable(source: StackSource): string {
  const production = detectionFloor(source, profileTiming(source, 'production'));
  const fast = detectionFloor(source, profileTiming(source, 'fast'));
  const cell = (row: DetectionFloor) =>
    `${formatDuration(row.scrapeInterval)} + ${formatDuration(row.evaluationInterval)} + ${formatDuration(row.for)} + ${formatDuration(row.groupWait)} = **${formatDuration(row.total)}**`;
  const lines = [
    '| alert | action | production (scrape + evaluation + for + group_wait) | fast |',
    '|---|---|---|---|',
    ...production.map(
      (row, i) => `| ${row.alert} | ${row.action} | ${cell(row)} | ${cell(fast[i] as DetectionFloor)} |`,
    ),
  ];
  return lines.join('\n');
}

/** How annotations state an alert's `for`; they must, so that a profile with another `for` can say so too. */
export function forPhrase(seconds: number): string {
  return `for more than ${durationInWords(seconds)}`;
}

/** An annotation text with its `for` phrase restated for another `for`. */
export function rewordFor(text: string, from: number, to: number): string {
  return text.replaceAll(forPhrase(from), forPhrase(to));
}

/**
 * The rule file of a profile: production verbatim; otherwise each `for` (and the description stating it) changed
 * and nothing else, so the expressions stay byte for byte those of production.
 */
export function renderRules(source: StackSource, timing: Timing, profile: ProfileName): string {
  if (profile === 'production') return source.rulesText;
  const production = Object.fromEntries(source.rules.map((rule) => [rule.alert, rule.for]));
  const doc = parseDocument(source.rulesText);
  const groups = doc.get('groups');
  if (!isSeq(groups)) throw new Error('the rule file has no groups');
  for (const group of groups.items) {
    const rules = isMap(group) ? group.get('rules') : undefined;
    if (!isSeq(rules)) continue;
    for (const rule of rules.items) {
      if (!isMap(rule)) continue;
      const alert = rule.get('alert');
      if (typeof alert !== 'string' || !rule.has('for')) continue;
      const from = production[alert] as number;
      const to = timing.for[alert] ?? from;
      rule.set('for', formatDuration(to));
      const description = rule.getIn(['annotations', 'description']);
      if (typeof description !== 'string' || !description.includes(forPhrase(from))) {
        throw new Error(
          `the description of ${alert} must say "${forPhrase(from)}" so that other profiles can restate it`,
        );
      }
      const annotations = rule.get('annotations');
      if (isMap(annotations)) {
        for (const pair of annotations.items) {
          // Changing the scalar in place keeps its quoting style.
          if (isScalar(pair.value) && typeof pair.value.value === 'string') {
            pair.value.value = rewordFor(pair.value.value, from, to);
          }
        }
      }
    }
  }
  doc.commentBefore = [
    ` Rendered by stack/profile.ts for the ${profile} profile from stack/prometheus/rules/selfheal.rules.yml:`,
    ' the same expressions; each `for`, and the description stating it, shortened.',
    ...(doc.commentBefore ? [doc.commentBefore] : []),
  ].join('\n');
  return doc.toString({ lineWidth: 0 });
}

function checkUrl(text: string, what: string, protocols: readonly string[]): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${what} "${text}" is not a URL`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new Error(`${what} "${text}" must start with ${protocols.map((p) => `${p}//`).join(' or ')}`);
  }
  return url;
}

function checkFile(path: string, what: string): string {
  if (!path) throw new Error(`${what} is empty`);
  return resolve(path);
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
  (addressRules[0] as z.infer<typeof RelabelRule>).replacement = apiUrl.port
    ? apiUrl.host
    : `${apiUrl.hostname}:443`;
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

/** alertmanager.yml for a profile; with `router`, delivering to a router at another address. */
export function renderAlertmanagerConfig(
  source: StackSource,
  options: { timing: Timing; profile: ProfileName; router?: RouterTarget },
): AlertmanagerConfig {
  const config = structuredClone(source.alertmanagerConfig);
  if (options.profile !== 'production') {
    const { timing } = options;
    const retime = (route: AlertmanagerRoute, isRoot: boolean) => {
      if (isRoot || route.group_wait) route.group_wait = formatDuration(timing.groupWait);
      if (isRoot || route.group_interval) route.group_interval = formatDuration(timing.groupInterval);
      if (isRoot || route.repeat_interval) route.repeat_interval = formatDuration(timing.repeatInterval);
      for (const child of route.routes ?? []) retime(child, false);
    };
    retime(config.route, true);
  }
  const router = options.router;
  if (!router) return config;
  const url = checkUrl(router.url, 'router.url', ['http:', 'https:']);
  const receiver = config.receivers.find((candidate) => candidate.name === ROUTER_RECEIVER);
  const webhooks = receiver?.webhook_configs ?? [];
  if (webhooks.length !== 1) {
    throw new Error(`alertmanager.yml must have a ${ROUTER_RECEIVER} receiver with exactly one webhook`);
  }
  const webhook = webhooks[0] as Record<string, unknown>;
  webhook.url = url.href;
  const httpConfig = (webhook.http_config ?? {}) as Record<string, unknown>;
  webhook.http_config = {
    ...httpConfig,
    authorization: { type: 'Bearer', credentials_file: checkFile(router.tokenFile, 'router.tokenFile') },
  };
  return config;
}

function yamlWithHeader(value: unknown, header: string): string {
  const doc = new Document(value);
  doc.commentBefore = header;
  return doc.toString({ lineWidth: 0 });
}

export interface RenderOptions {
  profile: ProfileName;
  /** Directory the three files are written to (created if missing). */
  outDir: string;
  /** Addresses and credentials outside the cluster; omit to keep the in-cluster ones. */
  local?: LocalPrometheusTargets;
  /** The router's address and token file; omit to keep the in-cluster router. */
  router?: RouterTarget;
  /** Production files to start from (tests); defaults to the ones in stack/. */
  source?: StackSource;
}

export interface RenderedStack {
  profile: ProfileName;
  timing: Timing;
  prometheusConfig: string;
  rules: string;
  alertmanagerConfig: string;
  /** Flags Prometheus needs besides its storage path and listen address. */
  prometheusArgs: string[];
  /** Flags Alertmanager needs besides its storage path, listen address and cluster settings. */
  alertmanagerArgs: string[];
  detectionFloor: DetectionFloor[];
}

/** Writes prometheus.yml, rules/selfheal.rules.yml and alertmanager.yml for a profile into outDir. */
export async function renderStack(options: RenderOptions): Promise<RenderedStack> {
  if (!PROFILE_NAMES.includes(options.profile)) {
    throw new Error(`unknown profile "${options.profile}"; use one of: ${PROFILE_NAMES.join(', ')}`);
  }
  if (!isAbsolute(options.outDir))
    throw new Error(`outDir must be an absolute path, got "${options.outDir}"`);
  const source = options.source ?? (await loadStack());
  const timing = profileTiming(source, options.profile);
  const files = {
    prometheusConfig: join(options.outDir, 'prometheus.yml'),
    rules: join(options.outDir, 'rules', 'selfheal.rules.yml'),
    alertmanagerConfig: join(options.outDir, 'alertmanager.yml'),
  };
  const header = (file: string) =>
    ` Rendered by stack/profile.ts from ${file} for the ${options.profile} profile${options.local || options.router ? ' with local addresses' : ''}.`;
  const prometheusConfig = renderPrometheusConfig(source, {
    timing,
    rulesFile: files.rules,
    ...(options.local ? { local: options.local } : {}),
  });
  const alertmanagerConfig = renderAlertmanagerConfig(source, {
    timing,
    profile: options.profile,
    ...(options.router ? { router: options.router } : {}),
  });
  await mkdir(dirname(files.rules), { recursive: true });
  await Promise.all([
    writeFile(
      files.prometheusConfig,
      yamlWithHeader(prometheusConfig, header('stack/prometheus/prometheus.yml')),
    ),
    writeFile(files.rules, renderRules(source, timing, options.profile)),
    writeFile(
      files.alertmanagerConfig,
      yamlWithHeader(alertmanagerConfig, header('stack/alertmanager/alertmanager.yml')),
    ),
  ]);
  return {
    profile: options.profile,
    timing,
    ...files,
    prometheusArgs: [`--config.file=${files.prometheusConfig}`, PROMETHEUS_RETENTION_FLAG],
    alertmanagerArgs: [`--config.file=${files.alertmanagerConfig}`],
    detectionFloor: detectionFloor(source, timing),
  };
}
