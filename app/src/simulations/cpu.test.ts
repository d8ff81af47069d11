// The cpu simulation: process CPU time of the real app grows by about a core per core asked for, until the end.
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import test from 'ava';
import { type AppProcess, spawnApp } from '../test-support/app-process.ts';
import { scrape, value } from '../test-support/exposition.ts';
import { post } from '../test-support/in-process.ts';
import { cpuParams } from './cpu.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Usage {
  /** CPU seconds per second, from the app's own process_cpu_seconds_total. */
  cpu: number;
  /** CPU plus run-queue waiting seconds per second over all threads (/proc/<pid>/task/<tid>/schedstat): what the
   * process asked for, which the shared test machine may not fully grant. */
  demand: number;
}

function schedSeconds(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const [onCpu = '0', waiting = '0'] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(
        ' ',
      );
      total += (Number(onCpu) + Number(waiting)) / 1e9;
    } catch {
      // the thread ended while we listed them
    }
  }
  return total;
}

async function usage(app: AppProcess, ms: number): Promise<Usage> {
  const pid = app.child.pid ?? 0;
  const cpuBefore = value(await scrape(app.url), 'process_cpu_seconds_total') ?? Number.NaN;
  const schedBefore = schedSeconds(pid);
  const start = performance.now();
  await sleep(ms);
  const cpuAfter = value(await scrape(app.url), 'process_cpu_seconds_total') ?? Number.NaN;
  const schedAfter = schedSeconds(pid);
  const seconds = (performance.now() - start) / 1000;
  return { cpu: (cpuAfter - cpuBefore) / seconds, demand: (schedAfter - schedBefore) / seconds };
}

const show = (u: Usage) => `${u.cpu.toFixed(2)} cores used, ${u.demand.toFixed(2)} cores wanted`;

test('the defaults burn at least a full core for longer than the 2 minute alert window', (t) => {
  const defaults = cpuParams.parse({});
  t.true(defaults.cores >= 1);
  t.true(defaults.durationSeconds > 180);
});

test('a spawned app burns about one core for the duration, then stops by itself', async (t) => {
  const app = await spawnApp(t);
  const answer = await post(`${app.url}/simulate/cpu`, { cores: 1, durationSeconds: 2.5 });
  t.is(answer.status, 200);
  await sleep(200);
  const metrics = await scrape(app.url);
  t.is(value(metrics, 'selfheal_app_cpu_burn_threads'), 1);
  t.is(value(metrics, 'selfheal_app_simulation_active', { simulation: 'cpu' }), 1);

  const burning = await usage(app, 1500);
  t.log(
    `while burning: ${show(burning)} (${loadavg()[0]?.toFixed(1)} load on ${availableParallelism()} cores)`,
  );
  // Running or runnable all the time; on an idle machine that is ≥ 0.8 core used, here others share the CPUs.
  t.true(burning.demand >= 0.9, `wants a full core (${show(burning)})`);
  t.true(
    burning.cpu >= Math.min(0.8, 0.8 * (availableParallelism() / Math.max(1, loadavg()[0] ?? 1))),
    show(burning),
  );

  await sleep(1000); // past the 2.5 s duration
  const after = await usage(app, 800);
  t.log(`after the duration: ${show(after)}`);
  t.true(after.demand < 0.2, `stopped after the duration (${show(after)})`);
  t.is(value(await scrape(app.url), 'selfheal_app_cpu_burn_threads'), 0);
});

test('reset stops the burn at once', async (t) => {
  const app = await spawnApp(t);
  await post(`${app.url}/simulate/cpu`, { cores: 1, durationSeconds: 60 });
  await sleep(300);
  const reset = await post(`${app.url}/simulate/reset`);
  t.deepEqual(reset.json.ended, ['cpu']);
  await sleep(100);
  const after = await usage(app, 800);
  t.true(after.demand < 0.2, `no burn after reset (${show(after)})`);
});
