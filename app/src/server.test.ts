// The HTTP surface of one app instance: work endpoint, probes, request ids, JSON errors and the metrics contract.
import test from 'ava';
import { find, scrape, value } from './test-support/exposition.ts';
import { get, startInProcess } from './test-support/in-process.ts';

test('GET / does the work and answers JSON naming the pod', async (t) => {
  const { url } = await startInProcess(t);
  const first = await get(`${url}/`);
  t.is(first.status, 200);
  t.is(first.json.pod, 'test-pod');
  t.regex(String(first.json.digest), /^[0-9a-f]{64}$/);
  // The work is seeded by the request id, so two requests hash differently.
  const second = await get(`${url}/`);
  t.not(second.json.digest, first.json.digest);
});

test('liveness and readiness answer 200 on a healthy app', async (t) => {
  const { url } = await startInProcess(t);
  const health = await get(`${url}/health`);
  t.is(health.status, 200);
  t.deepEqual(health.json, { status: 'ok' });
  const ready = await get(`${url}/ready`);
  t.is(ready.status, 200);
  t.deepEqual(ready.json, { ready: true, reasons: [] });
});

test('an incoming x-request-id is echoed and used in the log; otherwise one is generated', async (t) => {
  const { url, logs } = await startInProcess(t);
  const given = await get(`${url}/`, { headers: { 'x-request-id': 'req-abc.123' } });
  t.is(given.headers.get('x-request-id'), 'req-abc.123');
  t.true(logs.some((line) => line.requestId === 'req-abc.123' && line.msg === 'request'));

  const generated = await get(`${url}/`);
  t.regex(generated.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);

  const unsafe = await get(`${url}/`, { headers: { 'x-request-id': 'has spaces in it' } });
  t.regex(unsafe.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
});

test('unknown paths get a JSON 404 and wrong methods a JSON 405', async (t) => {
  const { url } = await startInProcess(t);
  const missing = await get(`${url}/no/such/path`);
  t.is(missing.status, 404);
  t.regex(String(missing.json.error), /GET \/no\/such\/path/);
  const wrongMethod = await get(`${url}/simulate/reset`);
  t.is(wrongMethod.status, 405);
  t.is(wrongMethod.headers.get('allow'), 'POST');
});

test('a bad query on / gets a 400 that names the parameter', async (t) => {
  const { url } = await startInProcess(t);
  const bad = await get(`${url}/?delayMs=soon`);
  t.is(bad.status, 400);
  t.deepEqual(bad.json.problems, ['delayMs: must be a number (got NaN)']);
  const tooLong = await get(`${url}/?delayMs=999999`);
  t.is(tooLong.status, 400);
  t.deepEqual(tooLong.json.problems, ['delayMs: must be at most 60000']);
});

test('/metrics carries the request metrics with method, route pattern and status labels', async (t) => {
  const { url } = await startInProcess(t);
  await get(`${url}/`);
  await get(`${url}/`);
  await get(`${url}/nothing-here`);
  await get(`${url}/also-nothing?x=1`);
  await fetch(`${url}/simulate/errors`, { method: 'POST', body: '{"ratio": 7}' });

  const metrics = await scrape(url);
  t.is(metrics.types.get('http_requests_total'), 'counter');
  t.is(metrics.types.get('http_request_duration_seconds'), 'histogram');
  t.is(value(metrics, 'http_requests_total', { method: 'GET', route: '/', status: '200' }), 2);
  // Unmatched paths share one label value, whatever the path.
  t.is(value(metrics, 'http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 2);
  t.is(
    value(metrics, 'http_requests_total', { method: 'POST', route: '/simulate/errors', status: '400' }),
    1,
  );
  for (const sample of find(metrics, 'http_requests_total')) {
    t.deepEqual(Object.keys(sample.labels).sort(), ['method', 'route', 'status']);
    t.false(sample.labels.route?.includes('nothing'));
  }
  t.is(
    value(metrics, 'http_request_duration_seconds_count', { method: 'GET', route: '/', status: '200' }),
    2,
  );
  t.is(
    value(metrics, 'http_request_duration_seconds_bucket', {
      method: 'GET',
      route: '/',
      status: '200',
      le: '+Inf',
    }),
    2,
  );
  t.true((value(metrics, 'http_request_duration_seconds_sum', { route: '/', status: '200' }) ?? 0) > 0);
});

test('/metrics carries the default process and Node.js metrics and the simulation gauges', async (t) => {
  const { url } = await startInProcess(t);
  const metrics = await scrape(url);
  for (const name of [
    'process_resident_memory_bytes',
    'process_cpu_seconds_total',
    'process_start_time_seconds',
    'nodejs_heap_size_used_bytes',
    'nodejs_eventloop_lag_seconds',
  ]) {
    t.truthy(find(metrics, name).length, `${name} is exposed`);
  }
  t.true((value(metrics, 'process_resident_memory_bytes') ?? 0) > 10 * 1024 * 1024);
  for (const simulation of ['memory-leak', 'crash-loop', 'errors', 'not-ready', 'cpu']) {
    t.is(value(metrics, 'selfheal_app_simulation_active', { simulation }), 0, simulation);
  }
  t.is(value(metrics, 'selfheal_app_leaked_bytes'), 0);
  t.is(value(metrics, 'selfheal_app_error_ratio'), 0);
  t.is(value(metrics, 'selfheal_app_cpu_burn_threads'), 0);
  t.is(value(metrics, 'selfheal_app_ready'), 1);
});

test('two app instances in one process keep separate metrics', async (t) => {
  const one = await startInProcess(t);
  const two = await startInProcess(t);
  await get(`${one.url}/`);
  t.is(value(await scrape(one.url), 'http_requests_total', { route: '/', status: '200' }), 1);
  t.is(value(await scrape(two.url), 'http_requests_total', { route: '/', status: '200' }), undefined);
});
