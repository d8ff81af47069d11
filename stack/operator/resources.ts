// The stack/ rules, scraping and routing as prometheus-operator resources: PrometheusRule, PodMonitors and an
// AlertmanagerConfig, rendered from the same files the plain Prometheus and Alertmanager run.
import { parse } from 'yaml';
import { z } from 'zod';
import { OPT_IN_LABEL } from '../opt-in.ts';
import { type AlertmanagerConfig, JOB_NAMES, ROUTER_RECEIVER, type StackSource } from '../source.ts';
import { type OperatorMatcher, parseMatcher } from './matchers.ts';
import { type OperatorRelabelConfig, toOperatorRelabels } from './relabel.ts';

export const MONITORING_API = 'monitoring.coreos.com/v1';
export const ALERTMANAGER_CONFIG_API = 'monitoring.coreos.com/v1alpha1';

/** The label every selfheal function's pods carry (stack.yml, the Knative Services, the playground). */
export const FUNCTION_LABEL = 'selfheal.dev/function';

/** Names of the generated resources, for the components, the tests and the README. */
export const RESOURCE_NAMES = {
  rule: 'selfheal',
  workloads: 'selfheal-workloads',
  functions: 'selfheal-functions',
  gateway: 'openfaas-gateway',
  queueProxy: 'knative-queue-proxy',
  alertmanagerConfig: 'selfheal',
} as const;

export interface OperatorObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: Record<string, unknown>;
}

export interface OperatorOptions {
  /** Where the resources live (selfheal's own namespace). */
  namespace: string;
  /** The router as Alertmanager reaches it; default: the URL of stack/alertmanager/alertmanager.yml. */
  routerUrl?: string;
  /** The Secret (in `namespace`) holding the router's webhook token. */
  webhookTokenSecret: { name: string; key: string };
  /** Labels for every resource, e.g. the `release` label kube-prometheus-stack selects by. */
  labels?: Record<string, string>;
}

const RuleFile = z.object({
  groups: z.array(
    z.looseObject({
      name: z.string(),
      interval: z.string().optional(),
      rules: z.array(z.looseObject({ alert: z.string().optional(), record: z.string().optional() })),
    }),
  ),
});

const PodSdConfig = z.looseObject({
  role: z.literal('pod'),
  namespaces: z.looseObject({ names: z.array(z.string()) }).optional(),
});

function meta(name: string, options: OperatorOptions) {
  return {
    name,
    namespace: options.namespace,
    labels: { 'app.kubernetes.io/part-of': 'selfheal', ...options.labels },
  };
}

/** The rule groups of the rule file, each evaluated at the production evaluation interval unless it says otherwise. */
export function prometheusRule(source: StackSource, options: OperatorOptions): OperatorObject {
  const parsed = RuleFile.parse(parse(source.rulesText));
  const interval = source.prometheusConfig.global.evaluation_interval;
  return {
    apiVersion: MONITORING_API,
    kind: 'PrometheusRule',
    metadata: meta(RESOURCE_NAMES.rule, options),
    spec: {
      groups: parsed.groups.map(({ name, ...group }) => ({
        name,
        // kube-prometheus-stack evaluates every 30 s by default; the `for` durations assume the production interval.
        ...(interval && !group.interval ? { interval } : {}),
        ...group,
      })),
    },
  };
}

function job(source: StackSource, name: string) {
  const found = source.prometheusConfig.scrape_configs.find((candidate) => candidate.job_name === name);
  if (!found) throw new Error(`prometheus.yml has no scrape job named ${name}`);
  return found;
}

function podJob(
  source: StackSource,
  name: string,
): { relabelings: OperatorRelabelConfig[]; namespaces?: string[] } {
  const found = job(source, name);
  const [sd, ...more] = found.kubernetes_sd_configs ?? [];
  const pod = PodSdConfig.safeParse(sd);
  if (!pod.success || more.length > 0)
    throw new Error(`the ${name} job must discover with exactly one role: pod`);
  return {
    relabelings: toOperatorRelabels(found.relabel_configs ?? [], `prometheus.yml job ${name}`),
    ...(pod.data.namespaces ? { namespaces: pod.data.namespaces.names } : {}),
  };
}

function podMonitor(
  name: string,
  spec: { selector: Record<string, unknown>; namespaceSelector: Record<string, unknown> },
  relabelings: OperatorRelabelConfig[],
  source: StackSource,
  options: OperatorOptions,
): OperatorObject {
  const interval = source.prometheusConfig.global.scrape_interval;
  return {
    apiVersion: MONITORING_API,
    kind: 'PodMonitor',
    metadata: meta(name, options),
    spec: {
      ...spec,
      podMetricsEndpoints: [{ ...(interval ? { interval } : {}), relabelings }],
    },
  };
}

/**
 * The scraping of prometheus.yml that the operator's stack does not do itself (kube-prometheus-stack scrapes cAdvisor
 * and kube-state-metrics already): opted-in workloads and the functions with the `kubernetes-pods` job's relabelling
 * (so the same prometheus.io/* annotations decide port and path, and the series get the same labels), and the
 * OpenFaaS gateway with its own job's.
 */
export function podMonitors(source: StackSource, options: OperatorOptions): OperatorObject[] {
  const pods = podJob(source, JOB_NAMES.pods);
  const gateway = podJob(source, JOB_NAMES.openfaasGateway);
  const queueProxy = podJob(source, JOB_NAMES.knativeQueueProxy);
  const anyNamespace = { any: true };
  return [
    podMonitor(
      RESOURCE_NAMES.workloads,
      { selector: { matchLabels: { [OPT_IN_LABEL]: 'true' } }, namespaceSelector: anyNamespace },
      pods.relabelings,
      source,
      options,
    ),
    podMonitor(
      RESOURCE_NAMES.functions,
      {
        selector: { matchExpressions: [{ key: FUNCTION_LABEL, operator: 'Exists' }] },
        namespaceSelector: anyNamespace,
      },
      pods.relabelings,
      source,
      options,
    ),
    podMonitor(
      RESOURCE_NAMES.gateway,
      {
        selector: { matchLabels: { app: 'gateway' } },
        namespaceSelector: gateway.namespaces ? { matchNames: gateway.namespaces } : anyNamespace,
      },
      gateway.relabelings,
      source,
      options,
    ),
    podMonitor(
      RESOURCE_NAMES.queueProxy,
      {
        // Knative Serving's revision pods of the functions: the functions' label is on the revision template.
        selector: { matchExpressions: [{ key: FUNCTION_LABEL, operator: 'Exists' }] },
        namespaceSelector: queueProxy.namespaces ? { matchNames: queueProxy.namespaces } : anyNamespace,
      },
      queueProxy.relabelings,
      source,
      options,
    ),
  ];
}

interface Route {
  receiver?: string;
  matchers?: string[];
  group_by?: string[];
  group_wait?: string;
  group_interval?: string;
  repeat_interval?: string;
  routes?: Route[];
}

/** The route that leads to the router, with what it inherits from its parents. */
function routerRoute(root: Route): { matchers: string[]; settings: Route } {
  const walk = (
    route: Route,
    inherited: Route,
    matchers: string[],
  ): { matchers: string[]; settings: Route } | undefined => {
    const settings: Route = {
      group_by: route.group_by ?? inherited.group_by,
      group_wait: route.group_wait ?? inherited.group_wait,
      group_interval: route.group_interval ?? inherited.group_interval,
      repeat_interval: route.repeat_interval ?? inherited.repeat_interval,
    };
    const own = [...matchers, ...(route === root ? [] : (route.matchers ?? []))];
    if (route.receiver === ROUTER_RECEIVER && route !== root) return { matchers: own, settings };
    for (const child of route.routes ?? []) {
      const found = walk(child, settings, own);
      if (found) return found;
    }
    return undefined;
  };
  const found = walk(root, {}, []);
  if (!found)
    throw new Error(`alertmanager.yml has no route to the ${ROUTER_RECEIVER} receiver below its root`);
  return found;
}

const Webhook = z.looseObject({
  url: z.string(),
  send_resolved: z.boolean().optional(),
  max_alerts: z.number().int().optional(),
  timeout: z.string().optional(),
});

/**
 * The router's route and receiver as an AlertmanagerConfig. The operator nests its route under the root of the
 * generated configuration, first and with `continue: true`, so the team's own routes still see every alert. Its
 * default `alertmanagerConfigMatcherStrategy` (OnNamespace) would add a `namespace="<this namespace>"` matcher, while
 * the alerts carry the namespace of the workload: the Alertmanager must select it with strategy `None`.
 */
export function alertmanagerConfig(source: StackSource, options: OperatorOptions): OperatorObject {
  const config: AlertmanagerConfig = source.alertmanagerConfig;
  const { matchers, settings } = routerRoute(config.route as Route);
  const receiver = config.receivers.find((candidate) => candidate.name === ROUTER_RECEIVER);
  const [webhook, ...others] = receiver?.webhook_configs ?? [];
  if (!webhook || others.length > 0) {
    throw new Error(`alertmanager.yml must have a ${ROUTER_RECEIVER} receiver with exactly one webhook`);
  }
  const hook = Webhook.parse(webhook);
  const route: Record<string, unknown> = {
    receiver: ROUTER_RECEIVER,
    matchers: matchers.map((text): OperatorMatcher => parseMatcher(text)),
    ...(settings.group_by ? { groupBy: settings.group_by } : {}),
    ...(settings.group_wait ? { groupWait: settings.group_wait } : {}),
    ...(settings.group_interval ? { groupInterval: settings.group_interval } : {}),
    ...(settings.repeat_interval ? { repeatInterval: settings.repeat_interval } : {}),
  };
  return {
    apiVersion: ALERTMANAGER_CONFIG_API,
    kind: 'AlertmanagerConfig',
    metadata: meta(RESOURCE_NAMES.alertmanagerConfig, options),
    spec: {
      route,
      receivers: [
        {
          name: ROUTER_RECEIVER,
          webhookConfigs: [
            {
              url: options.routerUrl ?? hook.url,
              sendResolved: hook.send_resolved ?? true,
              ...(hook.max_alerts !== undefined ? { maxAlerts: hook.max_alerts } : {}),
              ...(hook.timeout !== undefined ? { timeout: hook.timeout } : {}),
              httpConfig: {
                authorization: { type: 'Bearer', credentials: { ...options.webhookTokenSecret } },
              },
            },
          ],
        },
      ],
    },
  };
}

/** What selfheal needs from the operator on any platform: rules, scraping of workloads and functions, routing. */
const PLATFORM_MONITORS: string[] = [RESOURCE_NAMES.gateway, RESOURCE_NAMES.queueProxy];

export function operatorResources(source: StackSource, options: OperatorOptions): OperatorObject[] {
  const monitors = podMonitors(source, options).filter(
    (object) => !PLATFORM_MONITORS.includes(object.metadata.name),
  );
  return [prometheusRule(source, options), ...monitors, alertmanagerConfig(source, options)];
}

/** What Knative adds: the queue-proxy's request metrics (port 9091). */
export function knativeResources(source: StackSource, options: OperatorOptions): OperatorObject[] {
  return podMonitors(source, options).filter((object) => object.metadata.name === RESOURCE_NAMES.queueProxy);
}

/** What OpenFaaS adds: the gateway's metrics. */
export function openfaasResources(source: StackSource, options: OperatorOptions): OperatorObject[] {
  return podMonitors(source, options).filter((object) => object.metadata.name === RESOURCE_NAMES.gateway);
}
