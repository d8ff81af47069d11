// The service proxy against real EndpointSlices of pods run by the node agent: round-robin to ready pods, 503 without.
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import test from 'ava';
import { testCluster, useNamespace } from '../../test/helpers/cluster.ts';
import { eventually } from '../../test/helpers/wait.ts';
import { startServiceProxy } from './service-proxy.ts';
import { podGet, readyCondition, startTestAgent, testPod } from './test-support.ts';

test('forwards to the ready pods of a Service in turn, streams bodies, and answers 503 when none is ready', async (t) => {
  const cluster = await testCluster();
  const agent = await startTestAgent(cluster);
  t.teardown(() => agent.stop());
  const ns = await useNamespace(t, 'svc-proxy');
  const core = ns.kc.makeApiClient(CoreV1Api);
  const apps = ns.kc.makeApiClient(AppsV1Api);
  const template = testPod(agent, 'echo');
  await apps.createNamespacedDeployment({
    namespace: ns.name,
    body: {
      metadata: { name: 'echo' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'echo' } },
        template: { metadata: template.metadata, spec: template.spec },
      },
    },
  });
  await core.createNamespacedService({
    namespace: ns.name,
    body: {
      metadata: { name: 'echo' },
      spec: { selector: { app: 'echo' }, ports: [{ name: 'web', port: 80, targetPort: 'http' }] },
    },
  });
  const proxy = await startServiceProxy(ns.kc, [
    { namespace: ns.name, name: 'echo', port: 80 },
    { namespace: ns.name, name: 'missing', port: 80 },
  ]);
  t.teardown(() => proxy.stop());
  const url = proxy.url(ns.name, 'echo', 80) ?? '';
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.is(proxy.urls[`${ns.name}/echo:80`], url);

  const answered = new Set<string>();
  await eventually('both pods answer through the proxy', async () => {
    const response = await fetch(`${url}/`);
    if (response.status === 200) answered.add(((await response.json()) as { hello: string }).hello);
    return answered.size === 2;
  });
  const pods = (await core.listNamespacedPod({ namespace: ns.name })).items;
  t.deepEqual([...answered].sort(), pods.map((p) => p.metadata?.name).sort());

  const body = 'x'.repeat(256 * 1024);
  const echoed = await fetch(`${url}/echo`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'text/plain' },
  });
  t.is(echoed.headers.get('content-type'), 'text/plain');
  t.is(await echoed.text(), body);

  const missing = await fetch(proxy.url(ns.name, 'missing', 80) ?? '');
  t.is(missing.status, 503);
  t.regex(await missing.text(), /service .*\/missing does not exist/);

  for (const pod of pods) await podGet(pod, '/set?ready=false');
  await eventually('pods not Ready', async () =>
    (await core.listNamespacedPod({ namespace: ns.name })).items.every((p) => readyCondition(p) === 'False'),
  );
  const none = await eventually('503 from the proxy', async () => {
    const response = await fetch(`${url}/`);
    return response.status === 503 ? response.text() : undefined;
  });
  t.regex(none, new RegExp(`service ${ns.name}/echo:80 has no ready endpoints`));
});
