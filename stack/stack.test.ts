// Checks the production Prometheus config, alert rules and Alertmanager config with the real promtool and amtool.
import { glob, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import {
  amtoolCheckConfig,
  type CheckResult,
  failingRouteCases,
  loadRouteCases,
  promtoolCheckConfig,
  promtoolCheckRules,
  promtoolTestRules,
} from './checks.ts';
import { OPT_IN_CLAUSE } from './opt-in.ts';
import { forPhrase } from './profile/rules.ts';
import { FOR_BOUNDARY_PREFIX, listRuleTestSuites } from './rule-tests.ts';
import { loadStack, PROMETHEUS_RETENTION_FLAG, STACK_FILES } from './source.ts';
import { describeTool, findTool, type ToolFlavour } from './tools.ts';

const FLAVOURS: ToolFlavour[] = ['debian', 'built'];

function explain(result: CheckResult): string {
  return `${result.command}\n${result.output}`;
}

test('the production prometheus.yml is valid for a current Prometheus (built promtool)', async (t) => {
  const promtool = findTool('promtool', 'built');
  // --syntax-only: the in-cluster CA and token files exist only inside a pod. The rendered configs in
  // profile.test.ts get the full check, rule files and credentials included.
  const result = await promtoolCheckConfig(promtool, STACK_FILES.prometheusConfig, { syntaxOnly: true });
  t.true(result.ok, explain(result));
});

test('the rule file Prometheus loads is the one the promtool suites test', async (t) => {
  const source = await loadStack();
  const configDir = dirname(STACK_FILES.prometheusConfig);
  const loaded: string[] = [];
  for (const pattern of source.prometheusConfig.rule_files ?? []) {
    for await (const file of glob(pattern, { cwd: configDir })) loaded.push(resolve(configDir, file));
  }
  t.deepEqual(loaded, [STACK_FILES.rules]);
  for (const suite of await listRuleTestSuites(STACK_FILES.ruleTests)) {
    const { rule_files: ruleFiles } = parse(await readFile(suite, 'utf8')) as { rule_files: string[] };
    t.deepEqual(
      ruleFiles.map((file) => resolve(dirname(suite), file)),
      [STACK_FILES.rules],
      suite,
    );
  }
});

test('prometheus.yml documents the retention launch flag', async (t) => {
  const text = await readFile(STACK_FILES.prometheusConfig, 'utf8');
  t.true(
    text.includes(PROMETHEUS_RETENTION_FLAG),
    `prometheus.yml should mention ${PROMETHEUS_RETENTION_FLAG}`,
  );
});

for (const flavour of FLAVOURS) {
  test(`the production rules pass promtool check rules (${flavour})`, async (t) => {
    const promtool = findTool('promtool', flavour);
    const result = await promtoolCheckRules(promtool, [STACK_FILES.rules]);
    t.true(result.ok, explain(result));
    t.regex(result.output, /SUCCESS: 5 rules found/);
  });

  test(`the promtool rule suites pass against the production rules (${flavour})`, async (t) => {
    const promtool = findTool('promtool', flavour);
    const suites = await listRuleTestSuites(STACK_FILES.ruleTests);
    const result = await promtoolTestRules(promtool, suites);
    t.true(result.ok, `${describeTool(promtool)}: ${explain(result)}`);
  });

  test(`the production alertmanager.yml passes amtool check-config (${flavour})`, async (t) => {
    const amtool = findTool('amtool', flavour);
    const result = await amtoolCheckConfig(amtool, STACK_FILES.alertmanagerConfig);
    t.true(result.ok, explain(result));
  });

  test(`alerts with an action reach the router, others nothing (amtool config routes test, ${flavour})`, async (t) => {
    const amtool = findTool('amtool', flavour);
    const cases = await loadRouteCases(await loadStack());
    const failing = await failingRouteCases(amtool, STACK_FILES.alertmanagerConfig, cases);
    t.deepEqual(
      failing.map(
        ({ routeCase, result }) => `${routeCase.name}: expected ${routeCase.receiver}, ${result.output}`,
      ),
      [],
    );
  });
}

test('the rules are the five of the design, each with its for, action, severity and target labels', async (t) => {
  const { rules } = await loadStack();
  t.deepEqual(
    rules.map((rule) => [rule.alert, rule.for, rule.labels.action, rule.labels.severity]),
    [
      ['HighMemoryUsage', 60, 'restart-pod', 'critical'],
      ['PodCrashLooping', 120, 'redeploy', 'critical'],
      ['HighErrorRate', 60, 'restart-pod', 'critical'],
      ['PodNotReady', 120, 'restart-pod', 'critical'],
      ['HighCPUUsage', 120, 'scale', 'critical'],
    ],
  );
  for (const rule of rules) {
    // The alert's own labels come from the expression: it must keep namespace and pod.
    t.regex(rule.expr, /by \(namespace, pod[,)]/, `${rule.alert} must aggregate by namespace and pod`);
  }
});

test('every rule fires only for opted-in pods: its expression ends with the opt-in clause', async (t) => {
  const { rules } = await loadStack();
  for (const rule of rules) {
    t.true(rule.expr.trim().endsWith(OPT_IN_CLAUSE), `${rule.alert} must end with: ${OPT_IN_CLAUSE}`);
  }
});

test('every rule has a promtool case where a workload that did not opt in stays silent', async (t) => {
  const { rules } = await loadStack();
  const covered = new Set<string>();
  for (const suite of await listRuleTestSuites(STACK_FILES.ruleTests)) {
    const parsed = parse(await readFile(suite, 'utf8')) as {
      tests: { name?: string; alert_rule_test?: { alertname: string }[] }[];
    };
    for (const group of parsed.tests) {
      if (!group.name?.startsWith('opt-in:')) continue;
      for (const check of group.alert_rule_test ?? []) covered.add(check.alertname);
    }
  }
  t.deepEqual(
    rules.map((rule) => rule.alert).filter((alert) => !covered.has(alert)),
    [],
    'alerts without an opt-in case',
  );
});

test('every rule has a summary and a description that states its for', async (t) => {
  const parsed = parse(await readFile(STACK_FILES.rules, 'utf8')) as {
    groups: { rules: { alert: string; annotations?: Record<string, string> }[] }[];
  };
  const { rules } = await loadStack();
  for (const rule of parsed.groups.flatMap((group) => group.rules)) {
    const seconds = rules.find((candidate) => candidate.alert === rule.alert)?.for ?? 0;
    t.truthy(rule.annotations?.summary, `${rule.alert} needs a summary`);
    t.true(
      rule.annotations?.description?.includes(forPhrase(seconds)),
      `the description of ${rule.alert} should say "${forPhrase(seconds)}"`,
    );
  }
});

test('every rule has a promtool suite with a for-boundary check', async (t) => {
  const { rules } = await loadStack();
  const covered = new Set<string>();
  for (const suite of await listRuleTestSuites(STACK_FILES.ruleTests)) {
    const parsed = parse(await readFile(suite, 'utf8')) as {
      tests: { name?: string; alert_rule_test?: { alertname: string }[] }[];
    };
    for (const group of parsed.tests) {
      if (!group.name?.startsWith(FOR_BOUNDARY_PREFIX)) continue;
      for (const check of group.alert_rule_test ?? []) covered.add(check.alertname);
    }
  }
  t.deepEqual(
    rules.map((rule) => rule.alert).filter((alert) => !covered.has(alert)),
    [],
    'alerts without a for-boundary check',
  );
});
