// Cold remediation, per action, side by side with its floor: process spawn → the first remediation answered (the
// real API server changed), selfheal's function started as its image starts it next to the single-call function
// bundled and started the same way, taken in turn with a bare faas-js-runtime hello-world to show where the time goes
// (spawn → ready, ready → answered). Then the functions' share of a recovery when the action starts from zero:
// webhook into a warm router → the change acknowledged, the action started by an activator stand-in.
//   node bench/cold.ts [--runs 5] [--share-runs 3]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Activator } from './activator.ts';
import { ACTIONS, type Action } from './baselines/calls.ts';
import { actionBundles, type Bundle, baselineBundle, productBundle } from './bundles.ts';
import { benchNamespace, withControlPlane } from './cluster.ts';
import { type Listening, post, startImage, stop, untilReady } from './processes.ts';
import { reportLine, side } from './reported.ts';
import { alternate, median, ratio, summarize } from './stats.ts';
import { firingAlert, webhooks } from './storm-payloads.ts';
import { askSelfheal, askSingleCall, setUpAction, type TargetPool } from './targets.ts';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, 'share-runs': { type: 'string', default: '3' } },
});
const runs = Number(values.runs);
const shareRuns = Number(values['share-runs']);
const NAMESPACE = 'bench-cold';
const ACTION_TOKEN = 'bench-action-token';
const WEBHOOK_TOKEN = 'bench-webhook-token';
const SIDES = ['selfheal', 'single-call', 'hello'] as const;
type ColdSide = (typeof SIDES)[number];

const ms = (x: number) => `${x.toFixed(0)} ms`;
const spread = (xs: number[]) => {
  const s = summarize(xs);
  return `${ms(s.median)} (${s.p25.toFixed(0)}–${s.p75.toFixed(0)})`;
};

interface Cold {
  /** spawn → readiness 200 */
  ready: number;
  /** spawn → the first answer read */
  first: number;
}

type Phases = Record<ColdSide, { ready: number[]; first: number[] }>;

async function coldStart(fn: Listening, ask: (url: string) => Promise<void>): Promise<Cold> {
  try {
    const ready = await untilReady(fn);
    await ask(fn.url);
    return { ready, first: performance.now() - fn.spawnedAt };
  } finally {
    await stop(fn);
  }
}

interface Context {
  action: Action;
  pool: TargetPool;
  product: Bundle;
  singleCall: Bundle;
  hello: Bundle;
  env: NodeJS.ProcessEnv;
  kubeconfig: string;
}

async function coldRun(side: ColdSide, c: Context): Promise<Cold> {
  if (side === 'hello') {
    return coldStart(await startImage('hello', c.hello, {}), async (url) => {
      const answer = await post(`${url}/`, {});
      if (answer.status !== 200) throw new Error(`the hello-world answered ${answer.status}: ${answer.text}`);
    });
  }
  const target = await c.pool.next();
  const fn =
    side === 'selfheal'
      ? await startImage(c.action, c.product, c.env)
      : await startImage('single-call', c.singleCall, {
          KUBECONFIG: c.kubeconfig,
          BASELINE_ACTION: c.action,
        });
  const cold = await coldStart(fn, async (url) => {
    if (side === 'selfheal') await askSelfheal(`${url}/`, target, ACTION_TOKEN);
    else await askSingleCall(`${url}/`, target);
  });
  await c.pool.expectChanged(target, side);
  return cold;
}

/**
 * Posts a webhook to the router as Alertmanager does, again at once when the router answers 503 (its answer deadline
 * came first): until the alert is accepted. `sentAt` is when the first attempt was sent.
 */
async function notify(url: string, webhook: string): Promise<{ sentAt: number; at: number }> {
  const sentAt = performance.now();
  for (let attempt = 1; ; attempt++) {
    const answer = await post(url, webhook, { authorization: `Bearer ${WEBHOOK_TOKEN}` });
    if (answer.status === 200) {
      const [result] = (JSON.parse(answer.text) as { results: Array<{ outcome: string }> }).results;
      if (result?.outcome === 'accepted') return { sentAt, at: answer.at };
    }
    if (answer.status !== 503 || attempt >= 5) {
      throw new Error(`the router answered ${answer.status}: ${answer.text}`);
    }
    console.log(`the router answered 503 (attempt ${attempt}); sending the notification again`);
  }
}

function reportAction(action: Action, phases: Phases): void {
  const [s, b, h] = [phases.selfheal, phases['single-call'], phases.hello];
  const answered = (p: { ready: number[]; first: number[] }) =>
    p.first.map((f, i) => f - (p.ready[i] as number));
  const pair = (label: string, a: number[], z: number[]) => {
    const figure = `${action}: ${label}, × the single-call function`;
    console.log(
      reportLine(figure, ratio(median(a), median(z)), [
        side('selfheal', 'ms', a),
        side('single call', 'ms', z),
      ]),
    );
  };
  pair('cold remediation, spawn → first remediation answered', s.first, b.first);
  pair('of which spawn → ready', s.ready, b.ready);
  pair('of which ready → first remediation answered', answered(s), answered(b));
  console.log(
    `${action}: spawn → first remediation answered: selfheal ${spread(s.first)}, single call ${spread(b.first)}, ` +
      `${ratio(median(s.first), median(b.first)).toFixed(2)}×`,
  );
  const hello = median(h.ready);
  console.log(
    `${action}: where the time goes (medians): a faas-js-runtime hello-world is ready after ${ms(hello)}; ` +
      `client-node and a kubeconfig add ${ms(median(b.ready) - hello)} (single call ready), selfheal's own code ` +
      `${ms(median(s.ready) - median(b.ready))} more (selfheal ready); the first call, with the first TLS ` +
      `handshake, takes ${ms(median(answered(b)))} (single call), selfheal's first remediation ` +
      `${ms(median(answered(s)))}`,
  );
}

const dir = mkdtempSync(join(tmpdir(), 'selfheal-bench-cold-'));
console.log(
  `cold: ${runs} rounds per action, selfheal / single-call function / hello-world in turn, each bundled and ` +
    `started as the image does (launcher, compile cache, memory limit); the functions' share: ${shareRuns} ` +
    'webhooks per action through a warm router to an action started from zero',
);
const router = await productBundle('router', dir);
const products = await actionBundles(dir);
// One bundle serves every action (BASELINE_ACTION says which call); the actions share their memory limit.
const singleCall = await baselineBundle('single-call', products['restart-pod'], dir);
const hello = await baselineBundle('hello', products['restart-pod'], dir);

await withControlPlane(dir, async (cluster) => {
  const kc = cluster.kubeConfig();
  await benchNamespace(kc, NAMESPACE);
  const contexts = {} as Record<Action, Context>;
  const helloStarts: number[] = [];
  for (const action of ACTIONS) {
    const { kubeconfig, pool, env } = await setUpAction(cluster, NAMESPACE, action, {
      targets: 6,
      token: ACTION_TOKEN,
      dir,
    });
    const c: Context = { action, pool, product: products[action], singleCall, hello, env, kubeconfig };
    contexts[action] = c;
    // Not counted: the first start of each, which reads its files into the page cache.
    for (const coldSide of SIDES) await coldRun(coldSide, c);
    const phases = Object.fromEntries(SIDES.map((s) => [s, { ready: [], first: [] }])) as unknown as Phases;
    await alternate(SIDES, runs, async (coldSide) => {
      const cold = await coldRun(coldSide, c);
      phases[coldSide].ready.push(cold.ready);
      phases[coldSide].first.push(cold.first);
      return cold.first;
    });
    reportAction(action, phases);
    helloStarts.push(...phases.hello.first);
  }
  console.log(
    reportLine('faas-js-runtime hello-world: spawn → first answer', median(helloStarts), [
      side('hello-world', 'ms', helloStarts),
    ]),
  );

  // The functions' share, cold: the router warm (min-scale 1), the action scaled to zero.
  const activators = {} as Record<Action, Activator>;
  for (const action of ACTIONS) {
    activators[action] = await Activator.listen(() =>
      startImage(action, products[action], contexts[action].env),
    );
  }
  const routerFn = await startImage('router', router, {
    SELFHEAL_NAMESPACES: NAMESPACE,
    SELFHEAL_ACTION_TOKEN: ACTION_TOKEN,
    SELFHEAL_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
    SELFHEAL_SINK: 'direct',
    SELFHEAL_ACTION_URLS: ACTIONS.map((a) => `${a}=${activators[a].url}`).join(','),
  });
  try {
    await untilReady(routerFn);
    for (const action of ACTIONS) {
      const shares: number[] = [];
      for (let run = 0; run < shareRuns; run++) {
        await activators[action].reset();
        const target = await contexts[action].pool.next();
        const aim = target.pod ? { pod: target.pod } : { deployment: target.deployment };
        const [webhook] = webhooks([firingAlert(action, NAMESPACE, aim, run, new Date().toISOString())], 1);
        const answer = await notify(`${routerFn.url}/`, webhook as string);
        await contexts[action].pool.expectChanged(target, `the router → ${action}`);
        shares.push(answer.at - answer.sentAt);
      }
      console.log(`${action}: functions' share, cold (webhook → change acknowledged): ${spread(shares)}`);
      console.log(
        reportLine(
          `${action}: functions' share of a recovery, cold: webhook received → change acknowledged`,
          median(shares),
          [side('router warm, action from zero', 'ms', shares)],
        ),
      );
    }
  } finally {
    await stop(routerFn);
    for (const action of ACTIONS) await activators[action].close();
  }
});
