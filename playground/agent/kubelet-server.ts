// The kubelet's HTTPS endpoint, reached by the API server's node proxy: /healthz, /metrics/cadvisor, /containerLogs, /pods.
import { open, readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { networkInterfaces } from 'node:os';
import type { TLSSocket } from 'node:tls';
import type { V1Pod } from '@kubernetes/client-node';
import { type ContainerSample, renderCadvisor } from './cadvisor.ts';

export type LogSource = { path: string; live(): boolean };

export type KubeletServerOptions = {
  /** The node's address, where the API server reaches the kubelet. */
  host: string;
  cert: string;
  key: string;
  /**
   * When set, everything but /healthz needs a client certificate from this CA (the API server's kubelet client);
   * without it, only this machine's own addresses may ask.
   */
  clientCa?: string;
  samples(): ContainerSample[];
  logs(namespace: string, pod: string, container: string, previous: boolean): LogSource | undefined;
  pods(): V1Pod[];
};

export type KubeletServer = { port: number; close(): Promise<void> };

/** An address of this machine (loopback or one of its interfaces). */
function isLocalAddress(address: string | undefined): boolean {
  const plain = (address ?? '').replace(/^::ffff:/, '');
  if (plain.startsWith('127.') || plain === '::1') return true;
  return Object.values(networkInterfaces()).some((list) => list?.some((a) => a.address === plain));
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function tail(text: string, lines: number): string {
  if (lines < 0) return text;
  const parts = text.split('\n');
  const endsWithNewline = parts.at(-1) === '';
  if (endsWithNewline) parts.pop();
  const kept = parts.slice(Math.max(0, parts.length - lines)).join('\n');
  return kept && endsWithNewline ? `${kept}\n` : kept;
}

async function serveLogs(
  url: URL,
  source: LogSource,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const tailLines = url.searchParams.has('tailLines') ? Number(url.searchParams.get('tailLines')) : -1;
  const limit = url.searchParams.has('limitBytes') ? Number(url.searchParams.get('limitBytes')) : Infinity;
  const follow = url.searchParams.get('follow') === 'true';
  const text = tail(await readFile(source.path, 'utf8').catch(() => ''), tailLines);
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
  const first = Buffer.from(text).subarray(0, Number.isFinite(limit) ? limit : undefined);
  res.write(first);
  if (!follow || first.length >= limit) {
    res.end();
    return;
  }
  // Follow: stream what the container appends until it stops or the client goes away.
  let offset = (await stat(source.path).catch(() => ({ size: 0 }))).size;
  let sent = first.length;
  const file = await open(source.path, 'r').catch(() => undefined);
  let closed = false;
  req.on('close', () => {
    closed = true;
  });
  while (!closed && file) {
    const live = source.live();
    const { size } = await file.stat();
    if (size > offset) {
      const chunk = Buffer.alloc(Math.min(size - offset, 1 << 20));
      const { bytesRead } = await file.read(chunk, 0, chunk.length, offset);
      offset += bytesRead;
      const out = chunk.subarray(0, Math.min(bytesRead, limit - sent));
      sent += out.length;
      res.write(out);
      if (sent >= limit) break;
      continue;
    }
    if (!live) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  await file?.close();
  res.end();
}

export async function startKubeletServer(o: KubeletServerOptions): Promise<KubeletServer> {
  const server: Server = createServer(
    {
      cert: o.cert,
      key: o.key,
      ...(o.clientCa ? { ca: o.clientCa, requestCert: true, rejectUnauthorized: false } : {}),
    },
    (req, res) => {
      handle(req, res).catch((err: Error) => {
        if (!res.headersSent) send(res, 500, `internal error: ${err.message}\n`);
        else res.destroy();
      });
    },
  );

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    if (url.pathname === '/healthz') return send(res, 200, 'ok');
    const allowed = o.clientCa
      ? (req.socket as TLSSocket).authorized
      : isLocalAddress(req.socket.remoteAddress);
    if (!allowed) return send(res, 401, 'Unauthorized\n');
    if (req.method !== 'GET') return send(res, 405, 'method not allowed\n');
    if (url.pathname === '/metrics/cadvisor') {
      return send(res, 200, renderCadvisor(o.samples()), 'text/plain; version=0.0.4; charset=utf-8');
    }
    if (url.pathname === '/pods') {
      return send(
        res,
        200,
        JSON.stringify({ kind: 'PodList', apiVersion: 'v1', items: o.pods() }),
        'application/json',
      );
    }
    const logs = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (logs) {
      const [, namespace = '', pod = '', container = ''] = logs.map(decodeURIComponent);
      const previous = url.searchParams.get('previous') === 'true';
      const source = o.logs(namespace, pod, container, previous);
      if (!source) {
        const what = previous ? 'previous terminated container' : 'container';
        return send(res, 404, `${what} "${container}" in pod "${namespace}/${pod}" not found on this node\n`);
      }
      return serveLogs(url, source, req, res);
    }
    send(res, 404, `${url.pathname} is not served by the local node agent\n`);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, o.host, resolve);
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('kubelet server has no TCP address');
  return {
    port: address.port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
