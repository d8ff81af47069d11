// The kube-prometheus-stack path, proven with the real prometheus-operator (built from its Go module) against the
// test control plane: the generated resources pass a strict server-side dry run against the operator's own CRDs; the
// operator reconciles a Prometheus and an Alertmanager that select them; the Prometheus configuration and rule files
// it generates pass promtool (the rule suites included), and the Alertmanager configuration it generates routes an
// action-labelled alert of a workload namespace to the router, and on to the team's own receivers.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import { parse, stringify } from 'yaml';
import { dryRun, intoNamespace } from '../../manifests/dry-run.ts';
import { type K8sObject, render } from '../../manifests/render.ts';
import { EXAMPLES, WEBHOOK_TOKEN_SECRET } from '../../manifests/sync-operator.ts';
import { useNamespace } from '../../test/helpers/cluster.ts';
import { eventually } from '../../test/helpers/wait.ts';
import {
  amtoolCheckConfig,
  amtoolRoutesTest,
  type CheckResult,
  promtoolCheckConfig,
  promtoolCheckRules,
  promtoolTestRules,
} from '../checks.ts';
import { loadStack, profileTiming, ROUTER_RECEIVER, STACK_FILES } from '../profile.ts';
import { writeRuleTestSuites } from '../rule-tests.ts';
import { findTool } from '../tools.ts';
import {
  type Condition,
  conditionsOf,
  generatedAlertmanagerConfig,
  generatedPrometheusConfig,
  generatedRuleFiles,
  installOperatorCrds,
  MONITORING_GROUP,
  startOperator,
} from './live/operator.ts';
import { RESOURCE_NAMES } from './resources.ts';

/** Relabel rules compared by content (the operator spells out the default action), whatever their key order. */
const canonical = (rules: readonly object[]) =>
  JSON.stringify(
    rules.map((rule) =>
      Object.fromEntries(
        Object.entries({ action: 'replace', ...rule }).sort(([a], [b]) => a.localeCompare(b)),
      ),
    ),
  );

const explain = (result: CheckResult) => `${result.command}\n${result.output}`;

/** The prometheus-operator resources of both example trees, once each. */
async function operatorObjects(): Promise<K8sObject[]> {
  const seen = new Map<string, K8sObject>();
  for (const tree of Object.values(EXAMPLES)) {
    for (const object of await render(tree)) {
      if (!object.apiVersion.startsWith(`${MONITORING_GROUP}/`)) continue;
      seen.set(`${object.kind}/${object.metadata.name}`, object);
    }
  }
  return [...seen.values()];
}

async function apply(kc: KubeConfig, objects: readonly object[]): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  for (const object of objects) {
    await client.patch(object, undefined, undefined, 'selfheal-tests', true, PatchStrategy.ServerSideApply);
  }
}

async function scratch(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'selfheal-operator-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('the generated resources pass a strict server-side dry run against the real CRDs, which reject a wrong field', async (t) => {
  await installOperatorCrds();
  const { name: namespace, cluster } = await useNamespace(t, 'operator-dry-run');
  const objects = await operatorObjects();
  t.deepEqual(objects.map((o) => o.kind).sort(), [
    'AlertmanagerConfig',
    'PodMonitor',
    'PodMonitor',
    'PodMonitor',
    'PodMonitor',
    'PrometheusRule',
  ]);
  const result = await dryRun(intoNamespace(objects, namespace), cluster.kubeconfigPath);
  t.true(result.ok, result.errors);
  t.is(result.accepted.length, objects.length, result.accepted.join(', '));

  // The same dry run refuses what the CRDs do not allow: a misspelt field, an unknown match type.
  const podMonitor = structuredClone(objects.find((o) => o.kind === 'PodMonitor')) as K8sObject & {
    spec: { podMetricsEndpoints: Record<string, unknown>[] };
  };
  podMonitor.spec.podMetricsEndpoints[0] = { ...podMonitor.spec.podMetricsEndpoints[0], relabellings: [] };
  const config = structuredClone(objects.find((o) => o.kind === 'AlertmanagerConfig')) as K8sObject & {
    spec: { route: { matchers: { matchType: string }[] } };
  };
  (config.spec.route.matchers[0] as { matchType: string }).matchType = '~=';
  for (const bad of [podMonitor, config]) {
    const refused = await dryRun(intoNamespace([bad], namespace), cluster.kubeconfigPath);
    t.false(refused.ok, `${bad.kind} should be refused`);
    t.regex(refused.errors, /relabellings|matchType/);
  }
});

/** A team's own Alertmanager configuration: its receivers must still see selfheal's alerts. */
const TEAM_CONFIG = {
  route: {
    receiver: 'team-default',
    group_by: ['alertname'],
    routes: [{ receiver: 'team-pager', matchers: ['severity="critical"'] }],
  },
  receivers: [{ name: 'team-default' }, { name: 'team-pager' }],
};

const WEBHOOK_TOKEN = 'operator-test-token';

test('the operator reconciles a Prometheus and an Alertmanager selecting the resources; what it generates passes promtool and amtool', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'operator');
  const core = kc.makeApiClient(CoreV1Api);
  const operator = await startOperator(t, [ns]);
  t.teardown(() => {
    if (!t.passed) t.log(`operator log:\n${operator.logTail(60)}`);
  });

  await core.createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name: WEBHOOK_TOKEN_SECRET.name },
      stringData: { [WEBHOOK_TOKEN_SECRET.key]: WEBHOOK_TOKEN },
    },
  });
  // The team's base configuration, which the operator merges the AlertmanagerConfig into.
  for (const name of ['selfheal', 'by-namespace', 'own-namespace']) {
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: `alertmanager-${name}` },
        stringData: { 'alertmanager.yaml': stringify(TEAM_CONFIG) },
      },
    });
  }
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'prometheus' } } });
  await apply(kc, intoNamespace(await operatorObjects(), ns));

  const monitoring = (kind: string, name: string, spec: object) => ({
    apiVersion: `${MONITORING_GROUP}/v1`,
    kind,
    metadata: { name, namespace: ns },
    spec,
  });
  await apply(kc, [
    monitoring('Prometheus', 'selfheal', {
      replicas: 1,
      serviceAccountName: 'prometheus',
      podMonitorSelector: {},
      ruleSelector: {},
      alerting: { alertmanagers: [{ namespace: ns, name: 'alertmanager-operated', port: 'web' }] },
    }),
    // As the README asks: the alerts carry the workload's namespace, not this one.
    monitoring('Alertmanager', 'selfheal', {
      replicas: 1,
      alertmanagerConfigSelector: {},
      alertmanagerConfigMatcherStrategy: { type: 'None' },
    }),
    // The operator's default strategy, to show why the README asks for None.
    monitoring('Alertmanager', 'by-namespace', { replicas: 1, alertmanagerConfigSelector: {} }),
    // The alternative the README gives: the AlertmanagerConfig in the Alertmanager's own namespace goes unmatched.
    monitoring('Alertmanager', 'own-namespace', {
      replicas: 1,
      alertmanagerConfigSelector: {},
      alertmanagerConfigMatcherStrategy: { type: 'OnNamespaceExceptForAlertmanagerNamespace' },
    }),
  ]);

  const reconciled = async (plural: string, name: string): Promise<Condition[]> =>
    eventually(
      `${plural}/${name} reconciled`,
      async () => {
        const conditions = await conditionsOf(kc, plural, ns, name);
        return conditions.some((c) => c.type === 'Reconciled' && c.status === 'True') && conditions;
      },
      { timeoutMs: 60_000 },
    );
  for (const [plural, name] of [
    ['prometheuses', 'selfheal'],
    ['alertmanagers', 'selfheal'],
    ['alertmanagers', 'by-namespace'],
    ['alertmanagers', 'own-namespace'],
  ] as const) {
    const conditions = await reconciled(plural, name);
    // No node runs the pods of this test, so the operator reports them unavailable: it does say so.
    t.like(
      conditions.find((c) => c.type === 'Available'),
      { status: 'False' },
      `${plural}/${name}: ${JSON.stringify(conditions)}`,
    );
  }
  const dir = await scratch(t);
  const promtool = findTool('promtool', 'built');
  const amtool = findTool('amtool', 'built');

  // Prometheus: the PodMonitors became scrape jobs that end with the production relabelling.
  const promConfigText = await eventually(
    'the generated Prometheus configuration with both PodMonitors',
    async () => {
      const text = await generatedPrometheusConfig(kc, ns, 'selfheal');
      return text.includes(RESOURCE_NAMES.workloads) && text.includes(RESOURCE_NAMES.functions) && text;
    },
  );
  const promConfig = parse(promConfigText) as {
    scrape_configs: { job_name: string; relabel_configs: Record<string, unknown>[] }[];
    rule_files: string[];
  };
  const source = await loadStack();
  const production = source.prometheusConfig.scrape_configs.find((job) => job.job_name === 'kubernetes-pods');
  for (const monitor of [
    RESOURCE_NAMES.workloads,
    RESOURCE_NAMES.functions,
    RESOURCE_NAMES.gateway,
    RESOURCE_NAMES.queueProxy,
  ]) {
    const job = promConfig.scrape_configs.find(
      (candidate) => candidate.job_name === `podMonitor/${ns}/${monitor}/0`,
    );
    if (!job) {
      t.fail(`no scrape job for PodMonitor ${monitor}`);
      continue;
    }
    if (monitor !== RESOURCE_NAMES.gateway && monitor !== RESOURCE_NAMES.queueProxy) {
      const ours = canonical(production?.relabel_configs ?? []);
      // The operator's own rules come first (pod selection, the namespace/pod/container/job labels), then ours, then
      // its sharding rules.
      const n = production?.relabel_configs?.length ?? 0;
      const found = job.relabel_configs.some(
        (_, i) => canonical(job.relabel_configs.slice(i, i + n)) === ours,
      );
      t.true(found, `${monitor} applies the kubernetes-pods relabelling:\n${stringify(job.relabel_configs)}`);
    }
  }
  const promFile = join(dir, 'prometheus.yaml');
  await writeFile(promFile, promConfigText);
  // --syntax-only: the configuration names the files the pod mounts (its token, the rule folder).
  const configCheck = await promtoolCheckConfig(promtool, promFile, { syntaxOnly: true });
  t.true(configCheck.ok, explain(configCheck));

  // The rule file: the five rules, and every promtool suite of stack/ passes against it.
  const ruleFiles = await eventually('the generated rule file', async () => {
    const files = await generatedRuleFiles(kc, ns, 'selfheal');
    return Object.keys(files).length > 0 && files;
  });
  t.is(Object.keys(ruleFiles).length, 1, Object.keys(ruleFiles).join(', '));
  const [[ruleName, ruleText]] = Object.entries(ruleFiles) as [[string, string]];
  const ruleFile = join(dir, ruleName);
  await writeFile(ruleFile, ruleText);
  const rulesCheck = await promtoolCheckRules(promtool, [ruleFile]);
  t.true(rulesCheck.ok, explain(rulesCheck));
  t.regex(rulesCheck.output, /SUCCESS: 5 rules found/);
  const timing = profileTiming(source, 'production');
  const suites = await writeRuleTestSuites({
    suitesDir: STACK_FILES.ruleTests,
    outDir: join(dir, 'suites'),
    rulesFile: ruleFile,
    production: timing,
    target: timing,
  });
  const suitesRun = await promtoolTestRules(promtool, suites);
  t.true(suitesRun.ok, explain(suitesRun));

  // Alertmanager (strategy None): an action-labelled alert of a workload namespace reaches the router, and the
  // team's pager still sees it (the operator's route comes first, with continue: true).
  const routerReceiver = `${ns}/${RESOURCE_NAMES.alertmanagerConfig}/${ROUTER_RECEIVER}`;
  const amText = await eventually(
    'the generated Alertmanager configuration with the router route',
    async () => {
      const text = await generatedAlertmanagerConfig(kc, ns, 'selfheal');
      return text.includes(routerReceiver) && text;
    },
  );
  const amFile = join(dir, 'alertmanager.yaml');
  await writeFile(amFile, amText);
  const amCheck = await amtoolCheckConfig(amtool, amFile);
  t.true(amCheck.ok, explain(amCheck));
  const alert = {
    alertname: 'HighMemoryUsage',
    severity: 'critical',
    action: 'restart-pod',
    namespace: 'shop',
    pod: 'web-1',
    container: 'app',
  };
  const cases = [
    { name: 'action alert of a workload namespace', labels: alert, receiver: `${routerReceiver},team-pager` },
    {
      name: 'critical alert without an action',
      labels: { alertname: 'KubeNodeNotReady', severity: 'critical', node: 'n1' },
      receiver: 'team-pager',
    },
  ];
  for (const routeCase of cases) {
    const result = await amtoolRoutesTest(amtool, amFile, routeCase);
    t.true(result.ok, `${routeCase.name}: ${explain(result)}`);
  }
  const am = parse(amText) as {
    route: { routes: { receiver: string; continue?: boolean }[] };
    receivers: { name: string; webhook_configs?: Record<string, unknown>[] }[];
  };
  t.like(am.route.routes[0], { receiver: routerReceiver, continue: true }, 'first, and continuing');
  t.like(am.receivers.find((r) => r.name === routerReceiver)?.webhook_configs?.[0], {
    send_resolved: true,
    http_config: { authorization: { type: 'Bearer', credentials: WEBHOOK_TOKEN } },
  });

  // With the operator's default strategy the route only matches alerts of the AlertmanagerConfig's own namespace.
  const byNamespaceText = await eventually('the by-namespace Alertmanager configuration', async () => {
    const text = await generatedAlertmanagerConfig(kc, ns, 'by-namespace');
    return text.includes(routerReceiver) && text;
  });
  const byNamespaceFile = join(dir, 'alertmanager-by-namespace.yaml');
  await writeFile(byNamespaceFile, byNamespaceText);
  for (const routeCase of [
    { name: 'a workload namespace misses the router', labels: alert, receiver: 'team-pager' },
    {
      name: 'only its own namespace reaches it',
      labels: { ...alert, namespace: ns },
      receiver: `${routerReceiver},team-pager`,
    },
  ]) {
    const result = await amtoolRoutesTest(amtool, byNamespaceFile, routeCase);
    t.true(result.ok, `OnNamespace: ${routeCase.name}: ${explain(result)}`);
  }

  // OnNamespaceExceptForAlertmanagerNamespace: an AlertmanagerConfig beside the Alertmanager routes every namespace.
  const ownNamespaceText = await eventually('the own-namespace Alertmanager configuration', async () => {
    const text = await generatedAlertmanagerConfig(kc, ns, 'own-namespace');
    return text.includes(routerReceiver) && text;
  });
  const ownNamespaceFile = join(dir, 'alertmanager-own-namespace.yaml');
  await writeFile(ownNamespaceFile, ownNamespaceText);
  const ownNamespace = await amtoolRoutesTest(amtool, ownNamespaceFile, {
    name: 'a workload namespace reaches the router',
    labels: alert,
    receiver: `${routerReceiver},team-pager`,
  });
  t.true(ownNamespace.ok, `OnNamespaceExceptForAlertmanagerNamespace: ${explain(ownNamespace)}`);
});
