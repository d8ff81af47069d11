// Measures the node agent on a real control plane: pod start latency and the agent's own CPU use, idle and with pods.
// Run: node playground/agent/measure.ts   (about 2 minutes; prints one line per figure)
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, CoreV1Api, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { startControlPlane } from '../../devkit/control-plane.ts';
import { readyCondition, startTestAgent, testPod } from './test-support.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function agentCpu(windowMs: number): Promise<number> {
  const before = process.cpuUsage();
  const started = performance.now();
  await sleep(windowMs);
  const used = process.cpuUsage(before);
  return ((used.user + used.system) / 1000 / (performance.now() - started)) * 100;
}

const cluster = await startControlPlane();
const agent = await startTestAgent(cluster);
const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
const apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
try {
  await sleep(5_000);
  say(`agent CPU, idle (no pods), 20 s: ${(await agentCpu(20_000)).toFixed(2)} % of one core`);

  // Start latency, one pod at a time: create → container running (scheduling + start), create → Ready (1 s probe).
  const running: number[] = [];
  const ready: number[] = [];
  for (let i = 0; i < 5; i++) {
    const name = `latency-${i}`;
    const created = performance.now();
    await core.createNamespacedPod({ namespace: 'default', body: testPod(agent, name) });
    let runningAt: number | undefined;
    for (;;) {
      const pod: V1Pod = await core.readNamespacedPod({ name, namespace: 'default' });
      if (runningAt === undefined && pod.status?.containerStatuses?.[0]?.state?.running)
        runningAt = performance.now();
      if (readyCondition(pod) === 'True') break;
      await sleep(20);
    }
    running.push((runningAt ?? Number.NaN) - created);
    ready.push(performance.now() - created);
    await core.deleteNamespacedPod({ name, namespace: 'default', gracePeriodSeconds: 1 });
  }
  say(
    `pod create → container running: median ${median(running).toFixed(0)} ms (${running.map((x) => x.toFixed(0)).join(', ')})`,
  );
  say(`pod create → Ready (1 s readiness probe): median ${median(ready).toFixed(0)} ms`);

  const manifest = parse(
    readFileSync(new URL('../../manifests/base/demo-app/deployment.yaml', import.meta.url), 'utf8'),
  ) as V1Deployment;
  if (!manifest.metadata || !manifest.spec?.template.spec) throw new Error('unexpected manifest shape');
  manifest.metadata.namespace = 'default';
  Object.assign(manifest.spec.template.spec, agent.placement);
  const created = performance.now();
  await apps.createNamespacedDeployment({ namespace: 'default', body: manifest });
  for (;;) {
    const d = await apps.readNamespacedDeployment({ name: 'demo-app', namespace: 'default' });
    if (d.status?.readyReplicas === manifest.spec.replicas) break;
    await sleep(50);
  }
  say(
    `sample app Deployment (${manifest.spec.replicas} replicas, production probes) create → all Ready: ${(performance.now() - created).toFixed(0)} ms`,
  );
  await sleep(3_000);
  say(
    `agent CPU with the sample app running (probes, memory checks), 30 s: ${(await agentCpu(30_000)).toFixed(2)} % of one core`,
  );
  const scrapes: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    await core.connectGetNodeProxyWithPath({ name: agent.nodeName, path: 'metrics/cadvisor' });
    scrapes.push(performance.now() - t0);
  }
  say(`cAdvisor scrape through the API server proxy: median ${median(scrapes).toFixed(1)} ms`);
} finally {
  await agent.stop();
  await cluster.stop();
}
