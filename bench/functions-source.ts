// Measures the functions as a platform runs them (`node functions/run.ts <name>`):
//   cold start  spawn → first 200 on /health/readiness, per function (median of --runs)
//   router      webhook in → answer out for captured Alertmanager payloads, per notification and per alert,
//               with actions that answer at once (the router's own cost: parse, plan, deliver, answer)
// Usage: node bench/functions-source.ts [--runs N] [--requests N]
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../devkit/ports.ts';
import { FUNCTION_NAMES, type FunctionName } from '../functions/lib/config.ts';
import { instantAction } from './instant-action.ts';

const FUNCTIONS = join(import.meta.dirname, '..', 'functions');
const RUN = join(FUNCTIONS, 'run.ts');
const FIXTURES = join(FUNCTIONS, 'lib', 'fixtures', 'alertmanager-0.35.0');
const TOKEN = 'bench-token';

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))] ??
  Number.NaN;

function envFor(name: FunctionName, port: number, actionUrl: string, kubeconfig: string): NodeJS.ProcessEnv {
  const base = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    SELFHEAL_NAMESPACES: '*',
    SELFHEAL_ACTION_AUTH: 'platform',
  };
  if (name === 'router') {
    return {
      ...base,
      SELFHEAL_WEBHOOK_TOKEN: TOKEN,
      SELFHEAL_SINK: 'direct',
      SELFHEAL_ACTION_URLS: `restart-pod=${actionUrl},redeploy=${actionUrl},scale=${actionUrl}`,
    };
  }
  // init() only builds the client; nothing is asked of this (unreachable) server before the first request.
  return { ...base, KUBECONFIG: kubeconfig };
}

async function start(
  name: FunctionName,
  env: NodeJS.ProcessEnv,
  port: number,
): Promise<{ ms: number; child: ChildProcess }> {
  const started = performance.now();
  const child = spawn(process.execPath, [RUN, name], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited ${child.exitCode}: ${stderr}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health/readiness`);
      await res.arrayBuffer();
      if (res.status === 200) return { ms: performance.now() - started, child };
    } catch {}
    if (performance.now() - started > 30_000) throw new Error(`${name} not ready after 30 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

const { values } = parseArgs({ options: { runs: { type: 'string' }, requests: { type: 'string' } } });
const runs = Number(values.runs ?? 5);
const requests = Number(values.requests ?? 200);
const dir = mkdtempSync(join(tmpdir(), 'selfheal-bench-'));
const kubeconfig = join(dir, 'kubeconfig');
writeFileSync(
  kubeconfig,
  `apiVersion: v1
kind: Config
clusters: [{ name: bench, cluster: { server: 'https://127.0.0.1:9', insecure-skip-tls-verify: true } }]
users: [{ name: bench, user: { token: bench } }]
contexts: [{ name: bench, context: { cluster: bench, user: bench } }]
current-context: bench
`,
);
const action = await instantAction();

console.log(
  `cold start, spawn → first 200 on /health/readiness (median of ${runs}, Node ${process.version}):`,
);
for (const name of FUNCTION_NAMES) {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const port = await freePort();
    const { ms, child } = await start(name, envFor(name, port, action.url, kubeconfig), port);
    times.push(ms);
    await stop(child);
  }
  console.log(
    `  ${name.padEnd(12)} ${median(times).toFixed(0).padStart(5)} ms   (min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)})`,
  );
}

const port = await freePort();
const { child: router } = await start('router', envFor('router', port, action.url, kubeconfig), port);
console.log(
  `router, webhook → answer, ${requests} sequential notifications each (Alertmanager 0.35 payloads):`,
);
for (const fixture of ['firing', 'multi']) {
  const body = readFileSync(join(FIXTURES, `${fixture}.json`), 'utf8');
  const alerts = (JSON.parse(body).alerts as unknown[]).length;
  const times: number[] = [];
  for (let i = 0; i < requests + 20; i++) {
    const started = performance.now();
    const res = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body,
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`router answered ${res.status}`);
    if (i >= 20) times.push(performance.now() - started);
  }
  const p50 = median(times);
  console.log(
    `  ${fixture.padEnd(7)} ${alerts} alert(s): p50 ${p50.toFixed(2)} ms, p95 ${percentile(times, 95).toFixed(2)} ms per notification; p50 ${(p50 / alerts).toFixed(2)} ms per alert`,
  );
}
await stop(router);
action.close();
