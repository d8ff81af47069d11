// `npm test`: lint and type-check, then every ava test against one real control plane started for the run.
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MissingBinariesError, resolveBinaries } from '../devkit/binaries.ts';
import { type ControlPlane, startControlPlane } from '../devkit/control-plane.ts';
import { TEST_CA_ENV, TEST_KUBECONFIG_ENV } from './helpers/env.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const tool = (path: string) => join(root, 'node_modules', path);
const say = (line: string) => process.stdout.write(`[test] ${line}\n`);
const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)}s`;

let cluster: ControlPlane | undefined;
let current: ChildProcess | undefined;
const starting = new AbortController();
let interrupted = false;

/** Runs a Node CLI with this Node (not whatever `node` is on PATH); resolves with its exit code. */
function runNode(
  label: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const started = performance.now();
  say(`${label} …`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
    current = child;
    child.on('error', (err) => {
      say(`${label}: cannot run (${err.message})`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      if (current === child) current = undefined;
      const status = code ?? 1;
      say(
        `${label}: ${status === 0 ? 'ok' : signal ? `killed by ${signal}` : `failed (exit ${status})`} in ${seconds(started)}`,
      );
      resolve(status);
    });
  });
}

let finishing: Promise<never> | undefined;

/** Stops the control plane and exits; the first caller (end of run or a signal) decides the exit code. */
function finish(code: number): Promise<never> {
  finishing ??= (async () => {
    if (cluster && code !== 0 && !interrupted) keepLogs(cluster.dir);
    if (cluster) {
      const stopping = performance.now();
      await cluster.stop();
      say(`control plane stopped in ${seconds(stopping)}`);
    }
    process.exit(code);
  })();
  return finishing;
}

/** After a failed run the component logs outlive the control plane, for a look at what the cluster saw. */
function keepLogs(dir: string): void {
  const target = join(root, '.tmp', 'cluster-logs');
  try {
    rmSync(target, { recursive: true, force: true });
    mkdirSync(target, { recursive: true });
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.log')))
      copyFileSync(join(dir, file), join(target, file));
    say(`control plane logs kept in ${target}`);
  } catch (err) {
    say(`could not keep the control plane logs: ${(err as Error).message}`);
  }
}

function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) return;
  interrupted = true;
  say(`${signal}: stopping`);
  starting.abort(new Error(signal));
  current?.kill('SIGTERM');
  void finish(signal === 'SIGINT' ? 130 : 143);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);

// The control plane is not optional: without its binaries the run fails and says how to get them.
try {
  resolveBinaries();
} catch (err) {
  if (!(err instanceof MissingBinariesError)) throw err;
  process.stderr.write(`[test] cannot run the tests: ${err.message}\n`);
  process.exit(1);
}

if ((await runNode('biome check .', [tool('@biomejs/biome/bin/biome'), 'check', '.'])) !== 0) await finish(1);

// Type-check while the control plane starts: both take seconds, and neither needs the other.
const started = performance.now();
const clusterReady = startControlPlane({ signal: starting.signal }).then(
  (cp) => {
    cluster = cp;
    say(`control plane ready in ${seconds(started)} at ${cp.server} (logs in ${cp.dir})`);
    return true;
  },
  (err: Error) => {
    if (!interrupted) process.stderr.write(`[test] the control plane did not start: ${err.message}\n`);
    return false;
  },
);
const typesOk =
  (await runNode('tsc --noEmit', [tool('typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.json'])) === 0;
const clusterOk = await clusterReady;
if (!typesOk || !clusterOk || !cluster) await finish(1);

const avaArgs = process.argv.slice(2);
const code = await runNode(
  `ava${avaArgs.length ? ` ${avaArgs.join(' ')}` : ''}`,
  [tool('ava/entrypoints/cli.mjs'), ...avaArgs],
  {
    ...process.env,
    [TEST_KUBECONFIG_ENV]: cluster?.kubeconfigPath,
    [TEST_CA_ENV]: cluster?.caCertPath,
  },
);
if (code !== 0 || avaArgs.length > 0) await finish(code);

// The end-to-end phase runs the whole playground (its own control plane) on a quiet machine: alone, last.
if (cluster) {
  const stopping = performance.now();
  await cluster.stop();
  cluster = undefined;
  say(`control plane stopped in ${seconds(stopping)}`);
}
await finish(
  await runNode('ava (end to end: the playground heals every scenario)', [
    tool('ava/entrypoints/cli.mjs'),
    '--config',
    'ava.e2e.config.js',
  ]),
);
