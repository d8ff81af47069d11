// Stands in for the OpenFaaS gateway's invocation path, and only that: `/function/<name>[.<namespace>][/path]` is
// forwarded to the function's Service (through the service proxy, as the gateway reaches it in the cluster) with the
// prefix removed, method, headers and body unchanged. Not its auth, timeouts, async path, scaling or metrics.
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type GatewayRoute = { name: string; namespace: string; path: string };

const FUNCTION_PATH =
  /^\/function\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?:\.([a-z0-9]([-a-z0-9]*[a-z0-9])?))?(\/[^?]*)?(\?.*)?$/;

/** Where the gateway sends `/function/<name>[.<namespace>]/<rest>`; undefined for any other path. */
export function routeOf(url: string, defaultNamespace: string): GatewayRoute | undefined {
  const match = FUNCTION_PATH.exec(url);
  if (!match?.[1]) return undefined;
  return {
    name: match[1],
    namespace: match[3] ?? defaultNamespace,
    path: `${match[5] || '/'}${match[6] ?? ''}`,
  };
}

export type Gateway = { url: string; stop(): Promise<void> };

export type GatewayOptions = {
  /** faas-netes' function namespace: where `/function/<name>` without a namespace goes. */
  namespace: string;
  /** The base URL standing for a function's Service on port 8080, or undefined when there is none. */
  serviceUrl: (namespace: string, name: string) => string | undefined;
};

function fail(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${message}\n`);
}

function forward(req: IncomingMessage, res: ServerResponse, base: string, route: GatewayRoute): void {
  const target = new URL(route.path, base);
  const upstream = request(target, {
    method: req.method,
    headers: { ...req.headers, host: target.host, 'x-forwarded-host': req.headers.host ?? '' },
  });
  upstream.on('response', (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
    answer.pipe(res);
  });
  upstream.on('error', (err) =>
    fail(res, 502, `cannot reach ${route.name}.${route.namespace}: ${err.message}`),
  );
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const server: Server = createServer((req, res) => {
    const route = routeOf(req.url ?? '/', options.namespace);
    if (!route) return fail(res, 404, 'this stand-in serves /function/<name> only');
    const base = options.serviceUrl(route.namespace, route.name);
    if (!base) return fail(res, 404, `no such function: ${route.name}.${route.namespace}`);
    forward(req, res, base, route);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
