// Warm remediation, per action, side by side with its floor: request → answer of selfheal's function (started as its
// image starts it, warmed up) against the real API server, next to the bare API call that makes the same change once
// (from this process, as the same ServiceAccount) and the single-call function (the same call behind
// faas-js-runtime), taken in turn, each on a fresh target: the price of the exactly-once ledger and the guards.
//   node bench/warm.ts [--rounds 200]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import type { ControlPlane } from '../playground/cluster/control-plane.ts';
import { ACTIONS, type Action, singleCall } from './baselines/calls.ts';
import { actionBundles, type Bundle, baselineBundle } from './bundles.ts';
import { benchNamespace, withControlPlane } from './cluster.ts';
import { startImage, stop, untilReady } from './processes.ts';
import { reportLine, side } from './reported.ts';
import { alternate, ratio, summarize } from './stats.ts';
import { askSelfheal, askSingleCall, callTarget, setUpAction, type TargetPool } from './targets.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '200' } } });
const rounds = Number(values.rounds);
const WARM_UP = 5;
const NAMESPACE = 'bench-warm';
const ACTION_TOKEN = 'bench-action-token';
const SIDES = ['selfheal', 'bare call', 'single-call function'] as const;

const text = (xs: number[]) => {
  const s = summarize(xs);
  return `p50 ${s.median.toFixed(1)} ms (${s.p25.toFixed(1)}–${s.p75.toFixed(1)}), p99 ${s.p99.toFixed(1)} ms`;
};

async function measureAction(
  action: Action,
  product: Bundle,
  single: Bundle,
  cluster: ControlPlane,
  dir: string,
): Promise<void> {
  const { kubeconfig, pool, env } = await setUpAction(cluster, NAMESPACE, action, {
    targets: action === 'restart-pod' ? 12 : 9,
    token: ACTION_TOKEN,
    dir,
  });
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const bare = singleCall(kc, action);
  const selfheal = await startImage(action, product, env);
  const function_ = await startImage('single-call', single, {
    KUBECONFIG: kubeconfig,
    BASELINE_ACTION: action,
  });
  try {
    await untilReady(selfheal);
    await untilReady(function_);
    const once = async (who: (typeof SIDES)[number]): Promise<number> => {
      const target = await pool.next();
      let ms: number;
      if (who === 'selfheal') ms = (await askSelfheal(`${selfheal.url}/`, target, ACTION_TOKEN)).ms;
      else if (who === 'single-call function') ms = (await askSingleCall(`${function_.url}/`, target)).ms;
      else {
        const started = performance.now();
        await bare(callTarget(target));
        ms = performance.now() - started;
      }
      await pool.expectChanged(target, who);
      return ms;
    };
    // Not counted: the first calls of each side, which compile its code paths and open its connections.
    await alternate(SIDES, WARM_UP, once);
    const times = await alternate(SIDES, rounds, once);
    const [s, b, f] = [times.selfheal, times['bare call'], times['single-call function']];
    console.log(`${action}: selfheal ${text(s)}; bare call ${text(b)}; single-call function ${text(f)}`);
    const sides = [side('selfheal', 'ms', s), side('bare call', 'ms', b)] as [
      ReturnType<typeof side>,
      ReturnType<typeof side>,
    ];
    const p50 = (xs: number[]) => summarize(xs).median;
    const p99 = (xs: number[]) => summarize(xs).p99;
    console.log(
      reportLine(`${action}: warm remediation p50, × the bare API call`, ratio(p50(s), p50(b)), sides),
    );
    console.log(
      reportLine(`${action}: warm remediation p99, × the bare API call`, ratio(p99(s), p99(b)), sides),
    );
    console.log(
      reportLine(`${action}: the single-call function p50, × the bare API call`, ratio(p50(f), p50(b)), [
        side('single-call function', 'ms', f),
        side('bare call', 'ms', b),
      ]),
    );
  } finally {
    await stop(selfheal);
    await stop(function_);
  }
  await whereTheTimeGoes(action, product, env, pool);
}

const TRACE = join(import.meta.dirname, 'api-trace.ts');

/** The API calls a traced process printed (api-trace.ts): method and path, and milliseconds each. */
function apiCalls(output: string): Array<{ call: string; ms: number }> {
  return [...output.matchAll(/^api-call (\S+) (\S+) \d+ (\S+)$/gm)].map(([, method, path, ms]) => ({
    call: `${method} ${path}`,
    ms: Number(ms),
  }));
}
const TRACED = 20;

/** In a separate traced process: the API calls a warm remediation makes, and its time outside them. */
async function whereTheTimeGoes(action: Action, product: Bundle, env: NodeJS.ProcessEnv, pool: TargetPool) {
  const traced = await startImage(action, product, { ...env, NODE_OPTIONS: `--import=${TRACE}` });
  try {
    await untilReady(traced);
    const counts: number[] = [];
    const outside: number[] = [];
    const calls = new Map<string, number[]>();
    for (let i = 0; i < WARM_UP + TRACED; i++) {
      const answer = await askSelfheal(`${traced.url}/`, await pool.next(), ACTION_TOKEN);
      // The lines are in the pipe before the answer is sent; give this process a moment to read them.
      await sleep(20);
      const made = apiCalls(traced.fresh());
      if (i < WARM_UP) continue;
      counts.push(made.length);
      outside.push(answer.ms - made.reduce((sum, c) => sum + c.ms, 0));
      for (const c of made) {
        const call = c.call
          .replace(/namespaces\/[^/]+/, 'namespaces/:ns')
          .replace(/(pods|deployments|replicasets)\/[^/]+/, '$1/:name');
        calls.set(call, [...(calls.get(call) ?? []), c.ms]);
      }
    }
    const typical = [...calls]
      .map(([call, ms]) => `${call} ${summarize(ms).median.toFixed(1)} ms`)
      .join(', ');
    console.log(
      `${action}: a warm remediation makes ${summarize(counts).median} API calls (medians: ${typical}); ` +
        `${summarize(outside).median.toFixed(1)} ms of it is outside them (traced, ${TRACED} remediations)`,
    );
    console.log(reportLine(`${action}: API calls of a warm remediation`, summarize(counts).median));
    console.log(
      reportLine(`${action}: a warm remediation's time outside its API calls`, summarize(outside).median, [
        side('selfheal', 'ms', outside),
      ]),
    );
  } finally {
    await stop(traced);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'selfheal-bench-warm-'));
console.log(
  `warm: ${rounds} rounds per action (after ${WARM_UP} not counted), selfheal / the bare API call / the single-call ` +
    'function in turn, each on a fresh target, against the real API server',
);
const products = await actionBundles(dir);
const single = await baselineBundle('single-call', products['restart-pod'], dir);
await withControlPlane(dir, async (cluster) => {
  await benchNamespace(cluster.kubeConfig(), NAMESPACE);
  for (const action of ACTIONS) await measureAction(action, products[action], single, cluster, dir);
});
