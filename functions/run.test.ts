// `npm run function -- <name>`: the command line a container runs — clear errors, the URL printed, KUBECONFIG used.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { testCluster, useNamespace } from '../test/helpers/cluster.ts';
import { applyRbac } from './test-helpers.ts';

const RUN = join(import.meta.dirname, 'run.ts');

type Run = {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
};

function run(t: ExecutionContext, args: string[], env: NodeJS.ProcessEnv): Run {
  const child = spawn(process.execPath, [RUN, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: 'pipe',
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function listening(r: Run): Promise<string> {
  // A start from source loads faas-js-runtime (and an action the Kubernetes client): seconds on a busy machine.
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    const match = /listening on (http:\/\/\S+)/.exec(r.stdout());
    if (match?.[1]) return match[1];
    if (r.child.exitCode !== null) throw new Error(`exited ${r.child.exitCode}: ${r.stderr()}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`never printed its URL: ${r.stdout()} ${r.stderr()}`);
}

test('an unknown function name is an error that lists the four functions', async (t) => {
  const r = run(t, ['reboot'], {});
  t.is(await r.exited, 2);
  t.regex(r.stderr(), /unknown function "reboot"; the functions are router, restart-pod, redeploy, scale/);
});

test('a bad configuration stops the start with every problem named', async (t) => {
  const r = run(t, ['router'], { SELFHEAL_SINK: 'smoke-signals' });
  t.is(await r.exited, 1);
  t.regex(r.stderr(), /invalid configuration of router/);
  t.regex(r.stderr(), /SELFHEAL_SINK: must be one of direct, openfaas, knative/);
  t.regex(r.stderr(), /SELFHEAL_WEBHOOK_TOKEN or SELFHEAL_WEBHOOK_TOKEN_FILE is required/);
  t.notRegex(r.stderr(), /\n\s+at /, 'no stack trace');
});

test('secure by default: an action without an allow-list or a token refuses to start, and says how to proceed', async (t) => {
  const r = run(t, ['restart-pod', '--port', '0', '--host', '127.0.0.1'], { LOG_LEVEL: 'silent' });
  t.is(await r.exited, 1);
  t.regex(r.stderr(), /invalid configuration of restart-pod/);
  t.regex(r.stderr(), /SELFHEAL_NAMESPACES: is required: .* or \* for every namespace/);
  t.regex(r.stderr(), /SELFHEAL_ACTION_TOKEN or SELFHEAL_ACTION_TOKEN_FILE is required/);
  t.notRegex(r.stderr(), /\n\s+at /, 'no stack trace');
});

test('an action without KUBECONFIG, service account or ~/.kube/config refuses to start and says why', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'selfheal-home-'));
  const r = run(t, ['scale', '--port', '0', '--host', '127.0.0.1'], {
    HOME: home,
    LOG_LEVEL: 'silent',
    SELFHEAL_NAMESPACES: 'demo',
    SELFHEAL_ACTION_TOKEN: 'x',
  });
  t.is(await r.exited, 1);
  t.regex(
    r.stderr(),
    /no Kubernetes cluster configured: set KUBECONFIG, or run in a pod with a service account/,
  );
});

test('the router starts on the given host and port, prints its URL and stops on SIGTERM', async (t) => {
  const r = run(t, ['router', '--port', '0', '--host', '127.0.0.1'], {
    SELFHEAL_WEBHOOK_TOKEN: 'x',
    SELFHEAL_ACTION_TOKEN: 'y',
    SELFHEAL_NAMESPACES: 'demo',
    SELFHEAL_SINK: 'openfaas',
    SELFHEAL_OPENFAAS_GATEWAY: 'http://127.0.0.1:9',
    LOG_LEVEL: 'silent',
  });
  const url = await listening(r);
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.is((await fetch(`${url}/health/readiness`)).status, 200);
  t.is((await fetch(url, { method: 'POST' })).status, 401);
  r.child.kill('SIGTERM');
  t.is(await r.exited, 0);
});

test('an action started from the command line uses KUBECONFIG and answers from the cluster', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'run');
  await applyRbac(kc, ns);
  const cluster = await testCluster();
  const dir = mkdtempSync(join(tmpdir(), 'selfheal-run-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, cluster.kubeconfigTextForToken(await cluster.mintToken(ns, 'restart-pod'), ns));
  const r = run(t, ['restart-pod', '--port', '0'], {
    KUBECONFIG: kubeconfig,
    HOST: '127.0.0.1',
    SELFHEAL_NAMESPACES: ns,
    SELFHEAL_ACTION_AUTH: 'platform',
    LOG_LEVEL: 'silent',
  });
  const url = await listening(r);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ namespace: ns, pod: 'nothing-here' }),
  });
  t.is(res.status, 200);
  t.like(await res.json(), { outcome: 'skipped', reason: 'pod-gone' });
  r.child.kill('SIGTERM');
  t.is(await r.exited, 0);
});
