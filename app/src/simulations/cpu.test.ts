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
  /** CPU seconds per second of the whole process, from its own process_cpu_seconds_total. */
  cpu: number;
  /** On-CPU seconds per second of the burn threads (/proc/<pid>/task/<tid>/schedstat). */
  burn: number;
  /** On-CPU plus run-queue seconds per second of the burn threads: what they asked for, which this shared test
   * machine may not fully grant. */
  demand: number;
}

interface ThreadTime {
  name: string;
  onCpu: number;
  waiting: number;
}

/** Threads of a process by name, with on-CPU and run-queue seconds (/proc/<pid>/task/<tid>/{comm,schedstat}). */
function threads(pid: number): ThreadTime[] {
  const found: ThreadTime[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const [onCpu = '0', waiting = '0'] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(
        ' ',
      );
      found.push({ name, onCpu: Number(onCpu) / 1e9, waiting: Number(waiting) / 1e9 });
    } catch {
      // the thread ended while we listed them
    }
  }
  return found;
}

// Worker threads carry their worker's name (`cpu-burn-<n>`).
const burnThreads = (pid: number) => threads(pid).filter((thread) => thread.name.startsWith('cpu-burn-'));
function burnTime(pid: number): { onCpu: number; waiting: number } {
  const all = burnThreads(pid);
  return {
    onCpu: all.reduce((sum, thread) => sum + thread.onCpu, 0),
    waiting: all.reduce((sum, thread) => sum + thread.waiting, 0),
  };
}

async function usage(app: AppProcess, ms: number): Promise<Usage> {
  const pid = app.child.pid ?? 0;
  const cpuBefore = value(await scrape(app.url), 'process_cpu_seconds_total') ?? Number.NaN;
  const burnBefore = burnTime(pid);
  const start = performance.now();
  await sleep(ms);
  const cpuAfter = value(await scrape(app.url), 'process_cpu_seconds_total') ?? Number.NaN;
  const burnAfter = burnTime(pid);
  const seconds = (performance.now() - start) / 1000;
  const burn = (burnAfter.onCpu - burnBefore.onCpu) / seconds;
  const waited = (burnAfter.waiting - burnBefore.waiting) / seconds;
  return { cpu: (cpuAfter - cpuBefore) / seconds, burn, demand: burn + waited };
}

// Waits (bounded, for a busy machine) until the app runs `count` burn threads; returns how many it runs then.
async function threadsSettle(app: AppProcess, count: number, timeoutMs = 15_000): Promise<number> {
  const pid = app.child.pid ?? 0;
  for (const until = Date.now() + timeoutMs; burnThreads(pid).length !== count && Date.now() < until; )
    await sleep(50);
  return burnThreads(pid).length;
}

const show = (u: Usage) =>
  `process ${u.cpu.toFixed(2)} cores, burn threads ${u.burn.toFixed(2)} cores running of ${u.demand.toFixed(2)} wanted`;

test('the defaults burn at least a full core for longer than the 2 minute alert window', (t) => {
  const defaults = cpuParams.parse({});
  t.true(defaults.cores >= 1);
  t.true(defaults.durationSeconds > 180);
});

test('a spawned app burns about one core for the duration, then stops by itself', async (t) => {
  const app = await spawnApp(t);
  // Long enough that the burn outlives its measurement even when this machine is busy; its end is awaited below.
  const answer = await post(`${app.url}/simulate/cpu`, { cores: 1, durationSeconds: 8 });
  t.is(answer.status, 200);
  await sleep(200);
  const metrics = await scrape(app.url);
  t.is(value(metrics, 'selfheal_app_cpu_burn_threads'), 1);
  t.is(value(metrics, 'selfheal_app_simulation_active', { simulation: 'cpu' }), 1);

  const burning = await usage(app, 1500);
  t.log(
    `while burning: ${show(burning)} (${loadavg()[0]?.toFixed(1)} load on ${availableParallelism()} cores)`,
  );
  // Running or runnable all the time: a full core wanted. It runs ≥ 0.8 core unless other work on this shared
  // machine keeps it waiting in the run queue; the process's own CPU counter includes what it ran.
  t.true(burning.demand >= 0.9, `wants a full core (${show(burning)})`);
  t.true(burning.burn >= 0.8 || burning.demand - burning.burn >= 0.1, `runs when it may (${show(burning)})`);
  t.true(burning.cpu >= 0.9 * burning.burn, `process_cpu_seconds_total counts the burn (${show(burning)})`);

  await threadsSettle(app, 0, 60_000); // the burn ends by itself
  const after = await usage(app, 800);
  t.log(`after the duration: ${show(after)}`);
  t.true(after.cpu < 0.2, `stopped after the duration (${show(after)})`);
  t.deepEqual(burnThreads(app.child.pid ?? 0), [], 'the burn threads are gone');
  t.is(value(await scrape(app.url), 'selfheal_app_cpu_burn_threads'), 0);
});

test('one thread per core asked for; reset stops them at once', async (t) => {
  const app = await spawnApp(t);
  await post(`${app.url}/simulate/cpu`, { cores: 2, durationSeconds: 60 });
  t.is(await threadsSettle(app, 2), 2);
  t.is(value(await scrape(app.url), 'selfheal_app_cpu_burn_threads'), 2);
  const reset = await post(`${app.url}/simulate/reset`);
  t.deepEqual(reset.json.ended, ['cpu']);
  await threadsSettle(app, 0);
  const after = await usage(app, 800);
  t.true(after.cpu < 0.2, `no burn after reset (${show(after)})`);
  t.deepEqual(burnThreads(app.child.pid ?? 0), [], 'the burn threads are gone');
});
