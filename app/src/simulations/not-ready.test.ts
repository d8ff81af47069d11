// The not-ready simulation: /ready answers 503 (liveness stays fine) until reset or until its duration ends.
import test from 'ava';
import { scrape, value } from '../test-support/exposition.ts';
import { get, post, startInProcess } from '../test-support/in-process.ts';

test('readiness flips to 503 with a reason and comes back on reset', async (t) => {
  const { url } = await startInProcess(t);
  t.is((await post(`${url}/simulate/not-ready`)).status, 200);
  const notReady = await get(`${url}/ready`);
  t.is(notReady.status, 503);
  t.deepEqual(notReady.json, { ready: false, reasons: ['not-ready simulation is active'] });
  t.is((await get(`${url}/health`)).status, 200);
  t.is((await get(`${url}/`)).status, 200);
  const metrics = await scrape(url);
  t.is(value(metrics, 'selfheal_app_ready'), 0);
  t.is(value(metrics, 'selfheal_app_simulation_active', { simulation: 'not-ready' }), 1);

  const reset = await post(`${url}/simulate/reset`, {});
  t.deepEqual(reset.json.ended, ['not-ready']);
  t.is((await get(`${url}/ready`)).status, 200);
  t.is(value(await scrape(url), 'selfheal_app_ready'), 1);
});

test('readiness comes back by itself after durationSeconds', async (t) => {
  const { url } = await startInProcess(t);
  const started = await post(`${url}/simulate/not-ready`, { durationSeconds: 1 });
  t.truthy((started.json.state as { until: string | null }).until);
  t.is((await get(`${url}/ready`)).status, 503);
  await new Promise((resolve) => setTimeout(resolve, 1200));
  t.is((await get(`${url}/ready`)).status, 200);
});
