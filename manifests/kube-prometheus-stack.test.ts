// The kube-prometheus-stack path: the generated prometheus-operator resources are current and say what stack/ says,
// and the component turns a platform overlay into one that installs no Prometheus, Alertmanager or
// kube-state-metrics of its own, with the sample app and the demo namespace each optional.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { FUNCTION_LABEL, RESOURCE_NAMES } from '../stack/operator/resources.ts';
import { KSM_LABELS_ALLOWLIST_ENTRIES, KSM_LABELS_ALLOWLIST_FLAG, OPT_IN_LABEL } from '../stack/opt-in.ts';
import { JOB_NAMES, loadStack, ROUTER_RECEIVER } from '../stack/source.ts';
import { useNamespace } from '../test/helpers/cluster.ts';
import { dryRun, intoNamespace } from './dry-run.ts';
import { readStack } from './openfaas-functions.ts';
import { describe, isBuiltIn, type K8sObject, MANIFESTS_DIR, REPO_ROOT, render } from './render.ts';
import { ROUTER_URLS } from './sync-config.ts';
import {
  CLUSTER_ALERTMANAGER_URL,
  DASHBOARD_LABEL,
  EXAMPLES,
  renderOperatorFiles,
  WEBHOOK_TOKEN_SECRET,
} from './sync-operator.ts';

const BUNDLED = ['prometheus', 'alertmanager', 'kube-state-metrics'];

type Spec = Record<string, unknown> & {
  groups?: { name: string; interval?: string; rules: { alert: string; expr: string; for?: string }[] }[];
};
const specOf = (object: K8sObject) => object.spec as Spec;

/** Every container image an object names, wherever its pod template sits. */
function imagesOf(object: K8sObject): string[] {
  const found: string[] = [];
  const walk = (value: unknown, key?: string): void => {
    if (typeof value === 'string' && key === 'image') found.push(value);
    else if (Array.isArray(value)) for (const item of value) walk(item);
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, k);
  };
  walk(object.spec);
  return found;
}

function named(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map(describe).join(', ')}`);
  return found;
}

test('the generated prometheus-operator resources are current', async (t) => {
  for (const [path, content] of await renderOperatorFiles()) {
    t.is(
      await readFile(join(MANIFESTS_DIR, path), 'utf8'),
      content,
      `${path} is stale: run node manifests/sync-operator.ts`,
    );
  }
});

test('the PrometheusRule holds the five rules of stack/ byte for byte, evaluated at the production interval', async (t) => {
  const source = await loadStack();
  const objects = await render(EXAMPLES.openfaas);
  const rule = specOf(named(objects, 'PrometheusRule', RESOURCE_NAMES.rule));
  const plain = parse(source.rulesText) as Spec;
  t.deepEqual(
    rule.groups?.map((group) => ({ ...group, interval: undefined })),
    plain.groups?.map((group) => ({ ...group, interval: undefined })),
  );
  t.deepEqual(
    rule.groups?.flatMap((group) => group.rules.map((r) => r.alert)),
    ['HighMemoryUsage', 'PodCrashLooping', 'HighErrorRate', 'PodNotReady', 'HighCPUUsage'],
  );
  for (const group of rule.groups ?? [])
    t.is(group.interval, source.prometheusConfig.global.evaluation_interval);
});

test('the PodMonitors scrape opted-in workloads and the functions with the production relabelling, the gateway with its own', async (t) => {
  const source = await loadStack();
  const objects = await render(EXAMPLES.openfaas);
  const back = (rules: Record<string, unknown>[]) =>
    rules.map((r) => ({
      ...(r.sourceLabels ? { source_labels: r.sourceLabels } : {}),
      ...(r.separator !== undefined ? { separator: r.separator } : {}),
      ...(r.targetLabel !== undefined ? { target_label: r.targetLabel } : {}),
      ...(r.regex !== undefined ? { regex: r.regex } : {}),
      ...(r.replacement !== undefined ? { replacement: r.replacement } : {}),
      ...(r.action !== undefined ? { action: r.action } : {}),
    }));
  const jobRelabels = (name: string) =>
    source.prometheusConfig.scrape_configs.find((job) => job.job_name === name)?.relabel_configs;
  const endpoint = (name: string) =>
    (
      specOf(named(objects, 'PodMonitor', name)).podMetricsEndpoints as {
        interval: string;
        relabelings: Record<string, unknown>[];
      }[]
    )[0];

  const workloads = named(objects, 'PodMonitor', RESOURCE_NAMES.workloads);
  t.deepEqual(specOf(workloads).selector, { matchLabels: { [OPT_IN_LABEL]: 'true' } });
  t.deepEqual(specOf(workloads).namespaceSelector, { any: true });
  t.deepEqual(back(endpoint(RESOURCE_NAMES.workloads)?.relabelings ?? []), jobRelabels(JOB_NAMES.pods));
  t.is(endpoint(RESOURCE_NAMES.workloads)?.interval, source.prometheusConfig.global.scrape_interval);

  const functions = named(objects, 'PodMonitor', RESOURCE_NAMES.functions);
  t.deepEqual(specOf(functions).selector, {
    matchExpressions: [{ key: FUNCTION_LABEL, operator: 'Exists' }],
  });
  t.deepEqual(back(endpoint(RESOURCE_NAMES.functions)?.relabelings ?? []), jobRelabels(JOB_NAMES.pods));

  const gateway = named(objects, 'PodMonitor', RESOURCE_NAMES.gateway);
  t.deepEqual(specOf(gateway).namespaceSelector, { matchNames: ['openfaas'] });
  t.deepEqual(
    back(endpoint(RESOURCE_NAMES.gateway)?.relabelings ?? []),
    jobRelabels(JOB_NAMES.openfaasGateway),
  );
  t.false(
    (await render(EXAMPLES.knative)).some(
      (o) => o.kind === 'PodMonitor' && o.metadata.name === RESOURCE_NAMES.gateway,
    ),
    'no gateway to scrape on Knative',
  );

  // On Knative, the queue-proxy's request metrics (port 9091) with the knative-queue-proxy job's relabelling.
  const knative = await render(EXAMPLES.knative);
  const queueProxy = named(knative, 'PodMonitor', RESOURCE_NAMES.queueProxy);
  t.deepEqual(specOf(queueProxy).namespaceSelector, { matchNames: ['selfheal'] });
  const queueProxyEndpoint = (
    specOf(queueProxy).podMetricsEndpoints as { relabelings: Record<string, unknown>[] }[]
  )[0];
  t.deepEqual(back(queueProxyEndpoint?.relabelings ?? []), jobRelabels(JOB_NAMES.knativeQueueProxy));
  t.false(
    objects.some((o) => o.kind === 'PodMonitor' && o.metadata.name === RESOURCE_NAMES.queueProxy),
    'no queue-proxy to scrape on OpenFaaS',
  );
  const admitted = knative.find(
    (o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'cluster-monitoring-queue-proxy',
  );
  t.deepEqual((specOf(admitted as K8sObject).ingress as { ports: { port: number }[] }[])[0]?.ports, [
    { port: 9091 },
  ]);
});

for (const [platform, tree] of Object.entries(EXAMPLES) as [keyof typeof EXAMPLES, string][]) {
  test(`${tree}: no Prometheus, Alertmanager or kube-state-metrics of its own, nothing left pointing at them`, async (t) => {
    const objects = await render(tree);
    const leftovers = objects.filter(
      (o) =>
        BUNDLED.includes(o.metadata.labels?.['app.kubernetes.io/name'] ?? '') ||
        /^(prometheus|alertmanager)-config/.test(o.metadata.name) ||
        (o.kind === 'NetworkPolicy' && BUNDLED.includes(o.metadata.name)) ||
        imagesOf(o).some((image) => /prometheus|alertmanager|kube-state-metrics/.test(image)),
    );
    t.deepEqual(leftovers.map(describe), []);
    // Everything else of the platform overlay is still there.
    const overlay = (await render(`overlays/${platform}`)).filter(
      (o) =>
        !BUNDLED.includes(o.metadata.labels?.['app.kubernetes.io/name'] ?? '') &&
        !/^(prometheus|alertmanager)-config/.test(o.metadata.name) &&
        !(o.kind === 'NetworkPolicy' && BUNDLED.includes(o.metadata.name)),
    );
    const kept = new Set(objects.map(describe));
    t.deepEqual(
      overlay.map(describe).filter((name) => !kept.has(name)),
      [],
    );
  });

  test(`${tree}: the AlertmanagerConfig routes action-labelled alerts to the ${platform} router with the token Secret`, async (t) => {
    const source = await loadStack();
    const config = specOf(
      named(await render(tree), 'AlertmanagerConfig', RESOURCE_NAMES.alertmanagerConfig),
    ) as {
      route: Record<string, unknown>;
      receivers: { name: string; webhookConfigs: Record<string, unknown>[] }[];
    };
    const root = source.alertmanagerConfig.route as Record<string, unknown>;
    t.like(config.route, {
      receiver: ROUTER_RECEIVER,
      matchers: [{ name: 'action', matchType: '=~', value: '.+' }],
      groupBy: root.group_by,
      groupWait: root.group_wait,
      groupInterval: root.group_interval,
      repeatInterval: root.repeat_interval,
    });
    const [receiver] = config.receivers;
    t.is(receiver?.name, ROUTER_RECEIVER);
    t.like(receiver?.webhookConfigs[0], {
      url: ROUTER_URLS[platform],
      sendResolved: true,
      httpConfig: { authorization: { type: 'Bearer', credentials: WEBHOOK_TOKEN_SECRET } },
    });
  });

  test(`${tree}: the dashboards are ConfigMaps Grafana's sidecar picks up`, async (t) => {
    const dashboards = (await render(tree)).filter(
      (o) =>
        o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === DASHBOARD_LABEL.grafana_dashboard,
    );
    t.true(dashboards.length > 0);
    for (const configMap of dashboards) {
      for (const [key, text] of Object.entries(
        (configMap as K8sObject & { data: Record<string, string> }).data,
      )) {
        t.true(key.endsWith('.json'), key);
        const dashboard = JSON.parse(text) as { uid?: string; title?: string };
        t.truthy(dashboard.uid && dashboard.title, `${key} is a dashboard`);
      }
    }
  });

  test(`${tree}: the API server accepts every built-in object (server-side dry run, strict fields)`, async (t) => {
    const objects = (await render(tree)).filter(isBuiltIn);
    const { name: namespace, cluster } = await useNamespace(t, `kps-${platform}`);
    const result = await dryRun(intoNamespace(objects, namespace), cluster.kubeconfigPath);
    t.true(result.ok, result.errors);
    t.is(result.accepted.length, objects.length);
  });
}

test("the actions post SelfhealEscalation to the cluster's Alertmanager, not to the bundled one the component removes", async (t) => {
  type Env = { name: string; value?: string }[];
  const envOf = (o: K8sObject) =>
    ((o.spec as { template?: { spec?: { containers?: { env?: Env }[] } } })?.template?.spec?.containers ?? [])
      .flatMap((c) => c.env ?? [])
      .filter((v) => v.name === 'SELFHEAL_ALERTMANAGER_URL')
      .map((v) => v.value);
  // Knative: the Services come from the overlay and the component's patch.
  const knative = (await render(EXAMPLES.knative)).filter((o) => o.kind === 'Service' && envOf(o).length > 0);
  t.deepEqual(knative.map((o) => o.metadata.name).sort(), ['redeploy', 'restart-pod', 'scale']);
  for (const service of knative)
    t.deepEqual(envOf(service), [CLUSTER_ALERTMANAGER_URL], service.metadata.name);
  // OpenFaaS: faas-cli substitutes it into stack.yml (README: export SELFHEAL_ALERTMANAGER_URL before deploying).
  const stack = readStack(undefined, { SELFHEAL_ALERTMANAGER_URL: CLUSTER_ALERTMANAGER_URL });
  for (const name of ['restart-pod', 'redeploy', 'scale'])
    t.is(stack.functions[name]?.environment?.SELFHEAL_ALERTMANAGER_URL, CLUSTER_ALERTMANAGER_URL, name);
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  t.true(readme.includes(`SELFHEAL_ALERTMANAGER_URL=${CLUSTER_ALERTMANAGER_URL}`), 'README says how');
});

test('the sample app and the demo namespace are each optional', async (t) => {
  // A user's own kustomization, beside the repository: the platform overlay, the cluster's monitoring, no demo.
  const dir = join(REPO_ROOT, '.tmp', `kustomize-${process.pid}`);
  await mkdir(dir, { recursive: true });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const variants = {
    'without-demo-app': ['components/without-demo-app'],
    'without-demo': ['components/without-demo-app', 'components/without-demo-namespace'],
  };
  for (const [name, extra] of Object.entries(variants)) {
    await mkdir(join(dir, name), { recursive: true });
    await writeFile(
      join(dir, name, 'kustomization.yaml'),
      [
        'resources:',
        `  - ${relative(join(dir, name), join(MANIFESTS_DIR, 'overlays/openfaas'))}`,
        'components:',
        ...['components/kube-prometheus-stack', 'components/kube-prometheus-stack/openfaas', ...extra].map(
          (c) => `  - ${relative(join(dir, name), join(MANIFESTS_DIR, c))}`,
        ),
        '',
      ].join('\n'),
    );
  }
  const withoutApp = await render(relative(MANIFESTS_DIR, join(dir, 'without-demo-app')));
  t.false(withoutApp.some((o) => o.metadata.name === 'demo-app'));
  t.true(withoutApp.some((o) => o.kind === 'Namespace' && o.metadata.name === 'demo'));
  t.true(withoutApp.some((o) => o.kind === 'RoleBinding' && o.metadata.namespace === 'demo'));

  const withoutDemo = await render(relative(MANIFESTS_DIR, join(dir, 'without-demo')));
  t.deepEqual(
    withoutDemo
      .filter(
        (o) => o.metadata.namespace === 'demo' || (o.kind === 'Namespace' && o.metadata.name === 'demo'),
      )
      .map(describe),
    [],
  );
  // What selfheal itself needs is all still there.
  for (const name of ['router', 'restart-pod', 'redeploy', 'scale'])
    t.true(
      withoutDemo.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === name),
      name,
    );
  t.true(withoutDemo.some((o) => o.kind === 'PrometheusRule'));
});

test('kube-state-metrics exports the opt-in label the rules and dashboards read, in the bundled stack and in the README', async (t) => {
  const ksm = (await render('base')).find(
    (o) => o.kind === 'Deployment' && o.metadata.name === 'kube-state-metrics',
  ) as (K8sObject & { spec: { template: { spec: { containers: { args?: string[] }[] } } } }) | undefined;
  t.true(ksm?.spec.template.spec.containers[0]?.args?.includes(KSM_LABELS_ALLOWLIST_FLAG));
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  for (const entry of KSM_LABELS_ALLOWLIST_ENTRIES)
    t.true(readme.includes(`- ${entry}`), `README lists ${entry}`);
});
