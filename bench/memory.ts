// Resident memory of each function side by side with a bare faas-js-runtime hello-world, both started as the image
// starts them (launcher, compile cache, the function's memory limit): idle after start (started in turn, with the
// single-call function beside the actions, which shows what client-node alone costs), and after 1,000 remediations
// against the real API server (router: 1,000 notifications to an instant sink) next to the hello-world after 1,000
// requests.
//   node bench/memory.ts [--starts 3] [--invocations 1000]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { ControlPlane } from '../devkit/control-plane.ts';
import { ACTIONS, type Action } from './baselines/calls.ts';
import { actionBundles, type Bundle, baselineBundle, productBundle } from './bundles.ts';
import { benchNamespace, withControlPlane } from './cluster.ts';
import { type Listening, post, rssMiB, startImage, startScript, stop, untilReady } from './processes.ts';
import { reportLine, side } from './reported.ts';
import { alternate, ratio, summarize } from './stats.ts';
import { stormAlerts, webhooks } from './storm-payloads.ts';
import { askSelfheal, setUpAction, TargetPool } from './targets.ts';

const { values } = parseArgs({
  options: { starts: { type: 'string', default: '3' }, invocations: { type: 'string', default: '1000' } },
});
const starts = Number(values.starts);
const invocations = Number(values.invocations);
// Time left after readiness for start-up work to settle before "idle" is read.
const SETTLE_MS = 1000;
// Calls in flight while the 1,000 invocations run (below the functions' bound of 8).
const IN_FLIGHT = 4;
const NAMESPACE = 'bench-memory';
const ACTION_TOKEN = 'bench-action-token';
const WEBHOOK_TOKEN = 'bench-webhook-token';
type Fn = 'router' | Action;

const mib = (xs: number[]) => {
  const s = summarize(xs);
  return `${s.median.toFixed(1)} MiB (${s.p25.toFixed(1)}–${s.p75.toFixed(1)})`;
};

async function idle(start: () => Promise<Listening>): Promise<number> {
  const fn = await start();
  try {
    await untilReady(fn);
    await sleep(SETTLE_MS);
    return rssMiB(fn.pid);
  } finally {
    await stop(fn);
  }
}

/** Runs `count` calls, IN_FLIGHT at a time; `call` learns which of the IN_FLIGHT workers makes it. */
async function drive(count: number, call: (i: number, worker: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (_: unknown, w: number) => {
    while (next < count) await call(next++, w);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

interface Subject {
  fn: Fn;
  start: () => Promise<Listening>;
  hello: () => Promise<Listening>;
  singleCall?: () => Promise<Listening>;
  /** One invocation of the started function (a remediation, or a notification) by one of the IN_FLIGHT workers. */
  invoke: (fn: Listening, i: number, worker: number) => Promise<unknown>;
}

async function measure(subject: Subject): Promise<void> {
  const { fn } = subject;
  const sides = subject.singleCall
    ? (['selfheal', 'hello', 'single-call'] as const)
    : (['selfheal', 'hello'] as const);
  const starters = { selfheal: subject.start, hello: subject.hello, 'single-call': subject.singleCall };
  const atRest = await alternate<(typeof sides)[number]>(sides, starts, (who) =>
    idle(starters[who] as () => Promise<Listening>),
  );
  const median = (xs: number[]) => summarize(xs).median;
  const floor = subject.singleCall ? `, single-call function ${mib(atRest['single-call'] ?? [])}` : '';
  console.log(
    `${fn}: idle after start: selfheal ${mib(atRest.selfheal)}, hello-world ${mib(atRest.hello)}${floor}`,
  );
  console.log(
    reportLine(
      `${fn}: resident memory idle after start, × the hello-world`,
      ratio(median(atRest.selfheal), median(atRest.hello)),
      [side('selfheal', 'MiB', atRest.selfheal), side('hello-world', 'MiB', atRest.hello)],
    ),
  );
  if (atRest['single-call']) {
    console.log(
      reportLine(
        `${fn}: the single-call function idle after start, × the hello-world`,
        ratio(median(atRest['single-call']), median(atRest.hello)),
        [
          side('single-call function', 'MiB', atRest['single-call']),
          side('hello-world', 'MiB', atRest.hello),
        ],
      ),
    );
  }

  const selfheal = await subject.start();
  const hello = await subject.hello();
  try {
    await untilReady(selfheal);
    await untilReady(hello);
    await drive(invocations, async (i, worker) => {
      await subject.invoke(selfheal, i, worker);
      const answer = await post(`${hello.url}/`, {});
      if (answer.status !== 200) throw new Error(`the hello-world answered ${answer.status}`);
    });
    await sleep(SETTLE_MS);
    const [after, helloAfter] = [rssMiB(selfheal.pid), rssMiB(hello.pid)];
    const what = fn === 'router' ? 'notifications' : 'remediations';
    console.log(
      `${fn}: after ${invocations} ${what}: selfheal ${after.toFixed(1)} MiB; hello-world after ${invocations} requests ${helloAfter.toFixed(1)} MiB`,
    );
    console.log(
      reportLine(
        `${fn}: resident memory after 1,000 ${what}, × the hello-world after as many requests`,
        ratio(after, helloAfter),
        [side('selfheal', 'MiB', [after]), side('hello-world', 'MiB', [helloAfter])],
      ),
    );
  } finally {
    await stop(selfheal);
    await stop(hello);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'selfheal-bench-memory-'));
console.log(
  `memory: resident memory (VmRSS) ${SETTLE_MS} ms after ready, ${starts} starts each in turn; then after ` +
    `${invocations} invocations, ${IN_FLIGHT} at a time`,
);
const router = await productBundle('router', dir);
const actions = await actionBundles(dir);
const hello = await baselineBundle('hello', actions['restart-pod'], dir);
const single = await baselineBundle('single-call', actions['restart-pod'], dir);
// The hello-world beside the router gets the router's limit.
const helloFor = (bundle: Bundle) => () =>
  startImage('hello', { ...hello, memoryLimit: bundle.memoryLimit }, {});

const sink = await startScript('sink', 'bench/baselines/sink.ts', {});
try {
  await measure({
    fn: 'router',
    start: () =>
      startImage('router', router, {
        SELFHEAL_NAMESPACES: '*',
        SELFHEAL_ACTION_AUTH: 'platform',
        SELFHEAL_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
        SELFHEAL_SINK: 'direct',
        SELFHEAL_ACTION_URLS: ACTIONS.map((a) => `${a}=${sink.url}/`).join(','),
      }),
    hello: helloFor(router),
    invoke: async (fn, i) => {
      const targets = { namespace: 'bench', deployments: ['web'], pods: ['web-5d8f7c9b6-x2x4z'] };
      const [body] = webhooks(
        stormAlerts(1, targets, new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString()),
        1,
      );
      const answer = await post(`${fn.url}/`, body as string, { authorization: `Bearer ${WEBHOOK_TOKEN}` });
      if (answer.status !== 200) throw new Error(`the router answered ${answer.status}: ${answer.text}`);
    },
  });
  await withControlPlane(dir, async (cluster: ControlPlane) => {
    await benchNamespace(cluster.kubeConfig(), NAMESPACE);
    for (const action of ACTIONS) {
      const { kubeconfig, env } = await setUpAction(cluster, NAMESPACE, action, {
        targets: 0,
        token: ACTION_TOKEN,
        dir,
      });
      const pools = Array.from(
        { length: IN_FLIGHT },
        (_, w) => new TargetPool(cluster.kubeConfig(), NAMESPACE, action, 3, `${action}-w${w}`),
      );
      for (const pool of pools) await pool.setUp();
      await measure({
        fn: action,
        start: () => startImage(action, actions[action], env),
        hello: helloFor(actions[action]),
        singleCall: () =>
          startImage('single-call', single, { KUBECONFIG: kubeconfig, BASELINE_ACTION: action }),
        // Each worker its own Deployments: no two remediations of one workload at once (the second would wait).
        invoke: async (fn, _i, worker) =>
          askSelfheal(`${fn.url}/`, await (pools[worker] as TargetPool).next(), ACTION_TOKEN),
      });
    }
  });
} finally {
  await stop(sink);
}
