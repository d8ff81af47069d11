// The node agent against the real control plane: node lifecycle, pods as processes, probes, restarts, volumes,
// deletion, limits, logs and cAdvisor metrics through the API server.
import { existsSync, readFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import test from 'ava';
import { parse } from 'yaml';
import { testCluster, useNamespace } from '../../test/helpers/cluster.ts';
import { eventually } from '../../test/helpers/wait.ts';
import {
  eventsOf,
  podGet,
  readyCondition,
  startTestAgent,
  type TestAgent,
  testPod,
  watchUntilDeleted,
} from './test-support.ts';

let agentStarted: Promise<TestAgent> | undefined;
const sharedAgent = () => {
  agentStarted ??= testCluster().then((cluster) => startTestAgent(cluster));
  return agentStarted;
};
test.after.always(async () => {
  if (agentStarted) await (await agentStarted).stop();
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function setup(t: Parameters<typeof useNamespace>[0]) {
  const [agent, ns] = await Promise.all([sharedAgent(), useNamespace(t, 'agent')]);
  const core = ns.kc.makeApiClient(CoreV1Api);
  const read = (name: string) => core.readNamespacedPod({ name, namespace: ns.name });
  const create = (pod: V1Pod) => core.createNamespacedPod({ namespace: ns.name, body: pod });
  const running = (name: string, check: (p: V1Pod) => boolean = (p) => readyCondition(p) === 'True') =>
    eventually(`pod ${name}`, async () => {
      const p = await read(name);
      return check(p) ? p : undefined;
    });
  return { agent, ns, core, read, create, running };
}

test('the node registers, turns Ready and untainted, and stays Ready past the node-monitor grace period', async (t) => {
  const agent = await sharedAgent();
  const cluster = await testCluster();
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  const coordination = cluster.kubeConfig().makeApiClient(CoordinationV1Api);
  const readyAndUntainted = async () => {
    const node = await core.readNode({ name: agent.nodeName });
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    const lifecycleTaints = (node.spec?.taints ?? []).filter((x) => x.key.startsWith('node.kubernetes.io/'));
    return ready && lifecycleTaints.length === 0 ? node : undefined;
  };
  const node = await eventually('node Ready without lifecycle taints', readyAndUntainted);
  t.like(node.status?.addresses?.[0], { type: 'InternalIP', address: agent.nodeIP });
  t.is(node.status?.daemonEndpoints?.kubeletEndpoint?.Port, agent.kubeletPort);
  t.truthy(node.status?.allocatable?.cpu);
  // kube-controller-manager's default --node-monitor-grace-period is 50 s (60 s for a node starting up).
  await sleep(65_000);
  t.truthy(await readyAndUntainted(), 'still Ready and untainted after the grace period');
  const lease = await coordination.readNamespacedLease({
    name: agent.nodeName,
    namespace: 'kube-node-lease',
  });
  const renewedAgo = Date.now() - new Date(lease.spec?.renewTime ?? 0).getTime();
  t.true(renewedAgo < 15_000, `lease renewed ${renewedAgo} ms ago`);
});

test('a Deployment gets scheduled here: each pod runs with its own address and becomes Ready', async (t) => {
  const { agent, ns, core } = await setup(t);
  const apps = ns.kc.makeApiClient(AppsV1Api);
  const template = testPod(agent, 'web', {
    container: { readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 1 } },
  });
  const started = Date.now();
  await apps.createNamespacedDeployment({
    namespace: ns.name,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: template.metadata, spec: template.spec },
      },
    },
  });
  await eventually('2 ready replicas', async () => {
    const d = await apps.readNamespacedDeployment({ name: 'web', namespace: ns.name });
    return d.status?.readyReplicas === 2;
  });
  t.log(`Deployment created → 2 pods Ready in ${Date.now() - started} ms`);
  const pods = (await core.listNamespacedPod({ namespace: ns.name })).items;
  t.is(pods.length, 2);
  const ips = pods.map((p) => p.status?.podIP ?? '');
  t.is(new Set(ips).size, 2, 'each pod its own address');
  for (const pod of pods) {
    t.is(pod.spec?.nodeName, agent.nodeName);
    t.is(pod.status?.phase, 'Running');
    t.is(pod.status?.hostIP, agent.nodeIP);
    t.true(agent.podNetwork.startsWith((pod.status?.podIP ?? 'x').split('.').slice(0, 3).join('.')));
    const info = await podGet<{ env: Record<string, string> }>(pod, '/info');
    t.is(info.env.HOSTNAME, pod.metadata?.name);
    t.is(info.env.HOST, pod.status?.podIP);
    t.is(info.env.PORT, '8080', 'PORT from the first containerPort');
    t.is(info.env.KUBECONFIG?.endsWith('/kubeconfig'), true, 'the service account as a kubeconfig');
  }
  const whoami = await podGet<{ username: string; namespace: string }>(pods[0] as V1Pod, '/whoami');
  t.deepEqual(whoami, { username: `system:serviceaccount:${ns.name}:default`, namespace: ns.name });
  const events = await eventsOf(core, ns.name, pods[0]?.metadata?.name ?? '');
  t.deepEqual(
    ['Pulled', 'Created', 'Started'].filter((r) => events.some((e) => e.reason === r)),
    ['Pulled', 'Created', 'Started'],
  );
});

test('the real sample app Deployment (production manifest) runs here and becomes Ready', async (t) => {
  const { agent, ns, core } = await setup(t);
  const apps = ns.kc.makeApiClient(AppsV1Api);
  const manifest = parse(
    readFileSync(new URL('../../manifests/base/demo-app/deployment.yaml', import.meta.url), 'utf8'),
  ) as V1Deployment;
  const podSpec = manifest.spec?.template.spec;
  if (!manifest.metadata || !manifest.spec || !podSpec) throw new Error('unexpected manifest shape');
  manifest.metadata.namespace = ns.name;
  manifest.spec.replicas = 1;
  Object.assign(podSpec, agent.placement);
  const started = Date.now();
  await apps.createNamespacedDeployment({ namespace: ns.name, body: manifest });
  const pod = await eventually(
    'a Ready sample app pod',
    async () => {
      const [p] = (await core.listNamespacedPod({ namespace: ns.name })).items;
      return readyCondition(p) === 'True' ? p : undefined;
    },
    { timeoutMs: 60_000 },
  );
  t.log(`sample app: Deployment created → pod Ready in ${Date.now() - started} ms`);
  const base = `http://${pod.status?.podIP}:3000`;
  t.is((await fetch(`${base}/health`)).status, 200);
  t.regex(await (await fetch(`${base}/metrics`)).text(), /http_requests_total/);
});

test('a failing readiness probe turns the pod not Ready, and Ready again when it passes', async (t) => {
  const { agent, create, running, read, core, ns } = await setup(t);
  await create(
    testPod(agent, 'flaky', {
      container: {
        readinessProbe: { httpGet: { path: '/readyz', port: 8080 }, periodSeconds: 1, failureThreshold: 1 },
      },
    }),
  );
  const pod = await running('flaky');
  await podGet(pod, '/set?ready=false');
  const unready = await eventually('Ready=False', async () => {
    const p = await read('flaky');
    return readyCondition(p) === 'False' ? p : undefined;
  });
  const ready = unready.status?.conditions?.find((c) => c.type === 'Ready');
  t.is(ready?.reason, 'ContainersNotReady');
  t.is(unready.status?.containerStatuses?.[0]?.ready, false);
  t.is(unready.status?.containerStatuses?.[0]?.restartCount, 0, 'readiness never restarts');
  await podGet(pod, '/set?ready=true');
  const back = await running('flaky');
  const again = back.status?.conditions?.find((c) => c.type === 'Ready');
  t.is(again?.reason, undefined, 'no stale reason once Ready');
  const events = await eventsOf(core, ns.name, 'flaky');
  t.true(
    events.some(
      (e) => e.reason === 'Unhealthy' && /^Readiness probe failed: HTTP probe failed/.test(e.message ?? ''),
    ),
  );
});

test('a failing liveness probe kills and restarts the container, and restartCount counts it', async (t) => {
  const { agent, create, running, core, ns } = await setup(t);
  await create(
    testPod(agent, 'sick', {
      container: {
        // The startup probe holds the liveness probe back until the process serves, however slowly it starts
        // (a busy machine): only the failure the test provokes kills it.
        startupProbe: { httpGet: { path: '/livez', port: 8080 }, periodSeconds: 1, failureThreshold: 120 },
        livenessProbe: { httpGet: { path: '/livez', port: 8080 }, periodSeconds: 1, failureThreshold: 2 },
      },
    }),
  );
  const pod = await running('sick');
  const before = await podGet<{ pid: number }>(pod, '/info');
  await podGet(pod, '/set?live=false');
  const restarted = await running(
    'sick',
    (p) =>
      p.status?.containerStatuses?.[0]?.restartCount === 1 && !!p.status.containerStatuses[0].state?.running,
  );
  const status = restarted.status?.containerStatuses?.[0];
  t.truthy(status?.lastState?.terminated, 'the killed instance is lastState');
  const after = await eventually('the new process serving', () =>
    podGet<{ pid: number }>(restarted, '/info'),
  );
  t.not(after.pid, before.pid);
  t.false(alive(before.pid));
  const events = await eventsOf(core, ns.name, 'sick');
  t.true(
    events.some(
      (e) => e.reason === 'Killing' && /failed liveness probe, will be restarted/.test(e.message ?? ''),
    ),
  );
});

test('an exiting container goes into CrashLoopBackOff with a growing back-off and its exit code in lastState', async (t) => {
  const { agent, create, read } = await setup(t);
  await create(testPod(agent, 'crasher', { env: { EXIT_AFTER_MS: '300', EXIT_CODE: '3' } }));
  const messages = new Set<string>();
  const looping = await eventually(
    'restartCount 3 in CrashLoopBackOff',
    async () => {
      const p = await read('crasher');
      const s = p.status?.containerStatuses?.[0];
      if (s?.state?.waiting?.reason === 'CrashLoopBackOff') messages.add(s.state.waiting.message ?? '');
      return (s?.restartCount ?? 0) >= 3 && s?.state?.waiting?.reason === 'CrashLoopBackOff' ? p : undefined;
    },
    { timeoutMs: 40_000, intervalMs: 50 },
  );
  const s = looping.status?.containerStatuses?.[0];
  t.like(s?.lastState?.terminated, { exitCode: 3, reason: 'Error' });
  t.is(looping.status?.phase, 'Running');
  t.is(readyCondition(looping), 'False');
  // Base 1 s in this test: 1 s, 2 s, 4 s between restarts after the first (immediate) one.
  const waits = [...messages].map((m) => Number(/back-off (\d+)s/.exec(m)?.[1]));
  t.true(waits.includes(1) && waits.includes(2), `back-off messages: ${[...messages].join(' | ')}`);
});

test('the emptyDir scratch directory survives container restarts and goes with the pod', async (t) => {
  const { agent, create, running, core, ns } = await setup(t);
  await create(
    testPod(agent, 'keeper', {
      env: { SCRATCH_DIR: '/scratch/state' },
      container: { volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] },
      spec: { volumes: [{ name: 'scratch', emptyDir: {} }] },
    }),
  );
  const pod = await running('keeper');
  const first = await podGet<{ starts: number; env: Record<string, string> }>(pod, '/info');
  t.is(first.starts, 1);
  const hostDir = first.env.SCRATCH_DIR ?? '';
  t.not(hostDir, '/scratch/state', 'the mount path is rewritten to the pod folder');
  t.true(existsSync(`${hostDir}/starts`));
  await podGet(pod, '/exit?code=0');
  const again = await running(
    'keeper',
    (p) => p.status?.containerStatuses?.[0]?.restartCount === 1 && readyCondition(p) === 'True',
  );
  const second = await eventually('restarted container', () => podGet<{ starts: number }>(again, '/info'));
  t.is(second.starts, 2, 'the second start found what the first wrote');
  await core.deleteNamespacedPod({ name: 'keeper', namespace: ns.name });
  await eventually(
    'pod gone',
    async () => !(await core.listNamespacedPod({ namespace: ns.name })).items.length,
  );
  t.false(existsSync(hostDir), 'removed with the pod');
});

test('deleting a pod sends SIGTERM and waits for a graceful exit; a process ignoring it gets SIGKILL after the grace period', async (t) => {
  const { agent, create, running, core, ns } = await setup(t);
  await create(testPod(agent, 'polite', { spec: { terminationGracePeriodSeconds: 60 } }));
  await create(
    testPod(agent, 'stubborn', {
      env: { IGNORE_SIGTERM: 'true' },
      spec: { terminationGracePeriodSeconds: 3 },
    }),
  );
  const [polite, stubborn] = await Promise.all([running('polite'), running('stubborn')]);
  const pids = await Promise.all([
    podGet<{ pid: number }>(polite, '/info'),
    podGet<{ pid: number }>(stubborn, '/info'),
  ]);
  const cluster = await testCluster();
  const gone = [
    watchUntilDeleted(cluster, ns.name, 'polite'),
    watchUntilDeleted(cluster, ns.name, 'stubborn'),
  ];
  const started = Date.now();
  await core.deleteNamespacedPod({ name: 'polite', namespace: ns.name });
  await core.deleteNamespacedPod({ name: 'stubborn', namespace: ns.name });
  const lastPolite = (await gone[0]) as V1Pod;
  const politeMs = Date.now() - started;
  const lastStubborn = (await gone[1]) as V1Pod;
  const stubbornMs = Date.now() - started;
  t.log(`graceful exit deleted in ${politeMs} ms; SIGTERM ignored: deleted in ${stubbornMs} ms (grace 3 s)`);
  t.like(lastPolite.status?.containerStatuses?.[0]?.state?.terminated, { exitCode: 0, reason: 'Completed' });
  t.true(politeMs < 30_000, 'well before its 60 s grace period');
  t.like(lastStubborn.status?.containerStatuses?.[0]?.state?.terminated, { exitCode: 137, reason: 'Error' });
  // Killed once the 3 s are up: not before, and not anywhere near the polite pod's 60 s.
  t.true(stubbornMs >= 3_000 && stubbornMs < 30_000, `${stubbornMs} ms`);
  t.false(alive(pids[0].pid));
  t.false(alive(pids[1].pid));
});

test('a container above its memory limit is OOMKilled (exit 137) and restarted', async (t) => {
  const { agent, create, running } = await setup(t);
  await create(testPod(agent, 'hog', { container: { resources: { limits: { memory: '150Mi' } } } }));
  const pod = await running('hog');
  await podGet(pod, '/alloc?mb=120').catch(() => {}); // the process may die before it answers
  const killed = await running('hog', (p) => p.status?.containerStatuses?.[0]?.restartCount === 1);
  t.like(killed.status?.containerStatuses?.[0]?.lastState?.terminated, {
    exitCode: 137,
    reason: 'OOMKilled',
  });
});

test('an image missing from the image table waits in ErrImagePull / ImagePullBackOff', async (t) => {
  const { agent, create, running } = await setup(t);
  await create(testPod(agent, 'nowhere', { container: { image: 'docker.io/library/nginx:1.27' } }));
  const pod = await running('nowhere', (p) =>
    ['ErrImagePull', 'ImagePullBackOff'].includes(
      p.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? '',
    ),
  );
  t.is(pod.status?.phase, 'Pending');
  t.regex(pod.status?.containerStatuses?.[0]?.state?.waiting?.message ?? '', /images\.yaml|Back-off pulling/);
});

test('container logs and cAdvisor metrics come through the API server, as kubectl and Prometheus read them', async (t) => {
  const { agent, create, running, core, ns } = await setup(t);
  await create(
    testPod(agent, 'measured', { container: { resources: { limits: { memory: '300Mi', cpu: '500m' } } } }),
  );
  const pod = await running('measured');
  const logs = await core.readNamespacedPodLog({ name: 'measured', namespace: ns.name, container: 'app' });
  t.regex(logs, /listening on 127\.0\.\d+\.\d+:8080/);

  const scrape = async () => {
    const text: string = await core.connectGetNodeProxyWithPath({
      name: agent.nodeName,
      path: 'metrics/cadvisor',
    });
    const sample = (metric: string) => {
      const line = text
        .split('\n')
        .find(
          (l) =>
            l.startsWith(`${metric}{`) &&
            l.includes(`pod="measured"`) &&
            l.includes(`namespace="${ns.name}"`),
        );
      return line;
    };
    return {
      memory: sample('container_memory_working_set_bytes'),
      cpu: sample('container_cpu_usage_seconds_total'),
    };
  };
  const lastValue = (line: string | undefined) => Number(line?.split(' ').at(-1));
  // Straight to the kubelet port without the API server's client certificate: only /healthz answers.
  const direct = (path: string) =>
    new Promise<number>((resolve, reject) =>
      httpsGet(
        `https://${agent.nodeIP}:${agent.kubeletPort}${path}`,
        { rejectUnauthorized: false },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      ).on('error', reject),
    );
  t.is(await direct('/healthz'), 200);
  t.is(await direct('/metrics/cadvisor'), 401);
  const before = await scrape();
  t.truthy(before.memory, 'a working-set series for the pod');
  t.regex(before.memory ?? '', /container="app"/);
  t.regex(before.memory ?? '', /image="ghcr\.io\/selfheal\/agent-test-container:1"/);
  t.regex(before.memory ?? '', /name="[0-9a-f]{64}",/);
  t.regex(before.memory ?? '', new RegExp(`id="/kubepods/pod${pod.metadata?.uid}/[0-9a-f]{64}"`));
  await podGet(pod, '/alloc?mb=64');
  const spun = await podGet<{ cpuSeconds: number }>(pod, '/spin?ms=400');
  const after = await scrape();
  const grown = lastValue(after.memory) - lastValue(before.memory);
  t.true(grown > 50 * 1024 * 1024, `working set grew by ${grown} bytes after allocating 64 MiB`);
  const cpu = lastValue(after.cpu) - lastValue(before.cpu);
  // The process measured its own CPU time while spinning; /proc counts in 10 ms ticks, and the server did a bit more.
  t.true(
    cpu >= spun.cpuSeconds - 0.02 && cpu < spun.cpuSeconds + 1,
    `CPU counter grew by ${cpu} s; the process used ${spun.cpuSeconds} s spinning`,
  );
});

test('stop() kills every process and removes its pods and Node', async (t) => {
  const cluster = await testCluster();
  const agent = await startTestAgent(cluster);
  t.teardown(() => agent.stop());
  const ns = await useNamespace(t, 'agent-stop');
  const core = ns.kc.makeApiClient(CoreV1Api);
  await core.createNamespacedPod({ namespace: ns.name, body: testPod(agent, 'doomed') });
  const pod = await eventually('running', async () => {
    const p = await core.readNamespacedPod({ name: 'doomed', namespace: ns.name });
    return readyCondition(p) === 'True' ? p : undefined;
  });
  const { pid } = await podGet<{ pid: number }>(pod, '/info');
  await agent.stop();
  t.false(alive(pid), 'no process left behind');
  await t.throwsAsync(core.readNode({ name: agent.nodeName }), { message: /404/ });
  await eventually(
    'pod deleted',
    async () => !(await core.listNamespacedPod({ namespace: ns.name })).items.length,
  );
});
