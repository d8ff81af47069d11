// Stands in for cluster DNS and kube-proxy for HTTP clients that honour HTTP_PROXY (Knative's do): a forward proxy on
// loopback that resolves `<service>.<namespace>.svc.cluster.local` as the cluster would (an ExternalName Service to
// its name, any other Service through its EndpointSlices to a ready pod address) and reaches pod addresses through
// their sandboxes; names routed explicitly go to local URLs (what a Knative Service's address stands for here).
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CoreV1Api,
  DiscoveryV1Api,
  type KubeConfig,
  ListWatch,
  type V1EndpointSlice,
  type V1Service,
  Watch,
} from '@kubernetes/client-node';

export type Endpoint = { host: string; port: number };

export type ServiceView = {
  service(namespace: string, name: string): V1Service | undefined;
  slices(namespace: string, name: string): readonly V1EndpointSlice[];
};

export type Resolution = { ok: true; endpoint: Endpoint } | { ok: false; reason: string };

const MAX_ALIASES = 5;

/** `name.namespace`, `name.namespace.svc` or `name.namespace.svc.<domain>` → [namespace, name]. */
export function serviceOfHost(host: string, domain: string): [string, string] | undefined {
  const h = host.toLowerCase().replace(/\.$/, '');
  const suffixes = [`.svc.${domain}`, '.svc', ''];
  for (const suffix of suffixes) {
    if (!h.endsWith(suffix)) continue;
    const parts = h.slice(0, h.length - suffix.length).split('.');
    if (parts.length === 2 && parts.every((p) => /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(p))) {
      return [parts[1] as string, parts[0] as string];
    }
  }
  return undefined;
}

/**
 * Where a request for `host:port` goes: an explicit route, else the Service the name stands for: an ExternalName one
 * is followed, any other is served by a ready endpoint of the matching port, reached through `reach`.
 */
export function resolveHost(
  host: string,
  port: number,
  view: ServiceView,
  routes: ReadonlyMap<string, Endpoint>,
  reach: (podIP: string, port: number) => Endpoint | undefined,
  domain = 'cluster.local',
  depth = 0,
): Resolution {
  const routed = routes.get(`${host.toLowerCase()}:${port}`) ?? routes.get(host.toLowerCase());
  if (routed) return { ok: true, endpoint: routed };
  const ref = serviceOfHost(host, domain);
  if (!ref) return { ok: false, reason: `${host} is not a cluster service name` };
  const [namespace, name] = ref;
  const service = view.service(namespace, name);
  if (!service) return { ok: false, reason: `service ${namespace}/${name} does not exist` };
  if (service.spec?.type === 'ExternalName') {
    const target = service.spec.externalName ?? '';
    if (depth >= MAX_ALIASES) return { ok: false, reason: `too many ExternalName hops at ${target}` };
    return resolveHost(target, port, view, routes, reach, domain, depth + 1);
  }
  const servicePort = service.spec?.ports?.find((p) => p.port === port);
  if (!servicePort) return { ok: false, reason: `service ${namespace}/${name} has no port ${port}` };
  for (const slice of view.slices(namespace, name)) {
    const slicePort = slice.ports?.find((p) => (p.name ?? '') === (servicePort.name ?? ''))?.port;
    if (slicePort === undefined) continue;
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false) continue;
      for (const address of endpoint.addresses) {
        const reached = reach(address, slicePort);
        if (reached) return { ok: true, endpoint: reached };
      }
    }
  }
  return { ok: false, reason: `service ${namespace}/${name}:${port} has no ready endpoint reachable here` };
}

export type ClusterDns = {
  /** `http://127.0.0.1:<port>`: the HTTP_PROXY to give clients. */
  url: string;
  /** Sends requests for `host` (any port, or `host:port`) to a local endpoint. */
  route(host: string, target: Endpoint): void;
  /** The local endpoint a cluster URL reaches now, for clients that cannot use a proxy. */
  resolve(url: string): Resolution;
  stop(): Promise<void>;
};

function fail(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
  res.end(`${message}\n`);
}

export async function startClusterDns(
  kc: KubeConfig,
  reach: (podIP: string, port: number) => Endpoint | undefined,
  domain = 'cluster.local',
): Promise<ClusterDns> {
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const services = new ListWatch<V1Service>(
    '/api/v1/services',
    new Watch(kc),
    () => core.listServiceForAllNamespaces(),
    false,
  );
  const slices = new ListWatch<V1EndpointSlice>(
    '/apis/discovery.k8s.io/v1/endpointslices',
    new Watch(kc),
    () => discovery.listEndpointSliceForAllNamespaces(),
    false,
  );
  let stopped = false;
  for (const informer of [services, slices] as ListWatch<never>[]) {
    informer.on('error', () => {
      setTimeout(() => {
        if (!stopped) void informer.start();
      }, 1_000);
    });
  }
  await Promise.all([services.start(), slices.start()]);
  const view: ServiceView = {
    service: (namespace, name) => services.get(name, namespace),
    slices: (namespace, name) =>
      slices.list(namespace).filter((s) => s.metadata?.labels?.['kubernetes.io/service-name'] === name),
  };
  const routes = new Map<string, Endpoint>();
  const resolve = (url: string): Resolution => {
    const u = new URL(url);
    return resolveHost(u.hostname, Number(u.port || 80), view, routes, reach, domain);
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      return fail(res, 400, `send absolute-form requests to this proxy, got ${req.url}`);
    }
    if (target.protocol !== 'http:') return fail(res, 501, `only http is proxied, not ${target.protocol}`);
    const resolution = resolve(target.href);
    if (!resolution.ok) return fail(res, 502, `cannot reach ${target.host}: ${resolution.reason}`);
    const upstream = request({
      host: resolution.endpoint.host,
      port: resolution.endpoint.port,
      method: req.method,
      path: `${target.pathname}${target.search}`,
      headers: req.headers,
    });
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
      answer.pipe(res);
    });
    upstream.on('error', (err) => fail(res, 502, `${target.host}: ${err.message}`));
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolveListen);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    route: (host, target) => routes.set(host.toLowerCase(), target),
    resolve,
    stop: async () => {
      stopped = true;
      await Promise.all([services.stop(), slices.stop()]);
      await new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
    },
  };
}
