// A node whose pods run as local processes, each in a pod sandbox (its own network namespace and pod address): the
// kubelet's part for components that listen on fixed ports of every address, as Knative's do. It runs the pods the
// scheduler binds to it (image → built binary), with the container's environment and its ServiceAccount's
// credentials, reports them Running and Ready by their readiness probes, restarts them, and releases them on delete.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  ListWatch,
  PatchStrategy,
  setHeaderOptions,
  type V1Container,
  type V1ContainerStatus,
  type V1Pod,
  type V1Probe,
  Watch,
} from '@kubernetes/client-node';
import type { ControlPlane } from '../../devkit/control-plane.ts';
import { containerEnv, type Lookup } from '../agent/container-env.ts';
import { defaultCapacity, NodeHeartbeat, type NodeSpecOptions, registerNode } from '../agent/node.ts';
import { runProbe } from '../agent/probe.ts';
import { type Sandbox, startSandbox } from './pod-sandbox.ts';

export const PROCESS_NODE_TAINT = 'selfheal.dev/process-node';

export type ProcessNodeOptions = {
  cluster: ControlPlane;
  nodeName: string;
  /** Folder for pod sandboxes (keep it short: unix socket paths). */
  dir: string;
  /** Container image → the binary that plays it. */
  images: Record<string, string>;
  /** Host loopback ports every pod reaches at the same port (the API server, the HTTP proxy). */
  outbound: number[];
  /** Added to every container's environment (before the container's own). */
  env: Record<string, string>;
  /** Pod addresses: `${podPrefix}<n>` (default 10.244.0.). */
  podPrefix?: string;
  log?: (line: string) => void;
};

export type ProcessNode = {
  nodeName: string;
  /** Placement that puts a pod on this node (and keeps other pods off it). */
  placement: {
    nodeSelector: Record<string, string>;
    tolerations: { key: string; operator: string; effect: string }[];
  };
  /** Where a pod address's port is reached from this host. */
  reach(podIP: string, port: number): { host: string; port: number } | undefined;
  /** `namespace/name` of every pod this node runs. */
  podNames(): string[];
  /** The sandbox process of a pod (its log), once started. */
  sandboxOf(namespace: string, name: string): Sandbox | undefined;
  stop(): Promise<void>;
};

type PodState = {
  pod: V1Pod;
  podIP: string;
  sandbox?: Sandbox;
  startedAt?: string;
  restarts: number;
  ready: boolean;
  stopping: boolean;
  timer?: NodeJS.Timeout;
};

const strategicMerge = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
const key = (pod: V1Pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`;

/** The container ports and probe ports of a container, as numbers. */
export function containerPortNumbers(container: V1Container): number[] {
  const named = (port: unknown) =>
    typeof port === 'number'
      ? port
      : /^\d+$/.test(String(port))
        ? Number(port)
        : container.ports?.find((p) => p.name === port)?.containerPort;
  const ports = new Set<number>();
  for (const p of container.ports ?? []) ports.add(p.containerPort);
  for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe]) {
    const port = named(probe?.httpGet?.port ?? probe?.tcpSocket?.port);
    if (port !== undefined) ports.add(port);
  }
  return [...ports].sort((a, b) => a - b);
}

/** The same probe aimed at a host port standing for the container's port. */
export function probeThrough(
  probe: V1Probe,
  container: V1Container,
  hostPort: (port: number) => number | undefined,
): V1Probe | undefined {
  const target = probe.httpGet?.port ?? probe.tcpSocket?.port;
  const number =
    typeof target === 'number'
      ? target
      : /^\d+$/.test(String(target))
        ? Number(target)
        : container.ports?.find((p) => p.name === target)?.containerPort;
  const port = number === undefined ? undefined : hostPort(number);
  if (port === undefined) return undefined;
  if (probe.httpGet) return { ...probe, httpGet: { ...probe.httpGet, host: '127.0.0.1', port } };
  if (probe.tcpSocket) return { ...probe, tcpSocket: { ...probe.tcpSocket, host: '127.0.0.1', port } };
  return undefined;
}

export async function startProcessNode(options: ProcessNodeOptions): Promise<ProcessNode> {
  const { cluster, nodeName } = options;
  const log = options.log ?? (() => {});
  const kc = cluster.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const taint = { key: PROCESS_NODE_TAINT, value: nodeName, effect: 'NoSchedule' };
  const spec: NodeSpecOptions = {
    nodeName,
    nodeIP: '127.0.0.1',
    kubeletPort: 10250,
    labels: { [PROCESS_NODE_TAINT]: nodeName },
    taints: [taint],
    capacity: defaultCapacity(),
  };
  const node = await registerNode(core, spec);
  const heartbeat = new NodeHeartbeat(
    core,
    kc.makeApiClient(CoordinationV1Api),
    node,
    spec,
    { leaseSeconds: 40, renewSeconds: 10, statusSeconds: 60 },
    (err) => log(`heartbeat: ${(err as Error).message}`),
  );
  await heartbeat.renewLease();

  const lookup: Lookup = {
    secret: async (namespace, name) => {
      try {
        const s = await core.readNamespacedSecret({ namespace, name });
        return Object.fromEntries(
          Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
        );
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined;
        throw err;
      }
    },
    configMap: async (namespace, name) => {
      try {
        return (await core.readNamespacedConfigMap({ namespace, name })).data ?? {};
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined;
        throw err;
      }
    },
  };

  const pods = new Map<string, PodState>();
  const byAddress = new Map<string, Sandbox>();
  const prefix = options.podPrefix ?? '10.244.0.';
  let nextAddress = 2;
  let stopped = false;

  const patchStatus = async (state: PodState, container: V1Container, exit?: { code: number }) => {
    const now = new Date().toISOString();
    const running = state.sandbox?.process.running === true;
    const condition = (type: string, status: boolean) => ({
      type,
      status: status ? 'True' : 'False',
      lastTransitionTime: now,
    });
    const containerStatus: V1ContainerStatus = {
      name: container.name,
      image: container.image ?? '',
      imageID: `local://${container.image}`,
      containerID: `local://${state.sandbox?.process.pid ?? 0}`,
      ready: state.ready,
      started: running,
      restartCount: state.restarts,
      state: running
        ? { running: { startedAt: new Date(state.startedAt ?? now) } }
        : { waiting: { reason: 'CrashLoopBackOff' } },
      ...(exit ? { lastState: { terminated: { exitCode: exit.code, finishedAt: new Date(now) } } } : {}),
    };
    await core.patchNamespacedPodStatus(
      {
        namespace: state.pod.metadata?.namespace as string,
        name: state.pod.metadata?.name as string,
        body: {
          status: {
            phase: 'Running',
            hostIP: '127.0.0.1',
            podIP: state.podIP,
            podIPs: [{ ip: state.podIP }],
            startTime: new Date(state.startedAt ?? now),
            conditions: [
              condition('Initialized', true),
              condition('PodScheduled', true),
              condition('ContainersReady', state.ready),
              condition('Ready', state.ready),
            ],
            containerStatuses: [containerStatus],
          },
        },
      },
      strategicMerge,
    );
  };

  const watchReadiness = (state: PodState, container: V1Container) => {
    const sandbox = state.sandbox;
    if (!sandbox) return;
    const probe = container.readinessProbe
      ? probeThrough(container.readinessProbe, container, (p) => sandbox.hostPort(p))
      : undefined;
    const period = Math.max(1, container.readinessProbe?.periodSeconds ?? 2) * 1000;
    const tick = async () => {
      if (state.stopping || stopped || state.sandbox !== sandbox || !sandbox.process.running) return;
      const ok = probe ? (await runProbe(probe, { podIP: '127.0.0.1', ports: [] })).ok : true;
      if (ok !== state.ready) {
        state.ready = ok;
        await patchStatus(state, container).catch((err) =>
          log(`${key(state.pod)}: ${(err as Error).message}`),
        );
      }
      state.timer = setTimeout(() => void tick(), period);
    };
    state.timer = setTimeout(() => void tick(), 200);
  };

  const run = async (state: PodState) => {
    const pod = state.pod;
    const container = pod.spec?.containers[0] as V1Container;
    const binary = options.images[container.image ?? ''];
    if (!binary) {
      log(`${key(pod)}: no binary plays image ${container.image}`);
      return;
    }
    const namespace = pod.metadata?.namespace as string;
    const serviceAccount = pod.spec?.serviceAccountName ?? 'default';
    const token = await cluster.mintToken(namespace, serviceAccount, { expirationSeconds: 86_400 });
    const podDir = join(options.dir, state.podIP.split('.').pop() as string);
    const kubeconfig = join(options.dir, `${state.podIP}.kubeconfig`);
    await writeFile(kubeconfig, cluster.kubeconfigTextForToken(token, namespace));
    const base = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      HOSTNAME: pod.metadata?.name ?? '',
      KUBECONFIG: kubeconfig,
      ...options.env,
    };
    const env = await containerEnv(container, {
      pod,
      podIP: state.podIP,
      hostIP: '127.0.0.1',
      lookup,
      mounts: [],
      base,
    });
    const sandbox = await startSandbox(cluster, {
      name: `${pod.metadata?.name}-${state.restarts}`,
      dir: podDir,
      podIP: state.podIP,
      outbound: options.outbound,
      inbound: containerPortNumbers(container),
      command: binary,
      args: container.args ?? [],
      env,
    });
    state.sandbox = sandbox;
    state.startedAt = new Date().toISOString();
    byAddress.set(state.podIP, sandbox);
    state.ready = false;
    await patchStatus(state, container);
    watchReadiness(state, container);
    void sandbox.process.exited.then(async ({ code, signal }) => {
      if (state.stopping || stopped) return;
      const exitCode = code ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
      log(`${key(pod)} exited (${exitCode}); restarting:\n${sandbox.process.logTail(15)}`);
      state.ready = false;
      state.restarts += 1;
      await sandbox.stop();
      await patchStatus(state, container, { code: exitCode }).catch(() => {});
      const delay = Math.min(10_000, 1_000 * 2 ** Math.min(state.restarts - 1, 4));
      setTimeout(() => {
        if (!state.stopping && !stopped) void run(state).catch((err) => log(`${key(pod)}: ${err}`));
      }, delay);
    });
  };

  const release = async (state: PodState) => {
    state.stopping = true;
    clearTimeout(state.timer);
    await state.sandbox?.stop();
    byAddress.delete(state.podIP);
  };

  const informer = new ListWatch<V1Pod>(
    '/api/v1/pods',
    new Watch(kc),
    () => core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${nodeName}` }),
    false,
    undefined,
    `spec.nodeName=${nodeName}`,
  );
  const onPod = (pod: V1Pod) => {
    const k = key(pod);
    const known = pods.get(k);
    if (pod.metadata?.deletionTimestamp) {
      if (known && !known.stopping) {
        void release(known).then(() =>
          core
            .deleteNamespacedPod({
              namespace: pod.metadata?.namespace as string,
              name: pod.metadata?.name as string,
              gracePeriodSeconds: 0,
            })
            .catch(() => {}),
        );
      }
      return;
    }
    if (known || stopped) return;
    const state: PodState = {
      pod,
      podIP: `${prefix}${nextAddress++}`,
      restarts: 0,
      ready: false,
      stopping: false,
    };
    pods.set(k, state);
    void run(state).catch((err) => log(`${k}: cannot start: ${(err as Error).message}`));
  };
  informer.on('add', onPod);
  informer.on('update', onPod);
  informer.on('error', () => {
    setTimeout(() => {
      if (!stopped) void informer.start();
    }, 1_000);
  });
  await informer.start();

  return {
    nodeName,
    placement: {
      nodeSelector: { 'kubernetes.io/hostname': nodeName },
      tolerations: [{ key: PROCESS_NODE_TAINT, operator: 'Exists', effect: 'NoSchedule' }],
    },
    reach(podIP, port) {
      const hostPort = byAddress.get(podIP)?.hostPort(port);
      return hostPort === undefined ? undefined : { host: '127.0.0.1', port: hostPort };
    },
    podNames: () => [...pods.keys()],
    sandboxOf(namespace, name) {
      return pods.get(`${namespace}/${name}`)?.sandbox;
    },
    async stop() {
      stopped = true;
      heartbeat.stop();
      await informer.stop();
      await Promise.all([...pods.values()].map(release));
      await core.deleteNode({ name: nodeName }).catch(() => {});
    },
  };
}

/** A short random suffix for node names and folders. */
export const shortId = () => randomBytes(3).toString('hex');
