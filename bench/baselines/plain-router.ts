// The ceiling of the router on this machine: a plain node:http server that reads the same Alertmanager webhook
// (JSON), forwards one POST per alert to the same sink with as many in flight as the router delivers
// (CONCURRENCY), and answers once every alert is answered. No validation, no plan, no CloudEvents, no deadline.
//   SINK_URL=http://127.0.0.1:PORT/ CONCURRENCY=4 PORT=0 node bench/baselines/plain-router.ts
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

const sink = new URL(process.env.SINK_URL ?? '');
const concurrency = Number(process.env.CONCURRENCY ?? 4);
const agent = new Agent({ keepAlive: true, maxSockets: concurrency * 2 });

function forward(alert: unknown): Promise<number> {
  const body = JSON.stringify(alert);
  return new Promise((resolve, reject) => {
    const req = request(
      sink,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function forwardAll(alerts: unknown[]): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < alerts.length) {
      const index = next++;
      statuses[index] = await forward(alerts[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, alerts.length) }, worker));
  return statuses;
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', async () => {
    try {
      const { alerts } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { alerts: unknown[] };
      const statuses = await forwardAll(alerts);
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ alerts: statuses.length, statuses }));
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`plain router listening on http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
