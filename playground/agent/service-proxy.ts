// Stands in for kube-proxy: one loopback port per Service port, forwarding HTTP round-robin to the Service's ready
// endpoints: its ready pods (as the EndpointSlice controller picks them) or, without a selector, its EndpointSlices.
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CoreV1Api,
  DiscoveryV1Api,
  type KubeConfig,
  type KubernetesObject,
  ListWatch,
  type V1EndpointSlice,
  type V1Pod,
  type V1Service,
  type V1ServicePort,
  Watch,
} from '@kubernetes/client-node';

export type ServicePort = { namespace: string; name: string; port: number };

export type ServiceProxy = {
  /** `namespace/name:port` → `http://127.0.0.1:<local port>`. */
  urls: Record<string, string>;
  /** The local base URL standing for a Service port, or undefined when it is not proxied. */
  url(namespace: string, name: string, port: number): string | undefined;
  stop(): Promise<void>;
};

export const servicePortKey = (s: ServicePort) => `${s.namespace}/${s.name}:${s.port}`;

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** `ip:port` of every ready endpoint of the Service port named `portName` (a nil ready condition counts as ready). */
export function readyEndpoints(slices: readonly V1EndpointSlice[], portName: string): string[] {
  const out: string[] = [];
  for (const slice of slices) {
    const port = slice.ports?.find((p) => (p.name ?? '') === portName)?.port;
    if (port === undefined) continue;
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false) continue;
      for (const address of endpoint.addresses) out.push(`${address}:${port}`);
    }
  }
  return out.sort();
}

/**
 * `ip:port` of the pods a selector Service routes to, chosen as the EndpointSlice controller chooses: matching labels,
 * an address, Ready and not terminating; a named targetPort is looked up among the pod's container ports.
 */
export function readyPodEndpoints(service: V1Service, port: V1ServicePort, pods: readonly V1Pod[]): string[] {
  const selector = Object.entries(service.spec?.selector ?? {});
  const out: string[] = [];
  for (const pod of pods) {
    const labels = pod.metadata?.labels ?? {};
    if (!selector.every(([k, v]) => labels[k] === v)) continue;
    const ready = pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    if (!ready || pod.metadata?.deletionTimestamp || !pod.status?.podIP) continue;
    const target = port.targetPort ?? port.port;
    const number =
      typeof target === 'number' || /^\d+$/.test(String(target))
        ? Number(target)
        : pod.spec?.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === target)?.containerPort;
    if (number !== undefined) out.push(`${pod.status.podIP}:${number}`);
  }
  return out.sort();
}

function fail(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
  res.end(`${message}\n`);
}

/** Forwards one request to `target` (ip:port), streaming both bodies. */
function forward(req: IncomingMessage, res: ServerResponse, target: string, what: string): void {
  const [host, port] = target.split(':');
  const upstream = request({
    host,
    port: Number(port),
    method: req.method,
    path: req.url,
    headers: req.headers,
  });
  upstream.on('response', (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
    answer.pipe(res);
  });
  upstream.on('error', (err) => fail(res, 502, `service ${what}: endpoint ${target} failed: ${err.message}`));
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}

export async function startServiceProxy(kc: KubeConfig, services: ServicePort[]): Promise<ServiceProxy> {
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  type Caches = {
    services: ListWatch<V1Service>;
    pods: ListWatch<V1Pod>;
    slices: ListWatch<V1EndpointSlice>;
  };
  const caches = new Map<string, Caches>();
  const servers: Server[] = [];
  let stopped = false;

  const keepWatching = <T extends KubernetesObject>(informer: ListWatch<T>) => {
    informer.on('error', () => {
      setTimeout(() => {
        if (!stopped) void informer.start();
      }, 1_000);
    });
    return informer;
  };

  const stop = async () => {
    stopped = true;
    for (const c of caches.values()) await Promise.all([c.services.stop(), c.pods.stop(), c.slices.stop()]);
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.closeAllConnections();
            s.close(() => resolve());
          }),
      ),
    );
  };

  try {
    // Watches of Services, Pods and EndpointSlices per namespace, shared by that namespace's Service ports.
    for (const namespace of new Set(services.map((s) => s.namespace))) {
      const svc = keepWatching(
        new ListWatch<V1Service>(
          `/api/v1/namespaces/${namespace}/services`,
          new Watch(kc),
          () => core.listNamespacedService({ namespace }),
          false,
        ),
      );
      const slices = keepWatching(
        new ListWatch<V1EndpointSlice>(
          `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
          new Watch(kc),
          () => discovery.listNamespacedEndpointSlice({ namespace }),
          false,
        ),
      );
      const pods = keepWatching(
        new ListWatch<V1Pod>(
          `/api/v1/namespaces/${namespace}/pods`,
          new Watch(kc),
          () => core.listNamespacedPod({ namespace }),
          false,
        ),
      );
      caches.set(namespace, { services: svc, pods, slices });
      await Promise.all([svc.start(), pods.start(), slices.start()]);
    }

    const urls: Record<string, string> = {};
    for (const service of services) {
      const what = servicePortKey(service);
      let turn = 0;
      const server = createServer((req, res) => {
        const cache = caches.get(service.namespace);
        const spec = cache?.services.get(service.name, service.namespace);
        if (!cache || !spec)
          return fail(res, 503, `service ${service.namespace}/${service.name} does not exist`);
        const port = spec.spec?.ports?.find((p) => p.port === service.port);
        if (!port)
          return fail(res, 503, `service ${service.namespace}/${service.name} has no port ${service.port}`);
        // Pod addresses here are loopback ones, which the API server refuses in EndpointSlices ("may not be in the
        // loopback range"): for a selector Service, pick its pods the way the EndpointSlice controller does.
        const ready = spec.spec?.selector
          ? readyPodEndpoints(spec, port, cache.pods.list(service.namespace))
          : readyEndpoints(
              cache.slices
                .list(service.namespace)
                .filter((s) => s.metadata?.labels?.[SERVICE_NAME_LABEL] === service.name),
              port.name ?? '',
            );
        if (ready.length === 0) return fail(res, 503, `service ${what} has no ready endpoints`);
        forward(req, res, ready[turn++ % ready.length] ?? '', what);
      });
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      urls[what] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }
    return { urls, url: (namespace, name, port) => urls[servicePortKey({ namespace, name, port })], stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
