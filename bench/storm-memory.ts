// Measures the router's peak resident memory (VmHWM, Linux) for one notification of N alerts, started as its
// container starts it (through the launcher, its heap sized from its memory limit), delivering to an action that
// answers at once:
//   node bench/storm-memory.ts [--alerts 5000] [--bundle dist/functions/router/index.mjs]
//                                         [--memory-limit 192Mi] [--node-options=...]
// --memory-limit 0 leaves the heap to Node. Without --bundle it runs the TypeScript source (functions/run.ts),
// which idles about 30 MiB higher.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stormPayload } from '../functions/router/storm-payload.ts';
import { instantAction } from './instant-action.ts';

const TOKEN = 'storm-memory-token';
const { values } = parseArgs({
  options: {
    alerts: { type: 'string', default: '5000' },
    bundle: { type: 'string' },
    // The router's limit in stack.yml and the Knative Service.
    'memory-limit': { type: 'string', default: '192Mi' },
    'node-options': { type: 'string', default: '' },
  },
});

const mib = (kib: number) => Math.round(kib / 1024);
const peakKib = (pid: number) =>
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);

const action = await instantAction();
const actionUrl = action.url;

const FUNCTIONS = join(import.meta.dirname, '..', 'functions');
const entry = values.bundle ? [values.bundle] : [join(FUNCTIONS, 'run.ts'), 'router'];
// The launcher replaces itself with the function's process (same PID), as in the images.
const router = spawn(process.execPath, [join(FUNCTIONS, 'lib', 'launch.ts'), ...entry], {
  env: {
    SELFHEAL_MEMORY_LIMIT: values['memory-limit'],
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    NODE_OPTIONS: values['node-options'],
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    SELFHEAL_WEBHOOK_TOKEN: TOKEN,
    SELFHEAL_SINK: 'direct',
    SELFHEAL_ACTION_URLS: `restart-pod=${actionUrl},redeploy=${actionUrl},scale=${actionUrl}`,
    SELFHEAL_NAMESPACES: 'demo',
    SELFHEAL_ACTION_AUTH: 'platform',
    // Memory is measured here, not the deadline: let every delivery finish.
    SELFHEAL_ANSWER_DEADLINE_MS: '600000',
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let stdout = '';
let url: string | undefined;
router.stdout.on('data', (chunk) => {
  stdout += chunk;
  url ??= /listening on (http:\/\/\S+)/.exec(stdout)?.[1];
  if (url) stdout = '';
});
router.on('exit', (code) => {
  if (code) {
    console.error(`the router exited with ${code}`);
    process.exit(1);
  }
});
while (!url) await new Promise((r) => setTimeout(r, 50));

const notify = async (body: string) => {
  const res = await fetch(`${url}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body,
  });
  await res.text();
  return res.status;
};
// A small notification first, so that what is measured is the storm, not loading code.
await notify(stormPayload(10).body);
const idle = peakKib(router.pid as number);
const { body } = stormPayload(Number(values.alerts));
const started = performance.now();
const status = await notify(body);
const seconds = (performance.now() - started) / 1000;
const peak = peakKib(router.pid as number);
console.log(
  `${values.alerts} alerts (${(body.length / 1e6).toFixed(1)} MB): answered ${status} in ${seconds.toFixed(1)} s; ` +
    `peak resident ${mib(idle)} MiB before, ${mib(peak)} MiB after (memory limit ${values['memory-limit']}` +
    `${values['node-options'] ? `, ${values['node-options']}` : ''})`,
);
router.kill('SIGTERM');
action.close();
