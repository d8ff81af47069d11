// Peak memory of the four functions under an alert storm, next to the limits stack.yml gives them: a real control
// plane, the functions as processes acting with their own ServiceAccounts, and N distinct alerts sent as
// Alertmanager webhooks all at once, each retried on 5xx as Alertmanager does, until every alert is answered.
//   node bench/storm.ts [--alerts 1000] [--per-webhook 10] [--modes unbounded,image] [--deadline 600]
//                       [--unbounded-deadline 120]
// Modes: unbounded = `node functions/run.ts` without heap flags or an in-flight bound (how it ran before);
// bounded = through the launcher with the limit and the default SELFHEAL_MAX_INFLIGHT (npm run function, the
// playground); image = the image's command, `node launch.mjs index.mjs` on the bundle.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { readStack } from '../manifests/openfaas-functions.ts';
import { type ControlPlane, startControlPlane } from '../playground/cluster/control-plane.ts';
import { freePort } from '../playground/cluster/ports.ts';
import { buildFunction } from '../scripts/build-functions.ts';
import { eventually } from '../test/helpers/wait.ts';
import { benchNamespace, createDeployments, serviceAccountKubeconfig } from './cluster.ts';
import { type Listening, startListening, stop } from './processes.ts';
import { type StormTargets, stormAlerts, webhooks } from './storm-payloads.ts';

const ROOT = join(import.meta.dirname, '..');
const FUNCTIONS = ['router', 'restart-pod', 'redeploy', 'scale'] as const;
type Fn = (typeof FUNCTIONS)[number];
const ACTIONS = FUNCTIONS.filter((f) => f !== 'router');
const MODES = ['unbounded', 'bounded', 'image'] as const;
type Mode = (typeof MODES)[number];
const DEPLOYMENTS = 50;
const REPLICAS = 2;
const WEBHOOK_TOKEN = 'storm-webhook';
const ACTION_TOKEN = 'storm-action';

const { values } = parseArgs({
  options: {
    alerts: { type: 'string', default: '1000' },
    'per-webhook': { type: 'string', default: '10' },
    modes: { type: 'string', default: 'unbounded,image' },
    // How long Alertmanager would keep retrying. Without the bounds the storm is never answered: a shorter wait
    // is enough to see its memory.
    deadline: { type: 'string', default: '600' },
    'unbounded-deadline': { type: 'string', default: '120' },
  },
});
const deadlineOf = (mode: Mode) =>
  Number(mode === 'unbounded' ? values['unbounded-deadline'] : values.deadline);
const alertCount = Number(values.alerts);
const perWebhook = Number(values['per-webhook']);
const modes = values.modes.split(',') as Mode[];
if (!Number.isInteger(alertCount) || alertCount < 1 || !Number.isInteger(perWebhook) || perWebhook < 1) {
  console.error(
    'usage: node bench/storm.ts [--alerts N] [--per-webhook N] [--modes unbounded,bounded,image]',
  );
  process.exit(2);
}
if (modes.some((m) => !(MODES as readonly string[]).includes(m))) {
  console.error(`unknown mode in ${values.modes}; the modes are ${MODES.join(', ')}`);
  process.exit(2);
}

// The memory limits the functions ship with (stack.yml; the Knative Services say the same).
const stack = readStack();
const limitOf = (fn: Fn) => String(stack.functions[fn]?.limits?.memory ?? '');
const mib = (quantity: string) => Number(/^(\d+)Mi$/.exec(quantity)?.[1] ?? Number.NaN);

const statusKiB = (pid: number, field: string) =>
  Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

// A namespace with opted-in Deployments and their pods (Pending: no node here; restart-pod deletes them all the same).
async function workloads(kc: KubeConfig, namespace: string): Promise<StormTargets> {
  await benchNamespace(kc, namespace);
  const deployments = Array.from({ length: DEPLOYMENTS }, (_, i) => `web-${i}`);
  await createDeployments(kc, namespace, deployments, { replicas: REPLICAS });
  const core = kc.makeApiClient(CoreV1Api);
  const pods = await eventually(
    'the pods of every Deployment',
    async () => {
      const { items } = await core.listNamespacedPod({ namespace });
      return items.length >= DEPLOYMENTS * REPLICAS
        ? items.map((p) => p.metadata?.name as string)
        : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
  return { namespace, deployments, pods };
}

type Running = Listening & { name: Fn };

async function startFn(fn: Fn, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Running> {
  return { ...(await startListening(fn, args, cwd, env)), name: fn };
}

// How many calls the function shed; '?' when its /metrics does not answer within 5 s (buried under a backlog).
async function shedCount(url: string): Promise<string> {
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    return /^selfheal_invocations_shed_total (\d+)/m.exec(text)?.[1] ?? '0';
  } catch {
    return '?';
  }
}

type StormResult = {
  seconds: number;
  answered: number;
  outcomes: Record<string, number>;
  notifications: number;
  retried: number;
};

// Sends every webhook at once; a 5xx or a refused connection is retried after a back-off, as Alertmanager does,
// until the deadline. Progress (and why alerts were retried) goes to stderr.
async function storm(routerUrl: string, bodies: string[], deadlineSeconds: number): Promise<StormResult> {
  const started = performance.now();
  const outcomes: Record<string, number> = {};
  let notifications = 0;
  let retried = 0;
  let answered = 0;
  const deadline = Date.now() + deadlineSeconds * 1000;
  const reasons: Record<string, number> = {};
  const progress = setInterval(() => {
    const why = Object.entries(reasons).map(([reason, n]) => `${n} ${reason}`);
    console.error(`  ${answered} alerts answered, ${retried} notifications retried (${why.join(', ')})`);
  }, 30_000);
  await Promise.all(
    bodies.map(async (body) => {
      for (let attempt = 0; ; attempt++) {
        // Alertmanager gives up on a notification too, when its context ends.
        if (Date.now() > deadline) return;
        notifications++;
        let status = 0;
        let text = '';
        try {
          const res = await fetch(routerUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
            body,
          });
          status = res.status;
          text = await res.text();
        } catch {}
        if (status === 200) {
          for (const result of (JSON.parse(text) as { results: Array<{ outcome: string }> }).results) {
            outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
            answered++;
          }
          return;
        }
        if (status !== 0 && status < 500) throw new Error(`the router answered ${status}: ${text}`);
        retried++;
        if (status === 503) {
          try {
            const parsed = JSON.parse(text) as {
              results?: Array<{ outcome: string; reason?: string }>;
              reason?: string;
            };
            for (const r of parsed.results ?? [{ outcome: 'router', reason: parsed.reason }]) {
              const key = `${r.outcome} ${r.reason}`;
              if (r.outcome !== 'accepted') reasons[key] = (reasons[key] ?? 0) + 1;
            }
          } catch {}
        }
        await sleep(Math.min(8000, 500 * 2 ** attempt) * (0.5 + Math.random()));
      }
    }),
  );
  clearInterval(progress);
  return { seconds: (performance.now() - started) / 1000, answered, outcomes, notifications, retried };
}

function commandFor(mode: Mode, fn: Fn, bundles: string | undefined): { args: string[]; cwd: string } {
  if (mode === 'unbounded') return { args: ['functions/run.ts', fn], cwd: ROOT };
  if (mode === 'bounded') return { args: ['functions/lib/launch.ts', 'functions/run.ts', fn], cwd: ROOT };
  const dir = join(bundles as string, fn);
  return { args: [join(dir, 'launch.mjs'), join(dir, 'index.mjs')], cwd: dir };
}

async function runMode(cluster: ControlPlane, mode: Mode, bundles: string | undefined, dir: string) {
  const namespace = `storm-${mode}`;
  const targets = await workloads(cluster.kubeConfig(), namespace);
  const base = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    SELFHEAL_NAMESPACES: namespace,
    SELFHEAL_ACTION_TOKEN: ACTION_TOKEN,
  };
  const bounds = (fn: Fn) =>
    mode === 'unbounded' ? { SELFHEAL_MAX_INFLIGHT: '10000' } : { SELFHEAL_MEMORY_LIMIT: limitOf(fn) };
  const running: Running[] = [];
  try {
    for (const fn of ACTIONS) {
      const kubeconfig = await serviceAccountKubeconfig(cluster, namespace, fn, dir);
      const { args, cwd } = commandFor(mode, fn, bundles);
      const env = { ...base, ...bounds(fn), PORT: String(await freePort()), KUBECONFIG: kubeconfig };
      running.push(await startFn(fn, args, env, cwd));
    }
    const urls = running.map((r) => `${r.name}=${r.url}`).join(',');
    const { args, cwd } = commandFor(mode, 'router', bundles);
    const routerEnv = {
      ...base,
      ...bounds('router'),
      PORT: String(await freePort()),
      SELFHEAL_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      SELFHEAL_SINK: 'direct',
      SELFHEAL_ACTION_URLS: urls,
    };
    const router = await startFn('router', args, routerEnv, cwd);
    running.unshift(router);
    const atRest = new Map(running.map((r) => [r.name, statusKiB(r.pid, 'VmRSS') / 1024]));

    const alerts = stormAlerts(alertCount, targets, new Date().toISOString());
    const result = await storm(router.url, webhooks(alerts, perWebhook), deadlineOf(mode));
    // Read at once: the high-water mark of each process's resident memory over its whole life.
    const peaks = new Map(running.map((r) => [r.name, statusKiB(r.pid, 'VmHWM') / 1024]));

    const outcomes = Object.entries(result.outcomes).map(([k, v]) => `${v} ${k}`);
    console.log(
      `${mode}: ${result.answered} of ${alertCount} alerts answered (${outcomes.join(', ') || 'none'}) in ` +
        `${result.seconds.toFixed(1)} s (deadline ${deadlineOf(mode)} s); ${result.notifications} notifications, ` +
        `${result.retried} retried after a 5xx`,
    );
    console.log(`${mode}: ${alertCount - result.answered} alerts left unanswered`);
    for (const r of running) {
      const peak = peaks.get(r.name) ?? Number.NaN;
      const limit = limitOf(r.name);
      const flags = readFileSync(`/proc/${r.pid}/cmdline`, 'utf8')
        .split('\0')
        .filter((a) => a.startsWith('--max-'));
      console.log(
        `${mode} ${r.name}: peak RSS ${peak.toFixed(1)} MiB, ${((100 * peak) / mib(limit)).toFixed(0)} % of its ` +
          `${limit} limit (at rest ${atRest.get(r.name)?.toFixed(1)} MiB; ${await shedCount(r.url)} calls shed; ` +
          `heap flags: ${flags.join(' ') || 'none'})`,
      );
    }
  } finally {
    await Promise.all(running.map(stop));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'selfheal-storm-'));
let bundles: string | undefined;
if (modes.includes('image')) {
  bundles = join(dir, 'bundles');
  for (const fn of FUNCTIONS) await buildFunction(fn, bundles);
}
console.log(
  `storm: ${alertCount} distinct alerts (a third each for restart-pod, redeploy, scale) over ${DEPLOYMENTS} ` +
    `opted-in Deployments of ${REPLICAS} pods, ${Math.ceil(alertCount / perWebhook)} webhooks of ${perWebhook} sent at once, ` +
    `5xx retried; limits from stack.yml: ${FUNCTIONS.map((f) => `${f} ${limitOf(f)}`).join(', ')}`,
);
const cluster = await startControlPlane();
const stopAll = async () => {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
};
// The function processes are killed at exit (processes.ts).
process.once('SIGINT', () => {
  void stopAll().then(() => process.exit(130));
});
try {
  for (const mode of modes) await runMode(cluster, mode, bundles, dir);
} finally {
  await stopAll();
}
