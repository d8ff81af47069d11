// The errors simulation: exactly the configured share of requests to / fail, spread evenly, until reset or expiry.
import test from 'ava';
import fc from 'fast-check';
import { scrape, value } from '../test-support/exposition.ts';
import { get, post, startInProcess } from '../test-support/in-process.ts';
import { ErrorDiffuser } from './errors.ts';

test('the diffuser never strays a whole request from n × ratio, and spreads failures evenly', (t) => {
  fc.assert(
    fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 2000 }), (ratio, n) => {
      const diffuser = new ErrorDiffuser(ratio);
      const outcomes = Array.from({ length: n }, () => diffuser.next());
      const failures = outcomes.filter(Boolean).length;
      if (Math.abs(failures - n * ratio) >= 1) return false;
      // Any window of k consecutive requests holds k × ratio failures, give or take one.
      const window = Math.min(n, 50);
      for (let start = 0; start + window <= n; start += 7) {
        const inWindow = outcomes.slice(start, start + window).filter(Boolean).length;
        if (Math.abs(inWindow - window * ratio) > 1 + 1e-9) return false;
      }
      return true;
    }),
  );
  t.pass();
});

test('ratios 0 and 1 mean never and always', (t) => {
  const never = new ErrorDiffuser(0);
  const always = new ErrorDiffuser(1);
  for (let i = 0; i < 100; i++) {
    t.false(never.next());
    t.true(always.next());
  }
});

async function hitRoot(url: string, count: number, concurrency = 8): Promise<number[]> {
  const statuses: number[] = [];
  let left = count;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left > 0) {
        left -= 1;
        const response = await fetch(`${url}/`);
        await response.arrayBuffer();
        statuses.push(response.status);
      }
    }),
  );
  return statuses;
}

test('the observed 5xx ratio over many requests is the configured one, in answers and in metrics', async (t) => {
  const { url } = await startInProcess(t);
  const started = await post(`${url}/simulate/errors`, { ratio: 0.37 });
  t.is(started.status, 200);
  const statuses = await hitRoot(url, 1000);
  const failed = statuses.filter((status) => status === 500).length;
  t.is(failed, 370);
  t.is(statuses.filter((status) => status === 200).length, 630);

  const metrics = await scrape(url);
  t.is(value(metrics, 'http_requests_total', { method: 'GET', route: '/', status: '500' }), 370);
  t.is(value(metrics, 'http_requests_total', { method: 'GET', route: '/', status: '200' }), 630);
  t.is(value(metrics, 'selfheal_app_error_ratio'), 0.37);
  t.is(value(metrics, 'selfheal_app_simulation_active', { simulation: 'errors' }), 1);
});

test('an empty body uses the default ratio, which is above the 10 % alert threshold', async (t) => {
  const { url } = await startInProcess(t);
  const started = await post(`${url}/simulate/errors`);
  t.is(started.status, 200);
  t.deepEqual(started.json.params, { ratio: 0.5 });
  const statuses = await hitRoot(url, 100);
  t.is(statuses.filter((status) => status === 500).length, 50);
});

test('the simulated failure is a JSON 500 and other endpoints keep working', async (t) => {
  const { url } = await startInProcess(t);
  await post(`${url}/simulate/errors`, { ratio: 1 });
  const failed = await get(`${url}/`);
  t.is(failed.status, 500);
  t.regex(String(failed.json.error), /simulated failure/);
  t.is((await get(`${url}/health`)).status, 200);
  t.is((await get(`${url}/ready`)).status, 200);
});

test('errors stop after durationSeconds, and on reset', async (t) => {
  const { url } = await startInProcess(t);
  await post(`${url}/simulate/errors`, { ratio: 1, durationSeconds: 1 });
  t.is((await get(`${url}/`)).status, 500);
  await new Promise((resolve) => setTimeout(resolve, 1200));
  t.is((await get(`${url}/`)).status, 200);
  t.is(value(await scrape(url), 'selfheal_app_error_ratio'), 0);

  await post(`${url}/simulate/errors`, { ratio: 1 });
  t.is((await get(`${url}/`)).status, 500);
  const reset = await post(`${url}/simulate/reset`);
  t.deepEqual(reset.json.ended, ['errors']);
  t.is((await get(`${url}/`)).status, 200);
});
