// The router's HTTP client: a kept connection the server closed as it was reused is sent again once, on a new
// connection; a connection refused is not.
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer, type Socket } from 'node:net';
import test from 'ava';
import { createHttpSender } from './http.ts';

const message = { headers: { 'content-type': 'application/json' }, body: '{}' };

test('a kept connection closed by the server as it is reused is retried once on a new one', async (t) => {
  // Serves one request per connection, then drops the connection when a second request arrives on it.
  const served = new WeakSet<Socket>();
  let requests = 0;
  let dropped = 0;
  const server = createHttpServer((req, res) => {
    requests++;
    if (served.has(req.socket)) {
      dropped++;
      req.socket.destroy();
      return;
    }
    served.add(req.socket);
    res.writeHead(200, { 'content-type': 'text/plain', connection: 'keep-alive' }).end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const sender = createHttpSender({ connections: 1 });
  t.teardown(() => sender.close());

  t.is((await sender.post(url, message, 5000)).status, 200);
  const second = await sender.post(url, message, 5000);
  t.is(second.status, 200, 'answered on a new connection');
  t.is(dropped, 1, 'the reused connection was dropped once');
  t.is(requests, 3);
});

test('a refused connection is not retried: the delivery fails at once', async (t) => {
  // A port nothing listens on any more.
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const sender = createHttpSender();
  t.teardown(() => sender.close());
  const error = await t.throwsAsync(sender.post(`http://127.0.0.1:${port}/`, message, 5000));
  t.is((error as { code?: string }).code, 'ECONNREFUSED');
});
