// stack.yml matches the OpenFaaS stack format and the project's conventions, and the Function resources
// generated from it are current.
import { readFileSync } from 'node:fs';
import test from 'ava';
import { parse } from 'yaml';
import { type FunctionName, loadConfig } from '../functions/lib/config.ts';
import { withLocalSecretFiles } from './function-env.ts';
import { FUNCTIONS_FILE, readStack, renderFunctions, STACK_FILE } from './openfaas-functions.ts';
import { quantityValue } from './schemas/kubernetes.ts';
import { stackFile } from './schemas/openfaas.ts';

const FUNCTIONS = ['router', 'restart-pod', 'redeploy', 'scale'];
const SECRETS_DIR = '/var/openfaas/secrets';
const version = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

test('stack.yml is a valid OpenFaaS stack file (version 1.0) with the four functions', (t) => {
  const stack = readStack();
  t.is(stack.provider.name, 'openfaas');
  t.deepEqual(Object.keys(stack.functions).sort(), [...FUNCTIONS].sort());
});

test('the stack schema rejects what faas-cli would silently ignore or misread', (t) => {
  const valid = parse(readFileSync(STACK_FILE, 'utf8'));
  const typo = structuredClone(valid);
  typo.functions.router.limit = typo.functions.router.limits;
  t.false(stackFile.safeParse(typo).success, 'an unknown field');
  const unquoted = structuredClone(valid);
  unquoted.functions.scale.labels['com.openfaas.scale.min'] = 1;
  t.false(stackFile.safeParse(unquoted).success, 'a label value that is not a string');
  const badQuantity = structuredClone(valid);
  badQuantity.functions.redeploy.limits.memory = '256MB';
  t.false(stackFile.safeParse(badQuantity).success, 'a memory quantity Kubernetes does not parse');
});

for (const name of FUNCTIONS) {
  test(`${name}: built from its bundle, health paths set, resources and scale bounds consistent`, (t) => {
    const fn = readStack().functions[name];
    if (!fn) return t.fail(`no function ${name}`);
    t.is(fn.lang, 'dockerfile');
    t.is(fn.handler, `./dist/functions/${name}`);
    t.is(fn.image, `ghcr.io/selfheal/${name}:${version}`);
    t.like(fn.annotations, {
      'com.openfaas.health.http.path': '/health/liveness',
      'com.openfaas.ready.http.path': '/health/readiness',
    });
    t.is(fn.labels?.['selfheal.dev/function'], name, 'the label the network policies select');
    t.is(fn.environment?.FAAS_NAME, name, 'faas-js-runtime labels its metrics with it');
    const min = Number(fn.labels?.['com.openfaas.scale.min'] ?? 1);
    const max = Number(fn.labels?.['com.openfaas.scale.max'] ?? 20);
    t.true(min >= 1 && min <= max, `scale ${min}..${max}`);
    for (const resource of ['cpu', 'memory'] as const) {
      const request = fn.requests?.[resource];
      const limit = fn.limits?.[resource];
      if (!request || !limit) return t.fail(`${resource} request and limit are both set`);
      t.true(
        quantityValue(request) <= quantityValue(limit),
        `${resource} request ${request} ≤ limit ${limit}`,
      );
    }
    // Every *_FILE variable names a secret the function mounts.
    for (const [key, value] of Object.entries(fn.environment ?? {})) {
      if (!key.endsWith('_FILE')) continue;
      const secret = String(value).slice(`${SECRETS_DIR}/`.length);
      t.true(String(value).startsWith(`${SECRETS_DIR}/`), `${key} lies under ${SECRETS_DIR}`);
      t.true(fn.secrets?.includes(secret), `${key}: secret ${secret} is mounted`);
    }
  });
}

test('the router sends through the gateway, the actions stay within the opted-in namespaces', (t) => {
  const { functions } = readStack();
  t.like(functions.router?.environment, {
    SELFHEAL_SINK: 'openfaas',
    SELFHEAL_OPENFAAS_GATEWAY: 'http://gateway.openfaas:8080',
  });
  for (const name of FUNCTIONS) t.is(functions[name]?.environment?.SELFHEAL_NAMESPACES, 'demo', name);
});

test('the Function resources in manifests/overlays/openfaas/functions are generated from stack.yml', (t) => {
  t.is(
    readFileSync(FUNCTIONS_FILE, 'utf8'),
    renderFunctions(),
    'stale: run node manifests/openfaas-functions.ts',
  );
});

test('each function starts with the environment stack.yml gives it (its own config loader accepts it)', (t) => {
  for (const [name, fn] of Object.entries(readStack().functions)) {
    const local = withLocalSecretFiles(fn.environment ?? {});
    t.teardown(local.cleanup);
    t.notThrows(() => loadConfig(name as FunctionName, local.env), name);
  }
});
