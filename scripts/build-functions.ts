// Bundles each selfheal function with faas-js-runtime into one ES module and lays out a Docker build context per
// function in dist/functions/<name>/ (index.mjs, launch.mjs, package.json, Dockerfile), which
// `faas-cli build -f stack.yml` (lang: dockerfile) and `docker build dist/functions/<name>` both use.
//   node scripts/build-functions.ts [name ...] [--out DIR] [--measure]
// --measure also times spawn → first 200 on /health/readiness: TypeScript source, bundle, and the image's way
// (launcher, then the bundle with the compile cache the Dockerfile bakes).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { build, type Plugin } from 'esbuild';
import { freePort } from '../devkit/ports.ts';

const ROOT = join(import.meta.dirname, '..');
export const FUNCTIONS = ['router', 'restart-pod', 'redeploy', 'scale'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];
export const DEFAULT_OUT = join(ROOT, 'dist', 'functions');
const DOCKERFILE = join(ROOT, 'functions', 'Dockerfile');
const BUNDLE = 'index.mjs';
// The container's entry: sizes the heap from the memory limit, then becomes `node <heap flags> index.mjs`.
const LAUNCHER = 'launch.mjs';
const LAUNCHER_SOURCE = join(ROOT, 'functions', 'lib', 'launch.ts');
/**
 * Optional add-ons that dependencies try to load inside try/catch (ws: bufferutil, utf-8-validate; debug:
 * supports-color) and that are not installed: left as run-time requires, which fail and fall back as intended.
 */
export const OPTIONAL_ADDONS = ['bufferutil', 'utf-8-validate', 'supports-color'];

// The factory each function's index.ts exports, which functions/run.ts calls too.
const FACTORIES: Record<FunctionName, string> = {
  router: 'routerFunction',
  'restart-pod': 'restartPodFunction',
  redeploy: 'redeployFunction',
  scale: 'scaleFunction',
};

/**
 * The bundle's entry: what functions/run.ts does for one function, with only that function's module imported,
 * so each image carries its own code and nothing of the other three.
 */
export function entrySource(name: FunctionName): string {
  return `
import { ${FACTORIES[name]} as create } from './functions/${name}/index.ts';
import { loadConfig } from './functions/lib/config.ts';
import { SelfhealError } from './functions/lib/errors.ts';
import { watchdogLockFile } from './functions/lib/health.ts';
import { createLogger } from './functions/lib/log.ts';
import { startFunction } from './functions/lib/runtime.ts';

try {
  const config = loadConfig(${JSON.stringify(name)}, process.env);
  const log = createLogger(${JSON.stringify(name)}, config.logLevel);
  const running = await startFunction(create({ config: () => config, log }), {
    host: config.host,
    port: config.port,
    bodyLimit: config.maxBodyBytes,
    maxInflight: config.maxInflight,
    log,
    runtimeLogLevel: 'warn',
    configDir: import.meta.dirname,
    lockFile: watchdogLockFile(),
  });
  console.log('selfheal ${name} listening on ' + running.url);
} catch (err) {
  console.error(err instanceof SelfhealError ? 'selfheal: ' + err.message : 'selfheal: could not start: ' + (err?.stack ?? err));
  process.exit(1);
}
`;
}

/**
 * The runtime loads faas-js-runtime through `createRequire(import.meta.url)`, which esbuild leaves as a run-time
 * lookup in node_modules. Dropping that binding lets the bundle's own `require` take over, so esbuild bundles
 * faas-js-runtime (and Fastify) like any other dependency and the image needs no node_modules.
 */
const createRequireBinding = /^const require = createRequire\(import\.meta\.url\);$/m;
export const bundleRuntimeRequires: Plugin = {
  name: 'bundle-runtime-requires',
  setup(pluginBuild) {
    pluginBuild.onLoad({ filter: /[\\/]functions[\\/].*\.ts$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!createRequireBinding.test(source)) return undefined;
      return { contents: source.replace(createRequireBinding, ''), loader: 'ts' };
    });
  },
};

// CommonJS dependencies call require() for Node built-ins and read __dirname; an ES module has neither.
const BANNER = [
  "import { createRequire as __selfhealCreateRequire } from 'node:module';",
  "import { dirname as __selfhealDirname } from 'node:path';",
  "import { fileURLToPath as __selfhealFileURLToPath } from 'node:url';",
  'const require = __selfhealCreateRequire(import.meta.url);',
  'const __filename = __selfhealFileURLToPath(import.meta.url);',
  'const __dirname = __selfhealDirname(__filename);',
  // faas-js-runtime's metrics.js assigns the undeclared `osu`, fine in a sloppy CommonJS module, a ReferenceError
  // in the strict code of an ES module: declare it.
  'var osu;',
].join('\n');

export interface BuiltFunction {
  name: FunctionName;
  dir: string;
  bundleBytes: number;
  /** Anything esbuild left to be loaded at run time (must stay empty: the image has no node_modules). */
  external: string[];
  warnings: string[];
}

export function packageJson(name: FunctionName): string {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const pkg = {
    name: `selfheal-${name}`,
    version,
    private: true,
    description: `selfheal ${name} function: faas-js-runtime and the handler bundled into ${BUNDLE}`,
    type: 'module',
    main: BUNDLE,
    engines: { node: '>=24' },
    scripts: { start: `node ${LAUNCHER} ${BUNDLE}` },
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

export async function buildFunction(name: FunctionName, outDir = DEFAULT_OUT): Promise<BuiltFunction> {
  const dir = join(outDir, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const result = await build({
    stdin: {
      contents: entrySource(name),
      resolveDir: ROOT,
      sourcefile: `functions/${name}/entry.ts`,
      loader: 'ts',
    },
    outfile: join(dir, BUNDLE),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    banner: { js: BANNER },
    plugins: [bundleRuntimeRequires],
    external: OPTIONAL_ADDONS,
    // Smaller text parses faster at every cold start; names stay, so stack traces stay readable.
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    legalComments: 'eof',
    metafile: true,
    logLevel: 'silent',
  });
  // The launcher imports node built-ins only: a file of a few KiB that starts at once.
  const launcher = await build({
    entryPoints: [LAUNCHER_SOURCE],
    outfile: join(dir, LAUNCHER),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    minifyWhitespace: true,
    minifySyntax: true,
    metafile: true,
    logLevel: 'silent',
  });
  const external = [result, launcher]
    .flatMap((r) => Object.values(r.metafile.outputs))
    .flatMap((output) =>
      output.imports
        .filter((i) => i.external && !isBuiltin(i.path) && !OPTIONAL_ADDONS.includes(i.path))
        .map((i) => i.path),
    );
  copyFileSync(DOCKERFILE, join(dir, 'Dockerfile'));
  writeFileSync(join(dir, 'package.json'), packageJson(name));
  return {
    name,
    dir,
    bundleBytes: statSync(join(dir, BUNDLE)).size,
    external: [...new Set(external)].sort(),
    warnings: [...result.warnings, ...launcher.warnings].map((w) => `${w.location?.file ?? ''}: ${w.text}`),
  };
}

/** Environment a function needs to start outside a cluster (no real tokens, no real targets). */
export function localEnv(name: FunctionName, port: number): NodeJS.ProcessEnv {
  const base = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    SELFHEAL_NAMESPACES: 'demo',
    SELFHEAL_ACTION_TOKEN: 'local-build-check',
  };
  // An action refuses to start without a cluster to act on; its health checks do not call it, so an address is enough.
  if (name !== 'router') return { ...base, KUBECONFIG: process.env.KUBECONFIG ?? placeholderKubeconfig() };
  const actions = FUNCTIONS.filter((f) => f !== 'router').map((f) => `${f}=http://127.0.0.1:9/${f}`);
  return {
    ...base,
    SELFHEAL_WEBHOOK_TOKEN: 'local-build-check',
    SELFHEAL_SINK: 'direct',
    SELFHEAL_ACTION_URLS: actions.join(','),
  };
}

/** A kubeconfig naming a cluster nothing listens at, written once per process. */
function placeholderKubeconfig(): string {
  const path = join(tmpdir(), `selfheal-placeholder-${process.pid}.kubeconfig`);
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]',
      'users: [{name: none, user: {token: none}}]',
      'contexts: [{name: none, context: {cluster: none, user: none}}]',
      'current-context: none',
      '',
    ].join('\n'),
  );
  return path;
}

/**
 * Spawns `node ...args` and polls /health/readiness until it answers 200: the cold start a platform sees.
 * Returns the milliseconds from spawn to that first 200 and stops the process.
 */
export async function timeToFirstOk(
  args: string[],
  env: NodeJS.ProcessEnv,
  port: number,
  timeoutMs = 30_000,
) {
  const started = performance.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    while (performance.now() - started < timeoutMs) {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${stderr.trim()}`);
      try {
        const response = await fetch(`http://127.0.0.1:${port}/health/readiness`);
        await response.arrayBuffer();
        if (response.status === 200) return performance.now() - started;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error(`no 200 within ${timeoutMs} ms: ${stderr.trim()}`);
  } finally {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Writes V8's compile cache for a bundle the way functions/Dockerfile does at image build time. */
export function bakeCompileCache(built: BuiltFunction): string {
  const cache = join(built.dir, '.compile-cache');
  rmSync(cache, { recursive: true, force: true });
  spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "import module from 'node:module'; process.on('exit', () => module.flushCompileCache()); await import('./index.mjs');",
    ],
    { cwd: built.dir, env: { ...process.env, PORT: 'none', NODE_COMPILE_CACHE: cache }, stdio: 'ignore' },
  );
  return cache;
}

export interface ColdStart {
  source: number;
  bundled: number;
  bundledWithCache: number;
}

export async function measure(built: BuiltFunction, runs: number): Promise<ColdStart> {
  const cache = bakeCompileCache(built);
  const times: Record<keyof ColdStart, number[]> = { source: [], bundled: [], bundledWithCache: [] };
  const bundle = join(built.dir, BUNDLE);
  for (let i = 0; i < runs; i++) {
    let port = await freePort();
    times.source.push(
      await timeToFirstOk(['functions/run.ts', built.name], localEnv(built.name, port), port),
    );
    port = await freePort();
    times.bundled.push(await timeToFirstOk([bundle], localEnv(built.name, port), port));
    // As the image runs it: through the launcher (one exec more) with a memory limit, and the compile cache.
    port = await freePort();
    const env = { ...localEnv(built.name, port), NODE_COMPILE_CACHE: cache, SELFHEAL_MEMORY_LIMIT: '256Mi' };
    times.bundledWithCache.push(await timeToFirstOk([join(built.dir, LAUNCHER), bundle], env, port));
  }
  rmSync(cache, { recursive: true, force: true });
  return {
    source: median(times.source),
    bundled: median(times.bundled),
    bundledWithCache: median(times.bundledWithCache),
  };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { out: { type: 'string' }, measure: { type: 'boolean' }, runs: { type: 'string' } },
  });
  const unknown = positionals.filter((p) => !(FUNCTIONS as readonly string[]).includes(p));
  if (unknown.length > 0) {
    console.error(`unknown function(s) ${unknown.join(', ')}; the functions are ${FUNCTIONS.join(', ')}`);
    process.exit(2);
  }
  const names = positionals.length > 0 ? (positionals as FunctionName[]) : [...FUNCTIONS];
  const outDir = values.out ?? DEFAULT_OUT;
  for (const name of names) {
    const built = await buildFunction(name, outDir);
    for (const warning of built.warnings) console.error(`warning: ${name}: ${warning}`);
    if (built.external.length > 0) {
      console.error(`${name}: the bundle still loads ${built.external.join(', ')} at run time`);
      process.exit(1);
    }
    let line = `${name}: ${relative(ROOT, join(built.dir, BUNDLE))} ${(built.bundleBytes / 1024).toFixed(0)} KiB`;
    if (values.measure) {
      const { source, bundled, bundledWithCache } = await measure(built, Number(values.runs ?? 5));
      line +=
        `, spawn → first 200 (median): source ${source.toFixed(0)} ms, bundle ${bundled.toFixed(0)} ms, ` +
        `bundle + compile cache ${bundledWithCache.toFixed(0)} ms`;
    }
    console.log(line);
  }
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    console.error(`build-functions: ${(err as Error)?.message ?? err}`);
    process.exit(1);
  });
}
