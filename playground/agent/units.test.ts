// The node agent's pure rules: back-off, image table, environment and path translation, pod phase, /proc parsing.
import { spawn } from 'node:child_process';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import test from 'ava';
import { parseQuantity } from '../../devkit/quantity.ts';
import { BackOff } from './backoff.ts';
import { renderCadvisor } from './cadvisor.ts';
import { ConfigError, containerEnv, expand, translateArg, translatePath } from './container-env.ts';
import { imageRepository, imageTable, loadImageTable, resolveCommand } from './images.ts';
import { podPhase } from './pod-status.ts';
import { parseStat, readProcessTable, usageOf } from './proc.ts';
import { readyEndpoints, readyPodEndpoints } from './service-proxy.ts';

test('back-off: first restart at once, then 10 s doubling to the 5 min cap, reset after 10 min of running', (t) => {
  const b = new BackOff();
  let now = 0;
  const crash = (ranMs: number) => {
    now += ranMs;
    const finishedAt = now;
    const waits: number[] = [];
    for (let wait = b.delay('c', finishedAt, now); wait > 0; wait = b.delay('c', finishedAt, now)) {
      waits.push(wait);
      now += wait;
    }
    return now - finishedAt;
  };
  const waits = Array.from({ length: 8 }, () => crash(1_000));
  t.deepEqual(waits, [0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
  t.is(crash(11 * 60_000), 0, 'a container that ran more than 10 min restarts at once');
  t.is(crash(1_000), 10_000, 'and the back-off starts over');
});

test('image table: repository without tag or digest, pod command and args as Docker entrypoint and cmd', (t) => {
  t.is(imageRepository('ghcr.io/selfheal/sample-app:1.2.3'), 'ghcr.io/selfheal/sample-app');
  t.is(imageRepository('localhost:5000/app@sha256:abc'), 'localhost:5000/app');
  t.is(imageRepository('localhost:5000/app'), 'localhost:5000/app');
  const table = imageTable({ 'x/fn': { command: ['node', 'functions/run.ts'], args: ['router'] } });
  t.deepEqual(resolveCommand(table, { image: 'x/fn:v1' }), {
    file: process.execPath,
    args: ['functions/run.ts', 'router'],
    env: {},
  });
  t.deepEqual(resolveCommand(table, { image: 'x/fn', args: ['scale'] })?.args, ['functions/run.ts', 'scale']);
  t.deepEqual(resolveCommand(table, { image: 'x/fn', command: ['sleep'], args: ['1'] }), {
    file: 'sleep',
    args: ['1'],
    env: {},
  });
  t.is(resolveCommand(table, { image: 'nginx:1.27' }), undefined);
});

test('the shipped images.yaml maps the sample app and the four functions', (t) => {
  const table = loadImageTable();
  t.deepEqual(resolveCommand(table, { image: 'ghcr.io/selfheal/sample-app:latest' })?.args, [
    'app/src/main.ts',
  ]);
  for (const fn of ['router', 'restart-pod', 'redeploy', 'scale']) {
    t.deepEqual(resolveCommand(table, { image: `ghcr.io/selfheal/${fn}:0.1.0` })?.args, [
      'functions/lib/launch.ts',
      'functions/run.ts',
      fn,
    ]);
  }
});

test('a malformed image table is a clear error naming the file', (t) => {
  const err = t.throws(() => loadImageTable(new URL('./testdata/bad-images.yaml', import.meta.url)));
  t.regex(err?.message ?? '', /invalid image table .*bad-images\.yaml: images\.broken\.command/);
});

test('paths under a volume mount are rewritten to the host directory, others pass unchanged', (t) => {
  const mounts = [
    { mountPath: '/data', hostPath: '/tmp/pod/volumes/data' },
    { mountPath: '/data/cache/', hostPath: '/tmp/pod/volumes/cache' },
  ];
  t.is(translatePath('/data', mounts), '/tmp/pod/volumes/data');
  t.is(translatePath('/data/state/x.json', mounts), '/tmp/pod/volumes/data/state/x.json');
  t.is(translatePath('/data/cache/a', mounts), '/tmp/pod/volumes/cache/a', 'the longest mount path wins');
  t.is(translatePath('/database', mounts), '/database');
  t.is(translatePath('info', mounts), 'info');
  t.is(translateArg('--state-dir=/data/s', mounts), '--state-dir=/tmp/pod/volumes/data/s');
  t.is(expand('$(A)-$(B)-$$(A)', { A: 'x' }), 'x-$(B)-$(A)');
});

test('container env: fieldRef, resourceFieldRef, secret and ConfigMap keys, envFrom, order and $(VAR)', async (t) => {
  const pod: V1Pod = {
    metadata: { name: 'web-1', namespace: 'shop', uid: 'u-1', labels: { app: 'web' } },
    spec: { nodeName: 'n1', containers: [] },
  };
  const container: V1Container = {
    name: 'app',
    resources: { limits: { memory: '128Mi', cpu: '500m' } },
    envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'CFG_' }],
    env: [
      { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
      { name: 'HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
      { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
      { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
      { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'creds', key: 'token' } } },
      { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'level' } } },
      { name: 'URL', value: 'http://$(HOST):3000/$(POD)' },
      { name: 'STATE_DIR', value: '/state/app' },
    ],
  };
  const lookup = {
    secret: async (_ns: string, name: string) => (name === 'creds' ? { token: 's3cret' } : undefined),
    configMap: async (_ns: string, name: string) => (name === 'cfg' ? { level: 'debug' } : undefined),
  };
  const env = await containerEnv(container, {
    pod,
    podIP: '127.0.1.7',
    hostIP: '192.0.2.2',
    lookup,
    mounts: [{ mountPath: '/state', hostPath: '/tmp/p/volumes/state' }],
    base: { PATH: '/usr/bin' },
  });
  t.like(env, {
    PATH: '/usr/bin',
    CFG_level: 'debug',
    POD: 'web-1',
    NS: 'shop',
    UID: 'u-1',
    HOST: '127.0.1.7',
    NODE: 'n1',
    HOST_IP: '192.0.2.2',
    APP: 'web',
    MEM_MI: '128',
    TOKEN: 's3cret',
    LEVEL: 'debug',
    URL: 'http://127.0.1.7:3000/web-1',
    STATE_DIR: '/tmp/p/volumes/state/app',
  });
  const missing = {
    ...container,
    env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }],
  };
  const err = await t.throwsAsync(
    containerEnv(missing, { pod, podIP: '', hostIP: '', lookup, mounts: [], base: {} }),
  );
  t.true(err instanceof ConfigError);
  t.is(err?.message, 'secret "nope" not found');
});

test('container env: limits.memory and limits.cpu of a container without limits are what the node can allocate', async (t) => {
  const pod: V1Pod = { metadata: { name: 'fn', namespace: 'selfheal' }, spec: { containers: [] } };
  const resource = (name: string, resource: string, divisor?: string) => ({
    name,
    valueFrom: { resourceFieldRef: { resource, ...(divisor ? { divisor } : {}) } },
  });
  const env = [
    resource('MEMORY_LIMIT', 'limits.memory'),
    resource('CPU_LIMIT', 'limits.cpu'),
    resource('MEMORY_REQUEST', 'requests.memory'),
  ];
  const ctx = {
    pod,
    podIP: '',
    hostIP: '',
    lookup: { secret: async () => undefined, configMap: async () => undefined },
    mounts: [],
    base: {},
    allocatable: { cpu: '2', memory: '4Gi' },
  };
  t.like(await containerEnv({ name: 'fn', env }, ctx), {
    MEMORY_LIMIT: String(4 * 1024 ** 3),
    CPU_LIMIT: '2',
    MEMORY_REQUEST: '0',
  });
  const limited = { name: 'fn', env, resources: { limits: { memory: '256Mi', cpu: '500m' } } };
  t.like(await containerEnv(limited, ctx), { MEMORY_LIMIT: String(256 * 1024 ** 2), CPU_LIMIT: '1' });
});

test("container env: a volume at /tmp translates the pod's paths, never the agent's own host paths", async (t) => {
  const env = await containerEnv(
    {
      name: 'fn',
      env: [
        { name: 'LOCK', value: '/tmp/.lock' },
        { name: 'TOKEN_FILE', value: '/var/openfaas/secrets/token' },
      ],
    },
    {
      pod: { metadata: { name: 'fn-1', namespace: 'openfaas-fn' } },
      podIP: '127.0.1.8',
      hostIP: '192.0.2.2',
      lookup: { secret: async () => undefined, configMap: async () => undefined },
      mounts: [
        { mountPath: '/tmp', hostPath: '/tmp/node/pods/u/volumes/temp' },
        { mountPath: '/var/openfaas/secrets', hostPath: '/tmp/node/pods/u/volumes/secrets' },
      ],
      base: { KUBECONFIG: '/tmp/node/pods/u/kubeconfig', TMPDIR: '/tmp/node/pods/u/volumes/temp' },
    },
  );
  t.deepEqual(env, {
    KUBECONFIG: '/tmp/node/pods/u/kubeconfig',
    TMPDIR: '/tmp/node/pods/u/volumes/temp',
    LOCK: '/tmp/node/pods/u/volumes/temp/.lock',
    TOKEN_FILE: '/tmp/node/pods/u/volumes/secrets/token',
  });
});

test('quantities', (t) => {
  t.is(parseQuantity('250m'), 0.25);
  t.is(parseQuantity('128Mi'), 128 * 1024 * 1024);
  t.is(parseQuantity('1G'), 1e9);
  t.is(parseQuantity('2'), 2);
  t.is(parseQuantity('lots'), undefined);
});

test('pod phase follows the kubelet: Pending until started, Running while restarting, terminal by exit codes', (t) => {
  const pod = (restartPolicy: string): V1Pod => ({ spec: { restartPolicy, containers: [] } });
  const waiting = {
    name: 'a',
    image: '',
    imageID: '',
    ready: false,
    restartCount: 0,
    state: { waiting: {} },
  };
  const running = { ...waiting, state: { running: {} } };
  const failed = { ...waiting, state: { terminated: { exitCode: 1 } } };
  const ok = { ...waiting, state: { terminated: { exitCode: 0 } } };
  const backingOff = { ...waiting, lastState: { terminated: { exitCode: 1 } } };
  t.is(podPhase(pod('Always'), [waiting], false), 'Pending');
  t.is(podPhase(pod('Always'), [running], false), 'Running');
  t.is(podPhase(pod('Always'), [backingOff], false), 'Running');
  t.is(podPhase(pod('Never'), [failed], false), 'Failed');
  t.is(podPhase(pod('Never'), [ok], false), 'Succeeded');
  t.is(podPhase(pod('OnFailure'), [failed], false), 'Running');
  t.is(podPhase(pod('Always'), [ok], true), 'Succeeded');
  t.is(podPhase(pod('Always'), [ok, failed], true), 'Failed');
});

test('/proc: stat parsing copes with odd command names; a process tree sums its children', async (t) => {
  const line =
    '42 (a) b (c)) S 7 42 42 0 -1 4194560 100 0 0 0 250 50 10 5 20 0 1 0 100 1000 300 18446744073709551615';
  t.like(parseStat(42, line), { pid: 42, ppid: 7, session: 42, cpuTicks: 315 });
  // A shell that starts a child: both count for the container the shell leads.
  const shell = spawn('sh', ['-c', 'sleep 30 & wait'], { detached: true, stdio: 'ignore' });
  t.teardown(() => {
    try {
      process.kill(-(shell.pid ?? 0), 'SIGKILL');
    } catch {}
  });
  await new Promise((r) => setTimeout(r, 200));
  const usage = usageOf(readProcessTable(), shell.pid ?? 0);
  t.is(usage.pids.length, 2);
  t.true(usage.rssBytes > 0);
});

test('cAdvisor rendering: names, labels and values as the kubelet serves them', (t) => {
  const text = renderCadvisor([
    {
      namespace: 'shop',
      pod: 'web-1',
      podUid: 'u1',
      container: 'app',
      image: 'ghcr.io/selfheal/sample-app:1',
      containerId: 'abc',
      usage: { rssBytes: 1234, cpuSeconds: 1.5, pids: [1] },
      limits: { memory: '256Mi', cpu: '500m' },
    },
  ]);
  const labels =
    'container="app",id="/kubepods/podu1/abc",image="ghcr.io/selfheal/sample-app:1",name="abc",namespace="shop",pod="web-1"';
  t.true(text.includes('# TYPE container_cpu_usage_seconds_total counter\n'));
  t.true(
    text.includes(
      'container_cpu_usage_seconds_total{container="app",cpu="total",id="/kubepods/podu1/abc",image="ghcr.io/selfheal/sample-app:1",name="abc",namespace="shop",pod="web-1"} 1.5\n',
    ),
  );
  t.true(text.includes(`container_memory_working_set_bytes{${labels}} 1234\n`));
  t.true(text.includes(`container_spec_memory_limit_bytes{${labels}} ${256 * 1024 * 1024}\n`));
  t.true(text.includes(`container_spec_cpu_quota{${labels}} 50000\n`));
});

test('service endpoints: ready, addressed, not terminating pods of the selector; named target ports resolved', (t) => {
  const pod = (name: string, ip: string, ready: string, extra: Partial<V1Pod['metadata']> = {}): V1Pod => ({
    metadata: { name, labels: { app: 'web', tier: 'x' }, ...extra },
    spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 3000 }] }] },
    status: { podIP: ip, conditions: [{ type: 'Ready', status: ready }] },
  });
  const service = { spec: { selector: { app: 'web' } } };
  const pods = [
    pod('a', '127.0.1.2', 'True'),
    pod('b', '127.0.1.1', 'True'),
    pod('c', '127.0.1.3', 'False'),
    pod('d', '127.0.1.4', 'True', { deletionTimestamp: new Date() }),
    pod('e', '127.0.1.5', 'True', { labels: { app: 'other' } }),
  ];
  t.deepEqual(readyPodEndpoints(service, { port: 80, targetPort: 'http' }, pods), [
    '127.0.1.1:3000',
    '127.0.1.2:3000',
  ]);
  t.deepEqual(readyPodEndpoints(service, { port: 80, targetPort: 8080 }, pods.slice(0, 1)), [
    '127.0.1.2:8080',
  ]);
  t.deepEqual(readyPodEndpoints(service, { port: 80, targetPort: 'nope' }, pods), []);
  const slices = [
    {
      endpoints: [
        { addresses: ['10.1.0.1'], conditions: { ready: true } },
        { addresses: ['10.1.0.2'] },
        { addresses: ['10.1.0.3'], conditions: { ready: false } },
      ],
      ports: [{ name: 'web', port: 8080 }],
      addressType: 'IPv4',
    },
  ];
  t.deepEqual(
    readyEndpoints(slices, 'web'),
    ['10.1.0.1:8080', '10.1.0.2:8080'],
    'a nil ready condition is ready',
  );
});
