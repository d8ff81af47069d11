// Measures the sample app with the simulations' default parameters: start-up, memory growth, CPU burn, error ratio.
// Usage: node app/measure.ts   (about 40 s; prints a Markdown table)
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleApp } from './build.ts';
import { type AppProcess, spawnApp } from './src/test-support/app-process.ts';
import { scrape, value } from './src/test-support/exposition.ts';
import { post } from './src/test-support/in-process.ts';

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cleanups: Array<() => unknown> = [];
const owner = { teardown: (fn: () => unknown) => void cleanups.push(fn) };
const rows: Array<[string, string]> = [];

async function metric(app: AppProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  return value(await scrape(app.url), name, labels) ?? Number.NaN;
}

async function startupMs(entry?: string): Promise<number> {
  const times: number[] = [];
  for (let run = 0; run < 5; run++) {
    const started = performance.now();
    const app = await spawnApp(owner, entry ? { entry } : {});
    times.push(performance.now() - started);
    app.child.kill('SIGTERM');
    await app.exited;
  }
  return times.sort((a, b) => a - b)[2] ?? Number.NaN;
}

try {
  rows.push([
    'start-up, spawn → listening (source, type stripping; median of 5)',
    `${(await startupMs()).toFixed(0)} ms`,
  ]);
  const bundle = join(tmpdir(), `selfheal-app-measure-${process.pid}.mjs`);
  owner.teardown(() => rmSync(bundle, { force: true }));
  await bundleApp(bundle);
  rows.push([
    'start-up, spawn → listening (bundle, as in the image; median of 5)',
    `${(await startupMs(bundle)).toFixed(0)} ms`,
  ]);

  const app = await spawnApp(owner);
  const base = await metric(app, 'process_resident_memory_bytes');
  rows.push(['resident memory at rest', `${(base / MiB).toFixed(0)} MiB`]);
  const leakStart = performance.now();
  await post(`${app.url}/simulate/memory-leak`, {});
  let rss = base;
  while (rss < 200 * MiB && performance.now() - leakStart < 60_000) {
    await sleep(250);
    rss = await metric(app, 'process_resident_memory_bytes');
  }
  const leakSeconds = (performance.now() - leakStart) / 1000;
  rows.push(['memory-leak defaults: time until RSS > 200 MiB', `${leakSeconds.toFixed(1)} s`]);
  rows.push([
    'memory-leak defaults: RSS growth rate',
    `${((rss - base) / MiB / leakSeconds).toFixed(1)} MiB/s`,
  ]);
  await post(`${app.url}/simulate/reset`);
  await sleep(300);
  rows.push([
    'RSS 300 ms after reset',
    `${((await metric(app, 'process_resident_memory_bytes')) / MiB).toFixed(0)} MiB`,
  ]);

  await post(`${app.url}/simulate/cpu`, {});
  await sleep(300);
  const cpuBefore = await metric(app, 'process_cpu_seconds_total');
  const cpuStart = performance.now();
  await sleep(5000);
  const cpuAfter = await metric(app, 'process_cpu_seconds_total');
  rows.push([
    'cpu defaults: process CPU seconds per second (5 s window)',
    `${((cpuAfter - cpuBefore) / ((performance.now() - cpuStart) / 1000)).toFixed(2)}`,
  ]);
  await post(`${app.url}/simulate/reset`);

  await post(`${app.url}/simulate/errors`, {});
  for (let request = 0; request < 1000; request++) await (await fetch(`${app.url}/`)).arrayBuffer();
  const failed = await metric(app, 'http_requests_total', { method: 'GET', route: '/', status: '500' });
  rows.push(['errors defaults: 5xx share of 1000 requests to /', `${(failed / 1000).toFixed(3)}`]);
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}

process.stdout.write(
  `| figure | value |\n|---|---|\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`,
);
