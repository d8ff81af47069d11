// The bundle the container image runs: self-contained (no node_modules beside it) and behaving like the source.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { bundleApp } from './build.ts';
import { spawnApp } from './src/test-support/app-process.ts';
import { scrape, value } from './src/test-support/exposition.ts';
import { post } from './src/test-support/in-process.ts';

test('the bundled app runs outside the repository: probes, metrics, a worker simulation and a crash', async (t) => {
  // Under the system temp dir no node_modules can be found by walking up: only the bundle itself is there.
  const dir = mkdtempSync(join(tmpdir(), 'selfheal-app-bundle-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const entry = join(dir, 'main.mjs');
  t.deepEqual(await bundleApp(entry), [], 'bundles without warnings');

  const app = await spawnApp(t, { entry });
  t.is((await fetch(`${app.url}/ready`)).status, 200);
  t.is((await fetch(`${app.url}/`)).status, 200);
  t.is((await post(`${app.url}/simulate/cpu`, { durationSeconds: 5 })).status, 200);
  t.is((await post(`${app.url}/simulate/errors`, { ratio: 'half' })).status, 400);
  const metrics = await scrape(app.url);
  t.is(value(metrics, 'http_requests_total', { method: 'GET', route: '/', status: '200' }), 1);
  t.is(value(metrics, 'selfheal_app_cpu_burn_threads'), 1);
  t.truthy(value(metrics, 'process_resident_memory_bytes'));

  t.is((await post(`${app.url}/simulate/crash`, { exitCode: 9, delayMs: 0 })).status, 202);
  t.is((await app.exited).code, 9);
});
