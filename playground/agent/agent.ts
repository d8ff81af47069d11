// The local node agent: a Node that runs the pods scheduled to it as local processes, standing in for a kubelet.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  ListWatch,
  type V1Pod,
  type V1Taint,
  Watch,
} from '@kubernetes/client-node';
import { BackOff, type BackOffOptions, KUBELET_BACKOFF } from './backoff.ts';
import type { ContainerSample } from './cadvisor.ts';
import { killGroup } from './container.ts';
import type { Lookup } from './container-env.ts';
import { parseQuantity } from './container-env.ts';
import { eventRecorder } from './events.ts';
import { IMAGES_FILE, type ImageInput, type ImageTable, imageTable, loadImageTable } from './images.ts';
import { PodAddressPool } from './ip-pool.ts';
import { type LogSource, startKubeletServer } from './kubelet-server.ts';
import { defaultCapacity, defaultNodeIP, NodeHeartbeat, type NodeSpecOptions, registerNode } from './node.ts';
import { PodWorker } from './pod-worker.ts';
import { readProcessTable, usageOf } from './proc.ts';
import { type PemPair, selfSignedCert } from './tls.ts';
import type { TokenRequester } from './volumes.ts';

export type NodeAgentOptions = {
  kubeConfig: KubeConfig;
  /** Default `local-node`. */
  nodeName?: string;
  labels?: Record<string, string>;
  /** E.g. a NoSchedule taint so that only pods tolerating it land here. */
  taints?: V1Taint[];
  /** Default: this machine's CPUs and memory, 110 pods. */
  capacity?: Partial<NodeSpecOptions['capacity']>;
  /** Image mappings added over playground/images.yaml (or over `imagesFile`). */
  images?: Record<string, ImageInput>;
  imagesFile?: string | URL;
  /** Restart back-off; the kubelet's 10 s doubling to 5 min by default. Also paces image pull retries. */
  backOff?: Partial<BackOffOptions>;
  /**
   * The node's InternalIP, where the kubelet endpoint listens; default: this machine's default-route address (the API
   * server's node proxy refuses loopback addresses), else 127.0.0.1. Pods get loopback addresses either way.
   */
  nodeIP?: string;
  /**
   * The kubelet serving certificate (PEM files), or a function issuing one for the given hosts, e.g.
   * `(hosts) => controlPlane.issueServingCert(hosts)`; default self-signed.
   */
  servingCert?: CertFiles | ((hosts: string[]) => Promise<CertFiles>);
  /** CA of the API server's kubelet client certificate: required on everything but /healthz when given. */
  clientCaPath?: string;
  /** Where pod folders (volumes, logs) live; default a fresh temp folder, removed by stop(). */
  rootDir?: string;
  /** Where container commands run; default the repository root. */
  repoRoot?: string;
  /** Lease duration and renewal (kubelet: 40 s, every 10 s); status report interval (default 60 s). */
  leaseDurationSeconds?: number;
  leaseRenewSeconds?: number;
  statusReportSeconds?: number;
  /** Every pod is reconciled again at this interval besides on every change; default 10 s. */
  resyncSeconds?: number;
  /** How often memory limits are checked; default 1000 ms. */
  memoryCheckMs?: number;
  log?: (message: string) => void;
};

type CertFiles = { certPath: string; keyPath: string };

export type NodeAgent = {
  nodeName: string;
  nodeIP: string;
  kubeletPort: number;
  /** The loopback /24 pod addresses come from. */
  podNetwork: string;
  /** The pod's address on this node, once it has one. */
  podIP(namespace: string, name: string): string | undefined;
  /**
   * Kills every process (SIGTERM, then SIGKILL), then deletes this node's pods, Lease and Node so that the cluster
   * forgets it; with `keepPods` the API objects stay, as when a real node goes down.
   */
  stop(options?: { keepPods?: boolean }): Promise<void>;
};

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const STOP_GRACE_SECONDS = 2;

function decode(data: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  return out;
}

async function orUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
}

export async function startNodeAgent(options: NodeAgentOptions): Promise<NodeAgent> {
  const kc = options.kubeConfig;
  const nodeName = options.nodeName ?? 'local-node';
  const nodeIP = options.nodeIP ?? defaultNodeIP();
  const log = options.log ?? ((m: string) => process.stderr.write(`[node-agent ${nodeName}] ${m}\n`));
  if (nodeIP.startsWith('127.')) {
    log(
      `node address ${nodeIP} is a loopback one: the API server will not proxy to it (node metrics, kubectl logs)`,
    );
  }
  const core = kc.makeApiClient(CoreV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error('the kubeconfig names no cluster server');
  const backOffOptions = { ...KUBELET_BACKOFF, ...options.backOff };
  const extraImages = imageTable(options.images ?? {});
  const imagesFile = options.imagesFile ?? IMAGES_FILE;
  // Read on every container start, so an edited images.yaml takes effect without a restart.
  const images = (): ImageTable => ({ ...loadImageTable(imagesFile), ...extraImages });
  images();

  const ownRoot = !options.rootDir;
  const rootDir = options.rootDir ?? (await mkdtemp(join(tmpdir(), `selfheal-node-${nodeName}-`)));
  const podsDir = join(rootDir, 'pods');
  await mkdir(podsDir, { recursive: true });
  const pool = PodAddressPool.claim();
  const workers = new Map<string, PodWorker>();
  const cleanups: (() => Promise<void> | void)[] = [async () => pool.close()];
  if (ownRoot) cleanups.push(() => rm(rootDir, { recursive: true, force: true }));

  // Processes must not outlive the agent's process, even when it exits without stop().
  const killAllNow = () => {
    for (const w of workers.values())
      for (const c of w.containers) if (c.running) killGroup(c.running.pid, 'SIGKILL');
  };
  process.on('exit', killAllNow);
  cleanups.push(() => {
    process.off('exit', killAllNow);
  });

  const runCleanups = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch((err) => log(`stopping: ${err}`));
  };

  try {
    const hosts = [...new Set([nodeIP, '127.0.0.1', nodeName])];
    const files =
      typeof options.servingCert === 'function' ? await options.servingCert(hosts) : options.servingCert;
    const tls: PemPair = files
      ? { cert: await readFile(files.certPath, 'utf8'), key: await readFile(files.keyPath, 'utf8') }
      : await selfSignedCert(rootDir, nodeName, hosts);
    const clientCa = options.clientCaPath ? await readFile(options.clientCaPath, 'utf8') : undefined;

    const samples = (): ContainerSample[] => {
      const table = readProcessTable();
      const out: ContainerSample[] = [];
      for (const w of workers.values()) {
        for (const c of w.containers) {
          const running = c.running;
          if (!running) continue;
          const spec = w.pod.spec?.containers.find((s) => s.name === c.name);
          out.push({
            namespace: w.pod.metadata?.namespace ?? '',
            pod: w.pod.metadata?.name ?? '',
            podUid: w.uid,
            container: c.name,
            image: spec?.image ?? '',
            containerId: running.containerId,
            usage: usageOf(table, running.pid),
            limits: spec?.resources?.limits,
          });
        }
      }
      return out;
    };
    const findWorker = (namespace: string, name: string) =>
      [...workers.values()].find(
        (w) => w.pod.metadata?.namespace === namespace && w.pod.metadata?.name === name && !w.deleting,
      ) ??
      [...workers.values()].find(
        (w) => w.pod.metadata?.namespace === namespace && w.pod.metadata?.name === name,
      );

    const kubelet = await startKubeletServer({
      host: nodeIP,
      ...tls,
      ...(clientCa ? { clientCa } : {}),
      samples,
      pods: () => [...workers.values()].map((w) => w.pod),
      logs: (namespace, pod, container, previous): LogSource | undefined => {
        const c = findWorker(namespace, pod)?.containers.find((x) => x.name === container);
        if (!c) return undefined;
        const path = c.logPath(previous);
        if (!path) return undefined;
        return { path, live: () => !previous && c.running !== undefined && c.logPath() === path };
      },
    });
    cleanups.push(() => kubelet.close());

    const spec: NodeSpecOptions = {
      nodeName,
      nodeIP,
      kubeletPort: kubelet.port,
      labels: options.labels ?? {},
      taints: options.taints ?? [],
      capacity: { ...defaultCapacity(), ...options.capacity },
    };
    const node = await registerNode(core, spec);
    const heartbeat = new NodeHeartbeat(
      core,
      coordination,
      node,
      spec,
      {
        leaseSeconds: options.leaseDurationSeconds ?? 40,
        renewSeconds: options.leaseRenewSeconds ?? 10,
        statusSeconds: options.statusReportSeconds ?? 60,
      },
      (err) => log(`heartbeat: ${(err as Error).message ?? err}`),
    );
    cleanups.push(() => heartbeat.stop());
    await heartbeat.renewLease();

    const lookup: Lookup = {
      secret: async (namespace, name) => {
        const secret = await orUndefined(() => core.readNamespacedSecret({ namespace, name }));
        return secret ? decode(secret.data) : undefined;
      },
      configMap: async (namespace, name) => {
        const cm = await orUndefined(() => core.readNamespacedConfigMap({ namespace, name }));
        return cm ? { ...decode(cm.binaryData), ...cm.data } : undefined;
      },
    };
    const requestToken: TokenRequester = async (pod, { audience, expirationSeconds }) => {
      const response = await core.createNamespacedServiceAccountToken({
        name: pod.spec?.serviceAccountName || 'default',
        namespace: pod.metadata?.namespace ?? 'default',
        body: {
          spec: {
            audiences: audience ? [audience] : [],
            ...(expirationSeconds ? { expirationSeconds } : {}),
            boundObjectRef: {
              apiVersion: 'v1',
              kind: 'Pod',
              name: pod.metadata?.name,
              uid: pod.metadata?.uid,
            },
          },
        },
      });
      return response.status?.token ?? '';
    };

    const backOff = new BackOff(backOffOptions);
    const event = eventRecorder(core, nodeName, () => {});
    const wrapper = existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--'] : [];
    const workerDeps = {
      core,
      nodeName,
      hostIP: nodeIP,
      allocatable: { cpu: spec.capacity.cpu, memory: spec.capacity.memory },
      podsDir,
      repoRoot: options.repoRoot ?? REPO_ROOT,
      pool,
      images,
      backOff,
      retryDelayMs: (attempt: number) =>
        Math.min(backOffOptions.initialMs * 2 ** Math.max(0, attempt - 1), backOffOptions.maxMs),
      lookup,
      requestToken,
      apiServer: new URL(server),
      event,
      wrapper,
      log,
    };

    let stopped = false;
    const finishDeletion = (w: PodWorker) =>
      w.delete().finally(() => {
        if (workers.get(w.uid) === w) workers.delete(w.uid);
      });
    const deleteFinishedPod = (pod: V1Pod) =>
      core
        .deleteNamespacedPod({
          name: pod.metadata?.name ?? '',
          namespace: pod.metadata?.namespace ?? '',
          body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata?.uid } },
        })
        .catch(() => {});

    const sync = (pod: V1Pod) => {
      if (stopped) return;
      const uid = pod.metadata?.uid ?? '';
      const worker = workers.get(uid);
      if (worker) {
        worker.update(pod);
        if (pod.metadata?.deletionTimestamp) void finishDeletion(worker);
        return;
      }
      const phase = pod.status?.phase;
      if (phase === 'Succeeded' || phase === 'Failed' || pod.metadata?.deletionTimestamp) {
        // Nothing runs for it here: a finished pod, or one deleted while no agent was watching.
        if (pod.metadata?.deletionTimestamp) void deleteFinishedPod(pod);
        return;
      }
      workers.set(uid, new PodWorker(pod, workerDeps));
    };
    const forget = (pod: V1Pod) => {
      const w = workers.get(pod.metadata?.uid ?? '');
      if (!w || w.deleting) return;
      // Gone from the API without a graceful deletion (a forced delete): stop its processes now.
      void w.kill(STOP_GRACE_SECONDS).finally(() => workers.delete(w.uid));
    };

    const fieldSelector = `spec.nodeName=${nodeName}`;
    const informer = new ListWatch<V1Pod>(
      '/api/v1/pods',
      new Watch(kc),
      () => core.listPodForAllNamespaces({ fieldSelector }),
      false,
      undefined,
      fieldSelector,
    );
    informer.on('add', sync);
    informer.on('update', sync);
    informer.on('delete', forget);
    informer.on('error', (err) => {
      if (stopped) return;
      log(`pod watch: ${(err as Error)?.message ?? err}; reconnecting`);
      setTimeout(() => {
        if (!stopped) void informer.start();
      }, 1_000);
    });
    await informer.start();
    cleanups.push(() => informer.stop());

    const resync = setInterval(
      () => {
        const current = new Set<string>();
        for (const pod of informer.list()) {
          current.add(pod.metadata?.uid ?? '');
          sync(pod);
        }
        for (const w of workers.values()) if (!current.has(w.uid)) forget(w.pod);
      },
      (options.resyncSeconds ?? 10) * 1000,
    );
    cleanups.push(() => clearInterval(resync));

    // The kernel's OOM killer: a container whose processes hold more than its memory limit dies with SIGKILL.
    const memoryCheck = setInterval(() => {
      const limited = [...workers.values()].flatMap((w) =>
        w.containers
          .filter((c) => c.running)
          .map((c) => ({
            c,
            limit: parseQuantity(
              w.pod.spec?.containers.find((s) => s.name === c.name)?.resources?.limits?.memory,
            ),
          }))
          .filter((x) => x.limit !== undefined),
      );
      if (limited.length === 0) return;
      const table = readProcessTable();
      for (const { c, limit } of limited) {
        if (c.running && usageOf(table, c.running.pid).rssBytes > (limit ?? Infinity)) c.oomKill();
      }
    }, options.memoryCheckMs ?? 1000);
    cleanups.push(() => clearInterval(memoryCheck));

    let stopping: Promise<void> | undefined;
    return {
      nodeName,
      nodeIP,
      kubeletPort: kubelet.port,
      podNetwork: pool.network,
      podIP: (namespace, name) => findWorker(namespace, name)?.podIP,
      stop: ({ keepPods = false } = {}) => {
        stopping ??= (async () => {
          stopped = true;
          clearInterval(resync);
          clearInterval(memoryCheck);
          heartbeat.stop();
          await informer.stop();
          const pods = [...workers.values()].map((w) => w.pod);
          await Promise.all([...workers.values()].map((w) => w.kill(STOP_GRACE_SECONDS)));
          workers.clear();
          if (!keepPods) {
            await heartbeat.deregister();
            await Promise.all(pods.map(deleteFinishedPod));
          }
          await runCleanups();
        })();
        return stopping;
      },
    };
  } catch (err) {
    for (const w of workers.values()) await w.kill(0);
    await runCleanups();
    throw err;
  }
}
