// The router side by side with its ceiling on this machine: notifications of 1, 10, 100 and 1,000 alerts, sent one
// at a time, in turn to the router (started as its image starts it) and to a plain node:http server that reads the
// same JSON and forwards one POST per alert to the same instant sink with as many in flight; alerts per second and
// latency per notification, and the resident memory of both over a run of 1,000-alert notifications.
//   node bench/router-load.ts [--rounds 1=200,10=200,100=40,1000=20]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadRouterConfig } from '../functions/lib/config.ts';
import { productBundle } from './bundles.ts';
import { type Listening, post, rssMiB, startImage, startScript, stop, untilReady } from './processes.ts';
import { reportLine, side } from './reported.ts';
import { alternate, ratio, summarize } from './stats.ts';
import { stormAlerts, webhooks } from './storm-payloads.ts';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '1=200,10=200,100=40,1000=20' } },
});
const rounds = new Map(
  values.rounds.split(',').map((pair) => pair.split('=').map(Number) as [number, number]),
);
const WARM_UP = 5;
const WEBHOOK_TOKEN = 'bench-webhook-token';
const SIDES = ['router', 'plain'] as const;
type Sender = (typeof SIDES)[number];
const TARGETS = {
  namespace: 'bench',
  deployments: Array.from({ length: 50 }, (_, i) => `web-${i}`),
  pods: Array.from({ length: 100 }, (_, i) => `web-${i % 50}-5d8f7c9b6-${String(i).padStart(5, 'x')}`),
};
// The router's own default, which the plain server matches.
const concurrency = loadRouterConfig({
  SELFHEAL_NAMESPACES: '*',
  SELFHEAL_SINK: 'direct',
  SELFHEAL_ACTION_URLS: 'restart-pod=http://x/,redeploy=http://x/,scale=http://x/',
  SELFHEAL_WEBHOOK_TOKEN: 'x',
  SELFHEAL_ACTION_AUTH: 'platform',
}).deliveryConcurrency;

let sequence = 0;
/** A notification of `size` distinct alerts, new ones each time (as a storm's groups would be). */
function notification(size: number): string {
  const startsAt = new Date(Date.UTC(2026, 0, 1) + sequence++ * 1000).toISOString();
  return webhooks(stormAlerts(size, TARGETS, startsAt), size)[0] as string;
}

async function send(to: Listening, who: Sender, body: string, size: number): Promise<number> {
  const answer = await post(
    `${to.url}/`,
    body,
    who === 'router' ? { authorization: `Bearer ${WEBHOOK_TOKEN}` } : {},
  );
  const answered = answer.status === 200 ? (JSON.parse(answer.text) as { alerts: number }).alerts : 0;
  if (answered !== size)
    throw new Error(`${who} answered ${answer.status} for ${size} alerts: ${answer.text.slice(0, 300)}`);
  return answer.ms;
}

const text = (xs: number[], unit: string) => {
  const s = summarize(xs);
  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  return `${f(s.median)} ${unit} (${f(s.p25)}–${f(s.p75)}), p99 ${f(s.p99)}`;
};

const dir = mkdtempSync(join(tmpdir(), 'selfheal-bench-router-'));
console.log(
  `router-load: notifications of ${[...rounds.keys()].join(', ')} alerts, one at a time, the router (as its image ` +
    `starts it) and a plain node:http server in turn, each forwarding one POST per alert to the same instant sink, ` +
    `${concurrency} at a time; rounds per size: ${values.rounds} (after ${WARM_UP} not counted)`,
);
const bundle = await productBundle('router', dir);
const sink = await startScript('sink', 'bench/baselines/sink.ts', {});
const router = await startImage('router', bundle, {
  SELFHEAL_NAMESPACES: '*',
  SELFHEAL_ACTION_AUTH: 'platform',
  SELFHEAL_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
  SELFHEAL_SINK: 'direct',
  SELFHEAL_ACTION_URLS: ['restart-pod', 'redeploy', 'scale'].map((a) => `${a}=${sink.url}/`).join(','),
});
const plain = await startScript('plain router', 'bench/baselines/plain-router.ts', {
  SINK_URL: `${sink.url}/`,
  CONCURRENCY: String(concurrency),
});
const to: Record<Sender, Listening> = { router, plain };
try {
  await untilReady(router);
  for (const [size, count] of rounds) {
    const once = (who: Sender) => send(to[who], who, notification(size), size);
    await alternate(SIDES, WARM_UP, once);
    // Resident memory after each 1,000-alert notification: what a run of them leaves behind.
    const memory: Record<Sender, number[]> = { router: [], plain: [] };
    const times = await alternate(SIDES, count, async (who) => {
      const ms = await once(who);
      if (size >= 1000) memory[who].push(rssMiB(to[who].pid));
      return ms;
    });
    const rate = (xs: number[]) => xs.map((ms) => (size * 1000) / ms);
    const [r, p] = [times.router, times.plain];
    console.log(
      `${size} alert(s): router ${text(r, 'ms')}, ${text(rate(r), 'alerts/s')}; plain ${text(p, 'ms')}, ` +
        `${text(rate(p), 'alerts/s')}`,
    );
    const rates = [
      side('router', 'alerts/s', rate(r)),
      side('plain node:http', 'alerts/s', rate(p)),
    ] as const;
    const median = (xs: number[]) => summarize(xs).median;
    console.log(
      reportLine(
        `router: ${size} alert(s) a notification, alerts per second, × the plain server`,
        ratio(median(rate(r)), median(rate(p))),
        [...rates],
      ),
    );
    console.log(
      reportLine(`router: ${size} alert(s) a notification, p99 per notification`, summarize(r).p99, [
        side('router', 'ms', r),
        side('plain node:http', 'ms', p),
      ]),
    );
    if (size >= 1000) {
      const growth = (xs: number[]) => (xs.at(-1) ?? Number.NaN) - (xs[0] ?? Number.NaN);
      console.log(
        `${size} alerts: resident memory over ${count} notifications: router ${memory.router[0]?.toFixed(1)} → ` +
          `${memory.router.at(-1)?.toFixed(1)} MiB, plain ${memory.plain[0]?.toFixed(1)} → ${memory.plain.at(-1)?.toFixed(1)} MiB`,
      );
      console.log(
        reportLine(`router: resident memory growth over ${size}-alert notifications`, growth(memory.router), [
          side('router', 'MiB', memory.router),
          side('plain node:http', 'MiB', memory.plain),
        ]),
      );
    }
  }
} finally {
  await Promise.all([router, plain, sink].map(stop));
  rmSync(dir, { recursive: true, force: true });
}
