// Cluster names resolved as the cluster would: explicit routes, ExternalName aliases, Services through their ready
// endpoints reached through a pod sandbox.
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import test from 'ava';
import { type Endpoint, resolveHost, type ServiceView, serviceOfHost } from './cluster-dns.ts';

const services: Record<string, V1Service> = {
  'knative-eventing/broker-ingress': {
    spec: { type: 'ClusterIP', ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  },
  'selfheal/selfheal-kne-trigger-kn-channel': {
    spec: { type: 'ExternalName', externalName: 'imc-dispatcher.knative-eventing.svc.cluster.local' },
  },
  'knative-eventing/imc-dispatcher': { spec: { type: 'ClusterIP', ports: [{ name: 'http', port: 80 }] } },
};
const slices: Record<string, V1EndpointSlice[]> = {
  'knative-eventing/broker-ingress': [
    {
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080 }],
      endpoints: [
        { addresses: ['10.244.0.3'], conditions: { ready: false } },
        { addresses: ['10.244.0.4'], conditions: { ready: true } },
      ],
    },
  ],
  'knative-eventing/imc-dispatcher': [
    {
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080 }],
      endpoints: [{ addresses: ['10.244.0.7'] }],
    },
  ],
};
const view: ServiceView = {
  service: (ns, name) => services[`${ns}/${name}`],
  slices: (ns, name) => slices[`${ns}/${name}`] ?? [],
};
const reach = (ip: string, port: number): Endpoint | undefined =>
  ip.startsWith('10.244.') ? { host: '127.0.0.1', port: 40000 + Number(ip.split('.')[3]) + port } : undefined;

test('service names in their short and long forms', (t) => {
  t.deepEqual(serviceOfHost('broker-ingress.knative-eventing.svc.cluster.local', 'cluster.local'), [
    'knative-eventing',
    'broker-ingress',
  ]);
  t.deepEqual(serviceOfHost('restart-pod.selfheal.svc', 'cluster.local'), ['selfheal', 'restart-pod']);
  t.deepEqual(serviceOfHost('router.selfheal', 'cluster.local'), ['selfheal', 'router']);
  t.is(serviceOfHost('example.com.evil', 'cluster.local'), undefined);
  t.is(serviceOfHost('localhost', 'cluster.local'), undefined);
});

test('a Service resolves to a ready endpoint of the matching port, reached through its sandbox', (t) => {
  const r = resolveHost('broker-ingress.knative-eventing.svc.cluster.local', 80, view, new Map(), reach);
  t.deepEqual(r, { ok: true, endpoint: { host: '127.0.0.1', port: 40000 + 4 + 8080 } });
});

test('an ExternalName Service (a channel) is followed to the Service it names', (t) => {
  const r = resolveHost(
    'selfheal-kne-trigger-kn-channel.selfheal.svc.cluster.local',
    80,
    view,
    new Map(),
    reach,
  );
  t.deepEqual(r, { ok: true, endpoint: { host: '127.0.0.1', port: 40000 + 7 + 8080 } });
});

test('explicit routes win; unknown names and ports say why they fail', (t) => {
  const routes = new Map([['restart-pod.selfheal.svc.cluster.local', { host: '127.0.0.1', port: 5555 }]]);
  t.deepEqual(resolveHost('restart-pod.selfheal.svc.cluster.local', 80, view, routes, reach), {
    ok: true,
    endpoint: { host: '127.0.0.1', port: 5555 },
  });
  t.like(resolveHost('nope.selfheal.svc.cluster.local', 80, view, routes, reach), {
    ok: false,
    reason: 'service selfheal/nope does not exist',
  });
  t.like(resolveHost('broker-ingress.knative-eventing.svc.cluster.local', 81, view, routes, reach), {
    ok: false,
  });
});
