// Knative Serving's part, which cannot run here (it needs an Envoy-based networking layer): its Service CRD comes from
// its module with Eventing's config (so the API server validates Knative Services and Eventing resolves them), and a
// Service's address is published in its status the way Serving publishes a cluster-local one
// (http://<name>.<namespace>.svc.cluster.local), which the cluster-DNS proxy routes to the local process playing it.
import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { ClusterDns, Endpoint } from './cluster-dns.ts';

export const SERVING = { group: 'serving.knative.dev', version: 'v1', plural: 'services' } as const;

/** The cluster-local address Serving gives a Service. */
export function serviceAddress(namespace: string, name: string, domain = 'cluster.local'): string {
  return `http://${name}.${namespace}.svc.${domain}`;
}

/** The status Serving writes once a Service's revision is ready and routed (the fields Eventing reads). */
export function readyServiceStatus(namespace: string, name: string, generation: number, now = new Date()) {
  const url = serviceAddress(namespace, name);
  const condition = (type: string) => ({ type, status: 'True', lastTransitionTime: now.toISOString() });
  return {
    observedGeneration: generation,
    conditions: [condition('ConfigurationsReady'), condition('Ready'), condition('RoutesReady')],
    latestCreatedRevisionName: `${name}-00001`,
    latestReadyRevisionName: `${name}-00001`,
    url,
    address: { url },
  };
}

/** Publishes the address of Knative Service `namespace/name` and sends its traffic to `target`. */
export async function publishService(
  kc: KubeConfig,
  dns: ClusterDns,
  namespace: string,
  name: string,
  target: Endpoint,
): Promise<void> {
  dns.route(new URL(serviceAddress(namespace, name)).hostname, target);
  const api = kc.makeApiClient(CustomObjectsApi);
  const service = (await api.getNamespacedCustomObject({ ...SERVING, namespace, name })) as {
    metadata?: { generation?: number };
  };
  await api.patchNamespacedCustomObjectStatus(
    {
      ...SERVING,
      namespace,
      name,
      body: { status: readyServiceStatus(namespace, name, service.metadata?.generation ?? 1) },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}
