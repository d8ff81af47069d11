// stack.yml matches the OpenFaaS stack format and the project's conventions, and the Function resources
// generated from it are current.
import { readFileSync } from 'node:fs';
import test from 'ava';
import { parse } from 'yaml';
import { type FunctionName, loadConfig } from '../functions/lib/config.ts';
import { withLocalSecretFiles } from './function-env.ts';
import {
  FUNCTIONS_FILE,
  readStack,
  renderFunctions,
  STACK_FILE,
  substituteEnv,
} from './openfaas-functions.ts';
import { render } from './render.ts';
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

/** The keys each Secret a function names puts under /var/openfaas/secrets: faas-cli's secrets hold one key named
 * after the secret; the overlay's ServiceAccount token Secrets hold token, ca.crt and namespace. */
async function mountedKeys(): Promise<Map<string, string[]>> {
  const tokenSecrets = (await render('overlays/openfaas')).filter(
    (o) => o.kind === 'Secret' && (o as { type?: string }).type === 'kubernetes.io/service-account-token',
  );
  return new Map(tokenSecrets.map((o) => [o.metadata.name, ['ca.crt', 'namespace', 'token']]));
}

for (const name of FUNCTIONS) {
  test(`${name}: built from its bundle, resources and scale bounds consistent, every *_FILE a mounted key`, async (t) => {
    const fn = readStack().functions[name];
    if (!fn) return t.fail(`no function ${name}`);
    t.is(fn.lang, 'dockerfile');
    t.is(fn.handler, `./dist/functions/${name}`);
    t.is(fn.image, `ghcr.io/selfheal/${name}:${version}`, 'the default registry');
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
    // faas-netes projects every key of every secret into one folder: each *_FILE names one, and no two collide.
    const special = await mountedKeys();
    const files = (fn.secrets ?? []).flatMap((secret) => special.get(secret) ?? [secret]);
    t.is(new Set(files).size, files.length, `no two secrets project the same file: ${files.join(', ')}`);
    for (const [key, value] of Object.entries(fn.environment ?? {})) {
      if (!key.endsWith('_FILE')) continue;
      t.true(String(value).startsWith(`${SECRETS_DIR}/`), `${key} lies under ${SECRETS_DIR}`);
      t.true(files.includes(String(value).slice(`${SECRETS_DIR}/`.length)), `${key}: ${value} is mounted`);
    }
  });
}

test('each action acts as its own ServiceAccount through a token Secret the OpenFaaS overlay creates', async (t) => {
  const objects = await render('overlays/openfaas');
  for (const action of FUNCTIONS.filter((f) => f !== 'router')) {
    const fn = readStack().functions[action];
    t.is(fn?.environment?.SELFHEAL_KUBE_TOKEN_FILE, `${SECRETS_DIR}/token`, action);
    const tokenSecrets = objects.filter(
      (o) => o.kind === 'Secret' && fn?.secrets?.includes(o.metadata.name),
    ) as Array<{ type?: string; metadata: { namespace?: string; annotations?: Record<string, string> } }>;
    t.is(tokenSecrets.length, 1, `${action} mounts one token Secret`);
    t.is(tokenSecrets[0]?.type, 'kubernetes.io/service-account-token');
    t.is(
      tokenSecrets[0]?.metadata.namespace,
      'openfaas-fn',
      'beside the function, where faas-netes reads secrets',
    );
    t.is(tokenSecrets[0]?.metadata.annotations?.['kubernetes.io/service-account.name'], action);
  }
  t.is(readStack().functions.router?.environment?.SELFHEAL_KUBE_TOKEN_FILE, undefined, 'the router has none');
});

// faas-cli's syntax in stack.yml, not JavaScript templates.
// biome-ignore lint/suspicious/noTemplateCurlyInString: faas-cli's ${VAR:-default}
const REGISTRY = '${SELFHEAL_REGISTRY:-ghcr.io/selfheal}';
// biome-ignore lint/suspicious/noTemplateCurlyInString: faas-cli's ${VAR}
const TAG = '${TAG}';

test("faas-cli's variable substitution: the registry comes from SELFHEAL_REGISTRY, with a default", (t) => {
  const cases: Array<[string, Record<string, string>, string]> = [
    [`${REGISTRY}/router`, {}, 'ghcr.io/selfheal/router'],
    [`${REGISTRY}/router`, { SELFHEAL_REGISTRY: '' }, 'ghcr.io/selfheal/router'],
    [`${REGISTRY}/router`, { SELFHEAL_REGISTRY: 'r.example:5000/me' }, 'r.example:5000/me/router'],
    [TAG, { TAG: '1.2' }, '1.2'],
    [TAG, {}, ''],
    ['no variables', { X: 'y' }, 'no variables'],
  ];
  for (const [text, env, expected] of cases)
    t.is(substituteEnv(text, env), expected, `${text} with ${JSON.stringify(env)}`);
  const stack = readStack(STACK_FILE, { SELFHEAL_REGISTRY: 'registry.example:5000/me' });
  for (const [name, fn] of Object.entries(stack.functions))
    t.is(fn.image, `registry.example:5000/me/${name}:${version}`);
  t.true(readFileSync(STACK_FILE, 'utf8').includes(`image: ${REGISTRY}/router:${version}`));
});

test('faas-cli working folders (template/, build/) and the bundles are ignored by git', (t) => {
  const ignored = readFileSync(new URL('../.gitignore', import.meta.url), 'utf8').split('\n');
  for (const folder of ['template/', 'build/', 'dist/'])
    t.true(
      ignored.some((line) => line.replace(/^\//, '') === folder),
      `${folder} is in .gitignore`,
    );
});

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
