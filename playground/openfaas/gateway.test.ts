// The gateway stand-in forwards /function/<name>[.<namespace>] as the OpenFaaS gateway does: prefix removed, method,
// headers (the bearer token), body and the function's answer unchanged; anything else is not its business.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { routeOf, startGateway } from './gateway.ts';

test('routes: /function/<name>[.<namespace>][/path][?query] → the function, the rest of the path', (t) => {
  const rows: Array<[string, ReturnType<typeof routeOf>]> = [
    ['/function/router', { name: 'router', namespace: 'openfaas-fn', path: '/' }],
    ['/function/router/', { name: 'router', namespace: 'openfaas-fn', path: '/' }],
    ['/function/restart-pod.team-a/x/y?z=1', { name: 'restart-pod', namespace: 'team-a', path: '/x/y?z=1' }],
    ['/function/scale?dry=1', { name: 'scale', namespace: 'openfaas-fn', path: '/?dry=1' }],
    ['/async-function/router', undefined],
    ['/system/functions', undefined],
    ['/function/', undefined],
  ];
  for (const [url, expected] of rows) t.deepEqual(routeOf(url, 'openfaas-fn'), expected, url);
});

test('a call through the stand-in reaches the function as the gateway sends it, and its answer comes back', async (t) => {
  const seen: Array<{ method?: string; url?: string; headers: IncomingHttpHeaders; body: string }> = [];
  const fn = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(422, { 'content-type': 'application/json', 'x-from': 'function' });
      res.end('{"outcome":"refused"}');
    });
  });
  await new Promise<void>((resolve) => fn.listen(0, '127.0.0.1', resolve));
  t.teardown(() => fn.close());
  const fnUrl = `http://127.0.0.1:${(fn.address() as AddressInfo).port}`;
  const gateway = await startGateway({
    namespace: 'openfaas-fn',
    serviceUrl: (namespace, name) =>
      namespace === 'openfaas-fn' && name === 'restart-pod' ? fnUrl : undefined,
  });
  t.teardown(() => gateway.stop());

  const response = await fetch(`${gateway.url}/function/restart-pod`, {
    method: 'POST',
    headers: { authorization: 'Bearer t', 'content-type': 'application/json', 'ce-id': 'e1' },
    body: '{"namespace":"demo"}',
  });
  t.is(response.status, 422);
  t.is(response.headers.get('x-from'), 'function');
  t.is(await response.text(), '{"outcome":"refused"}');
  t.is(seen.length, 1);
  t.like(seen[0], { method: 'POST', url: '/', body: '{"namespace":"demo"}' });
  t.like(seen[0]?.headers, { authorization: 'Bearer t', 'content-type': 'application/json', 'ce-id': 'e1' });

  const unknown = await fetch(`${gateway.url}/function/nope`);
  t.is(unknown.status, 404);
  t.is((await fetch(`${gateway.url}/ui/`)).status, 404);
});
