// Tests the profile renderer: what it changes, what it keeps, and that the real tools accept what it writes.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { parse } from 'yaml';
import {
  amtoolCheckConfig,
  failingRouteCases,
  loadRouteCases,
  promtoolCheckConfig,
  promtoolCheckRules,
  promtoolTestRules,
} from './checks.ts';
import { renderAlertmanagerConfig } from './profile/alertmanager.ts';
import { detectionFloor } from './profile/detection-floor.ts';
import {
  type ApiServerAccess,
  type LocalPrometheusTargets,
  renderPrometheusConfig,
} from './profile/prometheus.ts';
import { forPhrase } from './profile/rules.ts';
import { FAST, type ProfileName, profileTiming } from './profile/timing.ts';
import { type RenderedStack, renderStack } from './profile.ts';
import { listRuleTestSuites, writeRuleTestSuites } from './rule-tests.ts';
import { JOB_NAMES, loadStack, PROMETHEUS_RETENTION_FLAG, readAlertRules, STACK_FILES } from './source.ts';
import { findTool, type ToolFlavour } from './tools.ts';

const FLAVOURS: ToolFlavour[] = ['debian', 'built'];
const PROFILES: ProfileName[] = ['production', 'fast'];

/** A scratch directory with the credential files a local playground hands in (empty: promtool checks they exist). */
async function scratch(t: ExecutionContext) {
  const dir = await mkdtemp(join(tmpdir(), 'selfheal-stack-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = async (name: string) => {
    const path = join(dir, name);
    await writeFile(path, '');
    return path;
  };
  const certificate: ApiServerAccess = {
    url: 'https://127.0.0.1:6443',
    caFile: await file('ca.crt'),
    certFile: await file('admin.crt'),
    keyFile: await file('admin.key'),
  };
  const local: LocalPrometheusTargets = {
    kubeconfigFile: await file('admin.kubeconfig'),
    apiServer: certificate,
    kubeStateMetricsUrl: 'http://127.0.0.1:18081/metrics',
    alertmanagerUrl: 'http://127.0.0.1:19093',
  };
  const router = { url: 'http://127.0.0.1:18080/', tokenFile: await file('router-token') };
  return { dir, local, router, tokenFile: await file('sa-token') };
}

async function renderLocal(
  t: ExecutionContext,
  profile: ProfileName,
): Promise<RenderedStack & { dir: string }> {
  const { dir, local, router } = await scratch(t);
  const rendered = await renderStack({ profile, outDir: join(dir, profile), local, router });
  return { ...rendered, dir };
}

test('production timings come from the production files; fast divides every for by the divisor', async (t) => {
  const source = await loadStack();
  const production = profileTiming(source, 'production');
  const fast = profileTiming(source, 'fast');
  t.like(production, { scrapeInterval: 15, evaluationInterval: 15 });
  t.deepEqual(production.for, Object.fromEntries(source.rules.map((rule) => [rule.alert, rule.for])));
  t.like(fast, { scrapeInterval: FAST.scrapeInterval, evaluationInterval: FAST.evaluationInterval });
  t.true(fast.groupWait < production.groupWait && fast.groupInterval < production.groupInterval);
  for (const [alert, seconds] of Object.entries(production.for)) {
    t.is(fast.for[alert], seconds / FAST.forDivisor, alert);
    // Prometheus rounds a `for` up to whole evaluations; the fast one must not need rounding.
    t.true(Number.isInteger((fast.for[alert] as number) / fast.evaluationInterval), alert);
  }
});

test('the detection floor is scrape + evaluation + for + group_wait, and the fast profile is faster for every alert', async (t) => {
  const source = await loadStack();
  const production = detectionFloor(source, profileTiming(source, 'production'));
  const fast = detectionFloor(source, profileTiming(source, 'fast'));
  t.deepEqual(
    production.map((row) => row.alert),
    source.rules.map((rule) => rule.alert),
  );
  for (const [i, row] of production.entries()) {
    t.is(row.total, row.scrapeInterval + row.evaluationInterval + row.for + row.groupWait, row.alert);
    t.true((fast[i]?.total ?? Number.POSITIVE_INFINITY) < row.total, row.alert);
  }
});

test('production rules render byte for byte; fast rules keep every expression and label and restate the for', async (t) => {
  const source = await loadStack();
  const production = await renderLocal(t, 'production');
  t.is(await readFile(production.rules, 'utf8'), await readFile(STACK_FILES.rules, 'utf8'));

  const fast = await renderLocal(t, 'fast');
  const fastText = await readFile(fast.rules, 'utf8');
  const fastRules = readAlertRules(fastText);
  t.deepEqual(
    fastRules.map(({ alert, expr, labels }) => ({ alert, expr, labels })),
    source.rules.map(({ alert, expr, labels }) => ({ alert, expr, labels })),
  );
  t.deepEqual(
    fastRules.map((rule) => rule.for),
    source.rules.map((rule) => rule.for / FAST.forDivisor),
  );
  const descriptions = (
    parse(fastText) as { groups: { rules: { annotations: { description: string } }[] }[] }
  ).groups
    .flatMap((group) => group.rules)
    .map((rule) => rule.annotations.description);
  for (const [i, rule] of fastRules.entries()) {
    t.true(descriptions[i]?.includes(forPhrase(rule.for)), `${rule.alert}: ${descriptions[i]}`);
  }
});

test('local prometheus.yml: discovery through the kubeconfig, cAdvisor through the local API server, nothing in-cluster left', async (t) => {
  const source = await loadStack();
  const { local } = await scratch(t);
  const config = renderPrometheusConfig(source, {
    timing: profileTiming(source, 'fast'),
    rulesFile: '/srv/rules/selfheal.rules.yml',
    local,
  });
  const text = JSON.stringify(config);
  for (const inCluster of ['/var/run/secrets', 'kubernetes.default.svc', 'svc.cluster.local']) {
    t.false(text.includes(inCluster), `${inCluster} is still in the rendered config`);
  }
  t.deepEqual(config.rule_files, ['/srv/rules/selfheal.rules.yml']);
  t.like(config.global, { scrape_interval: '3s', evaluation_interval: '3s' });
  for (const job of config.scrape_configs) {
    for (const sd of job.kubernetes_sd_configs ?? [])
      t.is(sd.kubeconfig_file, local.kubeconfigFile, job.job_name);
  }

  const job = (name: string) => config.scrape_configs.find((candidate) => candidate.job_name === name);
  const productionJob = (name: string) =>
    source.prometheusConfig.scrape_configs.find((c) => c.job_name === name);
  t.deepEqual(job(JOB_NAMES.pods)?.relabel_configs, productionJob(JOB_NAMES.pods)?.relabel_configs);
  t.like(job(JOB_NAMES.kubeStateMetrics), {
    honor_labels: true,
    scheme: 'http',
    metrics_path: '/metrics',
    static_configs: [{ targets: ['127.0.0.1:18081'] }],
  });
  t.is(job(JOB_NAMES.kubeStateMetrics)?.kubernetes_sd_configs, undefined);

  const cadvisor = job(JOB_NAMES.cadvisor);
  t.like(cadvisor, {
    scheme: 'https',
    tls_config: {
      ca_file: local.apiServer.caFile,
      cert_file: local.apiServer.certFile,
      key_file: local.apiServer.keyFile,
    },
  });
  t.is(cadvisor?.authorization, undefined);
  t.deepEqual(
    cadvisor?.relabel_configs?.find((rule) => rule.target_label === '__address__'),
    { target_label: '__address__', replacement: '127.0.0.1:6443' },
  );
  t.deepEqual(
    cadvisor?.relabel_configs?.filter((rule) => rule.target_label !== '__address__'),
    productionJob(JOB_NAMES.cadvisor)?.relabel_configs?.filter((rule) => rule.target_label !== '__address__'),
  );
  t.deepEqual(config.alerting, {
    alertmanagers: [{ scheme: 'http', static_configs: [{ targets: ['127.0.0.1:19093'] }] }],
  });
});

test('local prometheus.yml with a bearer token: the cAdvisor job sends the token file instead of a client certificate', async (t) => {
  const source = await loadStack();
  const { local, tokenFile } = await scratch(t);
  const config = renderPrometheusConfig(source, {
    timing: profileTiming(source, 'production'),
    rulesFile: '/srv/rules.yml',
    local: {
      ...local,
      apiServer: {
        url: 'https://localhost:7443',
        caFile: local.apiServer.caFile,
        bearerTokenFile: tokenFile,
      },
    },
  });
  const cadvisor = config.scrape_configs.find((job) => job.job_name === JOB_NAMES.cadvisor);
  t.deepEqual(cadvisor?.tls_config, { ca_file: local.apiServer.caFile });
  t.deepEqual(cadvisor?.authorization, { credentials_file: tokenFile });
  t.like(config.global, { scrape_interval: '15s', evaluation_interval: '15s' });
});

test('bad local settings are refused with a message that names the setting', async (t) => {
  const source = await loadStack();
  const { local, tokenFile, dir } = await scratch(t);
  const timing = profileTiming(source, 'fast');
  const render = (overrides: Partial<LocalPrometheusTargets>) => () =>
    renderPrometheusConfig(source, { timing, rulesFile: '/r.yml', local: { ...local, ...overrides } });
  t.throws(render({ apiServer: { ...local.apiServer, bearerTokenFile: tokenFile } }), {
    message: /either certFile and keyFile .* or bearerTokenFile/,
  });
  t.throws(render({ apiServer: { url: local.apiServer.url, caFile: local.apiServer.caFile } }), {
    message: /either certFile and keyFile/,
  });
  t.throws(render({ apiServer: { ...local.apiServer, keyFile: '' } }), {
    message: /either certFile and keyFile/,
  });
  t.throws(render({ apiServer: { ...local.apiServer, url: 'http://127.0.0.1:6443' } }), {
    message: /apiServer.url "http:\/\/127.0.0.1:6443" must start with https:\/\//,
  });
  t.throws(render({ kubeStateMetricsUrl: '127.0.0.1:8081' }), {
    message: /kubeStateMetricsUrl "127.0.0.1:8081" is not a URL/,
  });
  await t.throwsAsync(renderStack({ profile: 'fast', outDir: 'relative/dir' }), {
    message: /outDir must be an absolute path/,
  });
  await t.throwsAsync(renderStack({ profile: 'slow' as ProfileName, outDir: dir }), {
    message: /unknown profile "slow"; use one of: production, fast/,
  });
});

test('alertmanager.yml: the router address and token file are replaced, routing is kept, fast shortens the waits', async (t) => {
  const source = await loadStack();
  const router = { url: 'http://127.0.0.1:18080/', tokenFile: '/srv/router-token' };
  for (const profile of PROFILES) {
    const timing = profileTiming(source, profile);
    const config = renderAlertmanagerConfig(source, { timing, profile, router });
    t.deepEqual(config.route.routes, source.alertmanagerConfig.route.routes, profile);
    t.deepEqual(config.route.group_by, source.alertmanagerConfig.route.group_by, profile);
    const webhook = config.receivers.find((receiver) => receiver.name === 'selfheal-router')
      ?.webhook_configs?.[0];
    t.like(webhook, {
      url: router.url,
      send_resolved: true,
      http_config: { authorization: { type: 'Bearer', credentials_file: router.tokenFile } },
    });
    const expected =
      profile === 'production'
        ? source.alertmanagerConfig.route
        : { group_wait: `${FAST.groupWait}s`, group_interval: `${FAST.groupInterval}s` };
    t.like(
      config.route,
      { group_wait: expected.group_wait, group_interval: expected.group_interval },
      profile,
    );
  }
});

for (const profile of PROFILES) {
  test(`rendered ${profile} stack: promtool check config (built) accepts it with its rule file and credentials`, async (t) => {
    const promtool = findTool('promtool', 'built');
    const rendered = await renderLocal(t, profile);
    t.deepEqual(rendered.prometheusArgs, [
      `--config.file=${rendered.prometheusConfig}`,
      PROMETHEUS_RETENTION_FLAG,
    ]);
    const result = await promtoolCheckConfig(promtool, rendered.prometheusConfig);
    t.true(result.ok, `${result.command}\n${result.output}`);
    t.regex(result.output, /SUCCESS: 5 rules found/);
  });

  for (const flavour of FLAVOURS) {
    test(`rendered ${profile} stack: rules pass promtool check rules, alertmanager.yml amtool check-config and the route cases (${flavour})`, async (t) => {
      const promtool = findTool('promtool', flavour);
      const amtool = findTool('amtool', flavour);
      const rendered = await renderLocal(t, profile);
      const rules = await promtoolCheckRules(promtool, [rendered.rules]);
      t.true(rules.ok, `${rules.command}\n${rules.output}`);
      const alertmanager = await amtoolCheckConfig(amtool, rendered.alertmanagerConfig);
      t.true(alertmanager.ok, `${alertmanager.command}\n${alertmanager.output}`);
      const failing = await failingRouteCases(
        amtool,
        rendered.alertmanagerConfig,
        await loadRouteCases(await loadStack()),
      );
      t.deepEqual(
        failing.map(({ routeCase, result }) => `${routeCase.name}: ${result.output}`),
        [],
      );
    });
  }
}

for (const flavour of FLAVOURS) {
  test(`the promtool suites, retimed for the fast rules, pass against the rendered fast rules (${flavour})`, async (t) => {
    const promtool = findTool('promtool', flavour);
    const source = await loadStack();
    const rendered = await renderLocal(t, 'fast');
    const suites = await writeRuleTestSuites({
      suitesDir: STACK_FILES.ruleTests,
      outDir: join(rendered.dir, 'fast-tests'),
      rulesFile: rendered.rules,
      production: profileTiming(source, 'production'),
      target: rendered.timing,
    });
    t.is(suites.length, (await listRuleTestSuites(STACK_FILES.ruleTests)).length);
    const result = await promtoolTestRules(promtool, suites);
    t.true(result.ok, `${result.command}\n${result.output}`);
  });
}

test('the for-boundary checks notice a changed for: the production suites fail against the fast rules', async (t) => {
  const promtool = findTool('promtool', 'built');
  const source = await loadStack();
  const rendered = await renderLocal(t, 'fast');
  const production = profileTiming(source, 'production');
  // The production suites pointed at the fast rules, descriptions restated so only the timing differs.
  const suites = await writeRuleTestSuites({
    suitesDir: STACK_FILES.ruleTests,
    outDir: join(rendered.dir, 'unchanged-boundaries'),
    rulesFile: rendered.rules,
    production,
    target: { ...rendered.timing, for: production.for },
  });
  const descriptionsOnly = await Promise.all(
    suites.map(async (suite) => {
      let text = await readFile(suite, 'utf8');
      for (const rule of source.rules) {
        text = text.replaceAll(forPhrase(rule.for), forPhrase(rendered.timing.for[rule.alert] ?? rule.for));
      }
      await writeFile(suite, text);
      return suite;
    }),
  );
  const result = await promtoolTestRules(promtool, descriptionsOnly);
  t.false(result.ok, 'the production for boundaries should reject a for five times shorter');
  for (const rule of source.rules)
    t.regex(result.output, new RegExp(`alertname: ${rule.alert}, time: `), rule.alert);
});
