// The images the manifests and stack.yml name follow one convention the playground can run, and each function's
// image build context (scripts/build-functions.ts) is self-contained and starts as its container would.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { freePort } from '../playground/cluster/ports.ts';
import { buildFunction, type FunctionName, localEnv, timeToFirstOk } from '../scripts/build-functions.ts';
import { readStack } from './openfaas-functions.ts';
import { type K8sObject, REPO_ROOT, render, TREES } from './render.ts';

const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
const playgroundImages = Object.keys(
  (
    parse(readFileSync(join(REPO_ROOT, 'playground', 'images.yaml'), 'utf8')) as {
      images: Record<string, unknown>;
    }
  ).images,
);

/** Every container image an object names, wherever the pod template sits (Deployment, Knative Service, ...). */
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

function repository(image: string): string {
  return image.replace(/@.*$/, '').replace(/:[^/:]+$/, '');
}

test('every image is pinned; selfheal images carry the project version and are ones the playground runs', async (t) => {
  const images = new Set<string>();
  for (const tree of TREES)
    for (const object of await render(tree)) for (const image of imagesOf(object)) images.add(image);
  for (const fn of Object.values(readStack().functions)) images.add(fn.image);
  t.true(images.size > 0);
  for (const image of images) {
    t.regex(image, /^[a-z0-9.-]+(:\d+)?\/[a-z0-9._/-]+:[\w.-]+$/, `${image} names a registry and a tag`);
    t.false(image.endsWith(':latest'), `${image} is pinned`);
    if (!image.startsWith('ghcr.io/selfheal/')) continue;
    t.true(image.endsWith(`:${version}`), `${image} is tagged with the project version ${version}`);
    t.true(
      playgroundImages.includes(repository(image)),
      `${repository(image)} is listed in playground/images.yaml`,
    );
  }
});

test('the Knative Services run the same function images as stack.yml', async (t) => {
  const stack = readStack();
  const services = (await render('overlays/knative')).filter(
    (o) => o.apiVersion === 'serving.knative.dev/v1',
  );
  t.is(services.length, Object.keys(stack.functions).length);
  for (const service of services) {
    t.deepEqual(imagesOf(service), [stack.functions[service.metadata.name]?.image], service.metadata.name);
  }
});

const built = new Map<FunctionName, ReturnType<typeof buildFunction>>();
const outDir = mkdtempSync(join(tmpdir(), 'selfheal-functions-'));
test.after.always(() => rmSync(outDir, { recursive: true, force: true }));
function buildOnce(name: FunctionName) {
  let result = built.get(name);
  if (!result) {
    result = buildFunction(name, outDir);
    built.set(name, result);
  }
  return result;
}

test('an action’s bundle carries only the parts of client-node the actions use', async (t) => {
  const bundle = readFileSync(join((await buildOnce('restart-pod')).dir, 'index.mjs'), 'utf8');
  t.true(bundle.includes('deleteNamespacedPod') && bundle.includes('patchNamespacedDeployment'));
  // The calls of API groups no action uses stay out: less to load and compile at every cold start.
  for (const unused of [
    'listJobForAllNamespaces',
    'createNamespacedNetworkPolicy',
    'createClusterRoleBinding',
  ]) {
    t.false(bundle.includes(unused), unused);
  }
});

for (const name of ['router', 'restart-pod'] as const) {
  test(`${name}: the build context is one self-contained bundle, the Dockerfile and a minimal package.json`, async (t) => {
    const fn = await buildOnce(name);
    t.deepEqual(fn.external, [], 'nothing left to load from node_modules');
    t.is(
      readFileSync(join(fn.dir, 'Dockerfile'), 'utf8'),
      readFileSync(join(REPO_ROOT, 'functions', 'Dockerfile'), 'utf8'),
    );
    const pkg = JSON.parse(readFileSync(join(fn.dir, 'package.json'), 'utf8'));
    t.like(pkg, { name: `selfheal-${name}`, version, type: 'module', main: 'index.mjs' });
    t.is(pkg.dependencies, undefined, 'no dependencies to install');
  });

  test(`${name}: the bundle starts under faas-js-runtime and answers its health checks`, async (t) => {
    const fn = await buildOnce(name);
    const port = await freePort();
    const ms = await timeToFirstOk([join(fn.dir, 'index.mjs')], localEnv(name, port), port);
    t.true(ms > 0);
  });

  test(`${name}: the image's command (launcher, then the bundle) starts it with the heap its limit allows`, async (t) => {
    const fn = await buildOnce(name);
    const port = await freePort();
    const env = { ...localEnv(name, port), SELFHEAL_MEMORY_LIMIT: '256Mi', LOG_LEVEL: 'info' };
    const child = spawn(process.execPath, [join(fn.dir, 'launch.mjs'), join(fn.dir, 'index.mjs')], {
      cwd: fn.dir,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.teardown(() => child.kill('SIGKILL'));
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const found = out.split('\n').find((l) => l.includes('"runtime limits"'));
        if (found) resolve(found);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    t.true(argv.includes('--max-old-space-size=142'), argv.join(' '));
    t.is((JSON.parse(line) as { heapLimitMiB: number }).heapLimitMiB, 142 + 3 * 8);
  });
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function dockerfileInstructions(): string[] {
  return readFileSync(join(REPO_ROOT, 'functions', 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n\s*/g, ' ')
    .split('\n');
}

test('the Dockerfile runs the bundle as a non-root user on port 8080, with no health check of its own', (t) => {
  const lines = dockerfileInstructions();
  const instruction = (name: string) => lines.filter((l) => l.startsWith(`${name} `));
  t.regex(instruction('FROM').join('\n'), /\$\{NODE_IMAGE\}/);
  t.regex(lines.find((l) => l.startsWith('ARG NODE_IMAGE')) ?? '', /node:24-/);
  t.deepEqual(instruction('USER'), ['USER 1000:1000']);
  t.deepEqual(instruction('EXPOSE'), ['EXPOSE 8080']);
  t.deepEqual(instruction('HEALTHCHECK'), []);
  t.deepEqual(instruction('CMD'), ['CMD ["node", "launch.mjs", "index.mjs"]']);
  // Everything the Dockerfile copies is in the context the build script lays out.
  for (const copy of instruction('COPY')) {
    const sources = copy.split(/\s+/).slice(1, -1);
    t.deepEqual(sources.sort(), ['index.mjs', 'launch.mjs', 'package.json']);
  }
});

test('the RUN step of the Dockerfile bakes a compile cache from the bundle without starting the function', async (t) => {
  const fn = await buildOnce('restart-pod');
  const runs = dockerfileInstructions().filter((l) => l.startsWith('RUN '));
  const bake = runs.find((l) => l.includes('NODE_COMPILE_CACHE'));
  if (!bake) return t.fail('no RUN step bakes the compile cache');
  const cache = join(fn.dir, '.compile-cache');
  // As in the image: the ENV lines before it, the build context as the working directory.
  const { status, stderr } = spawnSync('sh', ['-c', bake.slice('RUN '.length)], {
    cwd: fn.dir,
    env: {
      PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
      NODE_ENV: 'production',
      PORT: '8080',
      HOST: '0.0.0.0',
      NODE_COMPILE_CACHE: cache,
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  t.is(status, 0, stderr);
  t.true(readdirSync(cache, { recursive: true }).length > 0, 'the cache holds compiled code');
});
