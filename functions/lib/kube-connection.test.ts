// The actions' Kubernetes client against the real API server keeps its connection: one TLS handshake for a whole
// remediation (and the next ones), not one per call, which a cold and a warm remediation would otherwise pay for
// every one of their calls.
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import test from 'ava';
import { useNamespace } from '../../test/helpers/cluster.ts';
import { createKube } from './kube.ts';

/** A TCP relay to the API server that counts the connections made through it. */
async function countingRelay(
  server: string,
): Promise<{ url: string; connections: () => number; close: () => void }> {
  const target = new URL(server);
  let connections = 0;
  const sockets = new Set<Socket>();
  const relay = createServer((client) => {
    connections++;
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  return {
    // The API server's certificate names 127.0.0.1, whatever the port.
    url: `https://127.0.0.1:${(relay.address() as AddressInfo).port}`,
    connections: () => connections,
    close: () => {
      for (const s of sockets) s.destroy();
      relay.close();
    },
  };
}

test('the calls of one client share one connection to the API server', async (t) => {
  const ns = await useNamespace(t, 'kube-connection');
  const relay = await countingRelay(ns.cluster.server);
  t.teardown(relay.close);
  const kc = new KubeConfig();
  kc.loadFromString(
    ns.cluster.kubeconfigTextForToken(await ns.cluster.mintToken(ns.name, 'default'), ns.name),
  );
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no cluster in the kubeconfig');
  kc.clusters = [{ ...cluster, server: relay.url }];
  const kube = await createKube({ kubeConfig: kc }, { timeoutMs: 10_000 });

  // Reads the default ServiceAccount may not do: answered 403, over the same connection all the same.
  for (let i = 0; i < 5; i++) {
    await t.throwsAsync(kube.readPod(ns.name, `pod-${i}`), { message: /forbidden|403/i });
  }
  await t.throwsAsync(kube.listPods(ns.name, 'app=web'));
  t.is(relay.connections(), 1);
});
