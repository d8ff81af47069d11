// Environment configuration: defaults, the routing table, secrets from files, and clear failures.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { DEFAULT_ROUTES, loadActionConfig, loadRouterConfig } from './config.ts';
import { SelfhealError } from './errors.ts';

const direct = {
  SELFHEAL_WEBHOOK_TOKEN: 'secret',
  SELFHEAL_ACTION_TOKEN: 'between-functions',
  SELFHEAL_NAMESPACES: 'demo',
  SELFHEAL_SINK: 'direct',
  SELFHEAL_ACTION_URLS: 'restart-pod=http://a:8080/,redeploy=http://b:8080/,scale=http://c:8080/',
};
// What an action needs at the least: where it may act and the token its callers must show.
const secured = { SELFHEAL_NAMESPACES: 'demo', SELFHEAL_ACTION_TOKEN: 'between-functions' };

test('router defaults: port 8080 on 0.0.0.0, the seed routes, bounded delivery', (t) => {
  const config = loadRouterConfig(direct);
  t.is(config.port, 8080);
  t.is(config.host, '0.0.0.0');
  t.deepEqual(config.routes, DEFAULT_ROUTES);
  t.deepEqual(config.sink, {
    kind: 'direct',
    urls: { 'restart-pod': 'http://a:8080/', redeploy: 'http://b:8080/', scale: 'http://c:8080/' },
  });
  t.is(config.deliveryConcurrency, 4);
  t.is(config.deliveryTimeoutMs, 10_000);
  t.false(config.dryRun);
  t.deepEqual(config.namespaces, ['demo']);
  t.is(config.actionAuth, 'token');
});

test('secure by default: no allow-list or no action token, no start; * and platform say so explicitly', (t) => {
  for (const fn of ['restart-pod', 'redeploy', 'scale'] as const) {
    const noList = t.throws(() => loadActionConfig(fn, { SELFHEAL_ACTION_TOKEN: 'x' }));
    t.regex(noList?.message ?? '', /SELFHEAL_NAMESPACES: is required: .* or \* for every namespace/);
    const noToken = t.throws(() => loadActionConfig(fn, { SELFHEAL_NAMESPACES: 'demo' }));
    t.regex(noToken?.message ?? '', /SELFHEAL_ACTION_TOKEN or SELFHEAL_ACTION_TOKEN_FILE is required/);
    t.regex(noToken?.message ?? '', /SELFHEAL_ACTION_AUTH=platform/);
  }
  const { SELFHEAL_ACTION_TOKEN: _token, SELFHEAL_NAMESPACES: _list, ...open } = direct;
  const router = t.throws(() => loadRouterConfig(open));
  t.regex(router?.message ?? '', /SELFHEAL_NAMESPACES: is required/);
  t.regex(router?.message ?? '', /SELFHEAL_ACTION_TOKEN or SELFHEAL_ACTION_TOKEN_FILE is required/);

  const everywhere = loadActionConfig('scale', {
    SELFHEAL_NAMESPACES: '*',
    SELFHEAL_ACTION_AUTH: 'platform',
  });
  t.is(everywhere.namespaces, '*');
  t.is(everywhere.actionAuth, 'platform');
  t.is(everywhere.actionToken, undefined);
  t.is(
    loadRouterConfig({ ...open, SELFHEAL_NAMESPACES: '*', SELFHEAL_ACTION_AUTH: 'platform' }).namespaces,
    '*',
  );

  for (const list of [',', ' , ']) {
    const empty = t.throws(() => loadActionConfig('scale', { ...secured, SELFHEAL_NAMESPACES: list }));
    t.regex(empty?.message ?? '', /SELFHEAL_NAMESPACES: names no namespace/, JSON.stringify(list));
  }
  const mixed = t.throws(() => loadActionConfig('scale', { ...secured, SELFHEAL_NAMESPACES: 'demo,*' }));
  t.regex(mixed?.message ?? '', /\* allows every namespace and stands alone/);
  const blank = t.throws(() => loadActionConfig('scale', { ...secured, SELFHEAL_NAMESPACES: ' ' }));
  t.regex(blank?.message ?? '', /SELFHEAL_NAMESPACES: is required/);
  const wrongAuth = t.throws(() => loadActionConfig('scale', { ...secured, SELFHEAL_ACTION_AUTH: 'none' }));
  t.regex(wrongAuth?.message ?? '', /SELFHEAL_ACTION_AUTH: must be token .*, platform .* or oidc/);
});

test('oidc: the accepted accounts are required and checked; the audience defaults to selfheal/<action>', (t) => {
  const oidc = { SELFHEAL_NAMESPACES: 'demo', SELFHEAL_ACTION_AUTH: 'oidc' };
  const missing = t.throws(() => loadActionConfig('scale', oidc));
  t.regex(missing?.message ?? '', /SELFHEAL_OIDC_SUBJECTS is required with SELFHEAL_ACTION_AUTH=oidc/);
  const malformed = t.throws(() => loadActionConfig('scale', { ...oidc, SELFHEAL_OIDC_SUBJECTS: 'alice' }));
  t.regex(malformed?.message ?? '', /SELFHEAL_OIDC_SUBJECTS.*system:serviceaccount:<namespace>:<name>/);
  const subjects = 'system:serviceaccount:selfheal:scale-oidc-eventing.knative.dev-trigger';
  t.deepEqual(loadActionConfig('scale', { ...oidc, SELFHEAL_OIDC_SUBJECTS: ` ${subjects} ,` }).oidc, {
    audience: 'selfheal/scale',
    subjects: [subjects],
  });
  t.is(
    loadActionConfig('scale', { ...oidc, SELFHEAL_OIDC_SUBJECTS: subjects, SELFHEAL_OIDC_AUDIENCE: 'aud' })
      .oidc?.audience,
    'aud',
  );
  t.is(
    loadActionConfig('scale', { ...oidc, SELFHEAL_ACTION_AUTH: 'token', SELFHEAL_ACTION_TOKEN: 'x' }).oidc,
    undefined,
  );
});

test('SELFHEAL_ROUTES overrides and removes seed routes', (t) => {
  const config = loadRouterConfig({
    ...direct,
    SELFHEAL_ROUTES: 'HighCPUUsage=none, DiskFull=redeploy,HighMemoryUsage=scale',
  });
  t.is(config.routes.HighCPUUsage, undefined);
  t.is(config.routes.DiskFull, 'redeploy');
  t.is(config.routes.HighMemoryUsage, 'scale');
  t.is(config.routes.PodCrashLooping, 'redeploy');
});

test('the openfaas and knative sinks need their URL', (t) => {
  t.deepEqual(
    loadRouterConfig({
      ...direct,
      SELFHEAL_SINK: 'openfaas',
      SELFHEAL_OPENFAAS_GATEWAY: 'http://gateway.openfaas:8080',
    }).sink,
    {
      kind: 'openfaas',
      gateway: 'http://gateway.openfaas:8080',
    },
  );
  t.deepEqual(
    loadRouterConfig({ ...direct, SELFHEAL_SINK: 'knative', K_SINK: 'http://broker/demo/default' }).sink,
    {
      kind: 'knative',
      broker: 'http://broker/demo/default',
    },
  );
  const error = t.throws(() => loadRouterConfig({ ...direct, SELFHEAL_SINK: 'knative' }), {
    instanceOf: SelfhealError,
  });
  t.regex(error?.message ?? '', /K_SINK is required/);
});

test('the webhook token may come from a file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'selfheal-config-'));
  writeFileSync(join(dir, 'token'), 'from-file\n');
  const { SELFHEAL_WEBHOOK_TOKEN: _, ...rest } = direct;
  t.is(
    loadRouterConfig({ ...rest, SELFHEAL_WEBHOOK_TOKEN_FILE: join(dir, 'token') }).webhookToken,
    'from-file',
  );
  const missing = t.throws(() =>
    loadRouterConfig({ ...rest, SELFHEAL_WEBHOOK_TOKEN_FILE: join(dir, 'absent') }),
  );
  t.regex(missing?.message ?? '', /SELFHEAL_WEBHOOK_TOKEN_FILE: cannot read .*absent \(ENOENT\)/);
  const both = t.throws(() =>
    loadRouterConfig({ ...direct, SELFHEAL_WEBHOOK_TOKEN_FILE: join(dir, 'token') }),
  );
  t.regex(both?.message ?? '', /both set/);
});

test('every problem is listed at once, by variable name', (t) => {
  const error = t.throws(
    () =>
      loadRouterConfig({
        SELFHEAL_SINK: 'kafka',
        PORT: 'eighty',
        SELFHEAL_NAMESPACES: 'demo,Not_Valid',
        SELFHEAL_DRY_RUN: 'maybe',
        SELFHEAL_ROUTES: 'HighCPUUsage=reboot',
      }),
    { instanceOf: SelfhealError },
  );
  const message = error?.message ?? '';
  t.regex(message, /invalid configuration of router/);
  t.regex(message, /SELFHEAL_SINK: must be one of direct, openfaas, knative/);
  t.regex(message, /PORT: must be a number/);
  t.regex(message, /SELFHEAL_NAMESPACES: "Not_Valid" is not a namespace name/);
  t.regex(message, /SELFHEAL_DRY_RUN: must be true or false/);
  t.regex(message, /SELFHEAL_ROUTES: "HighCPUUsage=reboot": unknown action "reboot"/);
  t.regex(message, /SELFHEAL_WEBHOOK_TOKEN or SELFHEAL_WEBHOOK_TOKEN_FILE is required/);
});

test('direct delivery needs a URL for every action', (t) => {
  const error = t.throws(() =>
    loadRouterConfig({ ...direct, SELFHEAL_ACTION_URLS: 'restart-pod=http://a/,scale=ftp://c/' }),
  );
  t.regex(error?.message ?? '', /scale: "ftp:\/\/c\/" is not an http\(s\) URL/);
  t.regex(error?.message ?? '', /no URL for redeploy/);
});

test('action defaults and overrides', (t) => {
  const defaults = loadActionConfig('scale', secured);
  t.is(defaults.maxReplicas, 10);
  t.is(defaults.scaleStep, 1);
  t.is(defaults.cooldownSeconds, 300);
  t.deepEqual(defaults.budget, { max: 6, windowSeconds: 3600 });
  t.is(defaults.kubeconfig, undefined);
  t.is(defaults.eventTimeoutMs, 2_000);
  const custom = loadActionConfig('scale', {
    ...secured,
    SELFHEAL_MAX_REPLICAS: '4',
    SELFHEAL_SCALE_STEP: '2',
    SELFHEAL_COOLDOWN_SECONDS: '0',
    SELFHEAL_DRY_RUN: 'true',
    SELFHEAL_NAMESPACES: ' demo , shop ',
    KUBECONFIG: '/tmp/kubeconfig',
  });
  t.is(custom.maxReplicas, 4);
  t.is(custom.scaleStep, 2);
  t.is(custom.cooldownSeconds, 0);
  t.true(custom.dryRun);
  t.deepEqual(custom.namespaces, ['demo', 'shop']);
  t.is(custom.kubeconfig, '/tmp/kubeconfig');
  const error = t.throws(() => loadActionConfig('scale', { ...secured, SELFHEAL_MAX_REPLICAS: '0' }));
  t.regex(error?.message ?? '', /SELFHEAL_MAX_REPLICAS: must be at least 1/);
  // A budget the ledger could not count is refused rather than never reached.
  const budget = t.throws(() => loadActionConfig('scale', { ...secured, SELFHEAL_ACTION_BUDGET: '101' }));
  t.regex(budget?.message ?? '', /SELFHEAL_ACTION_BUDGET: must be at most 100/);
});
