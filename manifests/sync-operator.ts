// Writes the prometheus-operator resources of components/kube-prometheus-stack from stack/ and grafana/dashboards/:
// PrometheusRule, PodMonitors, AlertmanagerConfig, the dashboards as ConfigMaps for Grafana's sidecar, and each
// platform's router address. kustomize reads no file outside its tree, so the component holds these generated copies;
// operator.test.ts fails when one is stale. Run: node manifests/sync-operator.ts
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import {
  knativeResources,
  openfaasResources,
  operatorResources,
  RESOURCE_NAMES,
} from '../stack/operator/resources.ts';
import { loadStack } from '../stack/source.ts';
import { ROUTER_URLS } from './sync-config.ts';

const ROOT = join(import.meta.dirname, '..');
export const COMPONENT = 'components/kube-prometheus-stack';
const DASHBOARDS = join(ROOT, 'grafana', 'dashboards');

/** Tested compositions: a platform overlay with the cluster's kube-prometheus-stack (paths under manifests/). */
export const EXAMPLES = {
  openfaas: 'examples/kube-prometheus-stack/openfaas',
  knative: 'examples/kube-prometheus-stack/knative',
} as const;

/** selfheal's namespace, and the Secret Alertmanager's webhook token comes from (manifests/README.md). */
export const SELFHEAL_NAMESPACE = 'selfheal';
export const WEBHOOK_TOKEN_SECRET = { name: 'selfheal-webhook-token', key: 'token' } as const;

/**
 * The cluster's Alertmanager, where the actions post SelfhealEscalation when a breaker opens: the Service
 * prometheus-operator creates for every Alertmanager it runs, in the namespace kube-prometheus-stack is installed to.
 */
export const CLUSTER_ALERTMANAGER_URL = 'http://alertmanager-operated.monitoring.svc:9093';
const KNATIVE_SERVICES = join(import.meta.dirname, 'overlays', 'knative', 'services.yaml');
const ACTIONS = ['restart-pod', 'redeploy', 'scale'];

/** The label and value kube-prometheus-stack's Grafana sidecar looks for (its chart defaults). */
export const DASHBOARD_LABEL = { grafana_dashboard: '1' } as const;

function banner(sources: string): string {
  return `# Generated from ${sources} by \`node manifests/sync-operator.ts\`: edit the source.\n`;
}

function documents(objects: readonly unknown[]): string {
  return objects.map((object) => `---\n${stringify(object, { lineWidth: 0 })}`).join('');
}

/** One ConfigMap per dashboard of grafana/dashboards/, labelled for the Grafana sidecar. */
export function dashboardConfigMaps(dir: string = DASHBOARDS): object[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: `selfheal-dashboard-${basename(file, '.json')}`,
        namespace: SELFHEAL_NAMESPACE,
        labels: { 'app.kubernetes.io/part-of': 'selfheal', ...DASHBOARD_LABEL },
        // The sidecar's folder annotation (sidecar.dashboards.folderAnnotation), when the chart sets one.
        annotations: { grafana_folder: 'selfheal' },
      },
      data: { [file]: readFileSync(join(dir, file), 'utf8') },
    }));
}

/** A JSON patch setting the AlertmanagerConfig's webhook URL: the router as a platform exposes it. */
function routerUrlPatch(url: string): object[] {
  return [{ op: 'replace', path: '/spec/receivers/0/webhookConfigs/0/url', value: url }];
}

/**
 * A JSON patch pointing the Knative actions' SELFHEAL_ALERTMANAGER_URL at the cluster's Alertmanager (the bundled one
 * is removed). The variable sits at the same place in each action's env; the `test` op makes kustomize refuse the
 * patch should it ever move.
 */
export function alertmanagerUrlPatch(servicesText = readFileSync(KNATIVE_SERVICES, 'utf8')): object[] {
  type Service = {
    metadata: { name: string };
    spec: { template: { spec: { containers: { env?: { name: string }[] }[] } } };
  };
  const services = parseAllDocuments(servicesText).map((doc) => doc.toJS() as Service);
  const indexes = new Set(
    services
      .filter((service) => ACTIONS.includes(service.metadata.name))
      .map((service) =>
        (service.spec.template.spec.containers[0]?.env ?? []).findIndex(
          (variable) => variable.name === 'SELFHEAL_ALERTMANAGER_URL',
        ),
      ),
  );
  const [index] = [...indexes];
  if (indexes.size !== 1 || index === undefined || index < 0) {
    throw new Error(
      `${KNATIVE_SERVICES}: SELFHEAL_ALERTMANAGER_URL must sit at one place in every action's env`,
    );
  }
  const path = `/spec/template/spec/containers/0/env/${index}`;
  return [
    { op: 'test', path: `${path}/name`, value: 'SELFHEAL_ALERTMANAGER_URL' },
    { op: 'replace', path: `${path}/value`, value: CLUSTER_ALERTMANAGER_URL },
  ];
}

/** Path (relative to manifests/) → content of every generated file. */
export async function renderOperatorFiles(): Promise<Map<string, string>> {
  const source = await loadStack();
  const files = new Map<string, string>();
  const options = { namespace: SELFHEAL_NAMESPACE, webhookTokenSecret: WEBHOOK_TOKEN_SECRET };
  const resources = operatorResources(source, options);
  files.set(
    `${COMPONENT}/generated/operator-resources.yaml`,
    banner('stack/prometheus and stack/alertmanager') + documents(resources),
  );
  files.set(
    `${COMPONENT}/generated/dashboards.yaml`,
    banner('grafana/dashboards') + documents(dashboardConfigMaps()),
  );
  files.set(
    `${COMPONENT}/openfaas/gateway-podmonitor.yaml`,
    banner('stack/prometheus/prometheus.yml (job openfaas-gateway)') +
      documents(openfaasResources(source, options)),
  );
  files.set(
    `${COMPONENT}/knative/queue-proxy-podmonitor.yaml`,
    banner('stack/prometheus/prometheus.yml (job knative-queue-proxy)') +
      documents(knativeResources(source, options)),
  );
  for (const [platform, url] of Object.entries(ROUTER_URLS)) {
    files.set(
      `${COMPONENT}/${platform}/router-url.yaml`,
      banner(`manifests/sync-config.ts (ROUTER_URLS.${platform})`) +
        `# The AlertmanagerConfig ${RESOURCE_NAMES.alertmanagerConfig} delivers to the router at ${url}.\n` +
        stringify(routerUrlPatch(url), { lineWidth: 0 }),
    );
  }
  files.set(
    `${COMPONENT}/knative/alertmanager-url.yaml`,
    banner('manifests/overlays/knative/services.yaml and CLUSTER_ALERTMANAGER_URL') +
      "# The actions post SelfhealEscalation to the cluster's Alertmanager (the bundled one is removed).\n" +
      stringify(alertmanagerUrlPatch(), { lineWidth: 0 }),
  );
  return files;
}

if (import.meta.main) {
  for (const [path, content] of await renderOperatorFiles()) {
    writeFileSync(join(import.meta.dirname, path), content);
    console.log(`wrote manifests/${path}`);
  }
}
