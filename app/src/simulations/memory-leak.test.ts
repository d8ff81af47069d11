// The memory-leak simulation: resident memory of the real process grows at the rate, stops at the cap, drops on reset.
import test from 'ava';
import { type AppProcess, spawnApp } from '../test-support/app-process.ts';
import { scrape, value } from '../test-support/exposition.ts';
import { post } from '../test-support/in-process.ts';
import { leakTarget, memoryLeakParams, RetainedMemory } from './memory-leak.ts';

const MiB = 1024 * 1024;

test('the leak target grows linearly from where it starts and stops at the cap', (t) => {
  const params = { mbPerSecond: 10, maxMb: 25 };
  t.is(leakTarget(0, 0, params), 0);
  t.is(leakTarget(1000, 0, params), 10 * MiB);
  t.is(leakTarget(1500, 4 * MiB, params), 19 * MiB);
  t.is(leakTarget(60_000, 0, params), 25 * MiB);
  t.is(leakTarget(0, 30 * MiB, params), 25 * MiB, 'a lower cap shrinks what is held');
});

test('with the defaults, retained memory alone passes the 200 MiB alert threshold within 30 s', (t) => {
  const defaults = memoryLeakParams.parse({});
  t.true(leakTarget(30_000, 0, defaults) > 200 * MiB);
  t.true(defaults.maxMb * MiB > 200 * MiB);
});

test.serial('retained memory is written, so it is resident, and released at once', (t) => {
  const memory = new RetainedMemory();
  t.teardown(() => memory.release());
  const before = process.memoryUsage().rss;
  memory.resize(48 * MiB);
  t.is(memory.bytes, 48 * MiB);
  t.true(process.memoryUsage().rss - before > 40 * MiB);
  memory.resize(20 * MiB);
  t.is(memory.bytes, 20 * MiB);
  memory.release();
  t.is(memory.bytes, 0);
  t.true(process.memoryUsage().rss - before < 10 * MiB);
});

async function rss(app: AppProcess): Promise<number> {
  return value(await scrape(app.url), 'process_resident_memory_bytes') ?? Number.NaN;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('a spawned app grows its RSS by the leak, holds it at the cap, and frees it on reset', async (t) => {
  const app = await spawnApp(t);
  const base = await rss(app);
  const started = Date.now();
  const answer = await post(`${app.url}/simulate/memory-leak`, { mbPerSecond: 100, maxMb: 96 });
  t.is(answer.status, 200);

  // 96 MiB at 100 MiB/s: about a second.
  await waitFor('RSS to grow by 90 MiB', async () => (await rss(app)) - base > 90 * MiB, 5000);
  t.true(Date.now() - started >= 800, 'growth follows the rate, not all at once');
  await new Promise((resolve) => setTimeout(resolve, 500));
  const metrics = await scrape(app.url);
  t.is(value(metrics, 'selfheal_app_leaked_bytes'), 96 * MiB);
  t.is(value(metrics, 'selfheal_app_simulation_active', { simulation: 'memory-leak' }), 1);
  const held = value(metrics, 'process_resident_memory_bytes') ?? 0;
  t.true(held - base < 96 * MiB + 40 * MiB, `stops at the cap (grew ${Math.round((held - base) / MiB)} MiB)`);

  const reset = await post(`${app.url}/simulate/reset`);
  t.deepEqual(reset.json.ended, ['memory-leak']);
  await waitFor('RSS to drop back', async () => (await rss(app)) - base < 30 * MiB, 3000);
  t.is(value(await scrape(app.url), 'selfheal_app_leaked_bytes'), 0);
});
