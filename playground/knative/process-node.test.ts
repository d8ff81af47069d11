// The kubelet's part for sandboxed pods, without a cluster: which ports a container needs reached, and a probe aimed
// at the host port standing for its container port.
import type { V1Container } from '@kubernetes/client-node';
import test from 'ava';
import { containerPortNumbers, probeThrough } from './process-node.ts';

const webhook: V1Container = {
  name: 'webhook',
  ports: [
    { name: 'https-webhook', containerPort: 8443 },
    { name: 'metrics', containerPort: 9090 },
  ],
  readinessProbe: { httpGet: { scheme: 'HTTPS', port: 'https-webhook', path: '/' }, periodSeconds: 1 },
  livenessProbe: { tcpSocket: { port: 8080 } },
};

test('a container needs its declared ports and its probes reached', (t) => {
  t.deepEqual(containerPortNumbers(webhook), [8080, 8443, 9090]);
  t.deepEqual(containerPortNumbers({ name: 'bare' }), []);
});

test('a probe is aimed at the host port of its (named or numbered) container port, on loopback', (t) => {
  const hostPort = (port: number) => ({ 8443: 41443, 8080: 41080 })[port];
  t.like(probeThrough(webhook.readinessProbe ?? {}, webhook, hostPort), {
    httpGet: { scheme: 'HTTPS', host: '127.0.0.1', port: 41443, path: '/' },
    periodSeconds: 1,
  });
  t.like(probeThrough(webhook.livenessProbe ?? {}, webhook, hostPort), {
    tcpSocket: { host: '127.0.0.1', port: 41080 },
  });
  t.is(probeThrough({ exec: { command: ['true'] } }, webhook, hostPort), undefined);
  t.is(probeThrough({ httpGet: { port: 'nope' } }, webhook, hostPort), undefined);
});
