// The local node agent: a Node that runs the pods scheduled to it as local processes, standing in for a kubelet.
// This file wires its parts together; each concern of the kubelet lives in a file of its own.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoordinationV1Api, CoreV1Api, type KubeConfig, type V1Taint } from '@kubernetes/client-node';
import { apiLookup, tokenRequester } from './api-lookups.ts';
import { BackOff, type BackOffOptions, KUBELET_BACKOFF } from './backoff.ts';
import { eventRecorder } from './events.ts';
import { IMAGES_FILE, type ImageInput, type ImageTable, imageTable, loadImageTable } from './images.ts';
import { PodAddressPool } from './ip-pool.ts';
import { startKubeletServer } from './kubelet-server.ts';
import { containerLog } from './logs.ts';
import { defaultCapacity, defaultNodeIP, NodeHeartbeat, type NodeSpecOptions, registerNode } from './node.ts';
import { startOomKiller } from './oom-killer.ts';
import { startPodSync } from './pod-sync.ts';
import type { PodWorkerDeps } from './pod-worker.ts';
import { NodePods } from './pods.ts';
import { containerSamples } from './sampling.ts';
import { Cleanups, onProcessExit } from './shutdown.ts';
import { type PemPair, selfSignedCert } from './tls.ts';

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
  const pods = new NodePods();
  const cleanups = new Cleanups(log);
  cleanups.push(async () => pool.close());
  if (ownRoot) cleanups.push(() => rm(rootDir, { recursive: true, force: true }));
  cleanups.push(onProcessExit(() => pods.killNow()));

  try {
    const hosts = [...new Set([nodeIP, '127.0.0.1', nodeName])];
    const files =
      typeof options.servingCert === 'function' ? await options.servingCert(hosts) : options.servingCert;
    const tls: PemPair = files
      ? { cert: await readFile(files.certPath, 'utf8'), key: await readFile(files.keyPath, 'utf8') }
      : await selfSignedCert(rootDir, nodeName, hosts);
    const clientCa = options.clientCaPath ? await readFile(options.clientCaPath, 'utf8') : undefined;

    const kubelet = await startKubeletServer({
      host: nodeIP,
      ...tls,
      ...(clientCa ? { clientCa } : {}),
      samples: () => containerSamples(pods),
      pods: () => pods.pods(),
      logs: (namespace, pod, container, previous) => containerLog(pods, namespace, pod, container, previous),
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

    const workerDeps: PodWorkerDeps = {
      core,
      nodeName,
      hostIP: nodeIP,
      allocatable: { cpu: spec.capacity.cpu, memory: spec.capacity.memory },
      podsDir,
      repoRoot: options.repoRoot ?? REPO_ROOT,
      pool,
      images,
      backOff: new BackOff(backOffOptions),
      retryDelayMs: (attempt: number) =>
        Math.min(backOffOptions.initialMs * 2 ** Math.max(0, attempt - 1), backOffOptions.maxMs),
      lookup: apiLookup(core),
      requestToken: tokenRequester(core),
      apiServer: new URL(server),
      event: eventRecorder(core, nodeName, () => {}),
      wrapper: existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--'] : [],
      log,
    };

    const podSync = await startPodSync({
      kc,
      core,
      nodeName,
      pods,
      workerDeps,
      resyncSeconds: options.resyncSeconds ?? 10,
      stopGraceSeconds: STOP_GRACE_SECONDS,
      log,
    });
    cleanups.push(() => podSync.stop());

    const stopOomKiller = startOomKiller(pods, options.memoryCheckMs ?? 1000);
    cleanups.push(stopOomKiller);

    let stopping: Promise<void> | undefined;
    return {
      nodeName,
      nodeIP,
      kubeletPort: kubelet.port,
      podNetwork: pool.network,
      podIP: (namespace, name) => pods.find(namespace, name)?.podIP,
      stop: ({ keepPods = false } = {}) => {
        stopping ??= (async () => {
          stopOomKiller();
          heartbeat.stop();
          await podSync.stop();
          const running = pods.pods();
          await Promise.all(pods.workers().map((w) => w.kill(STOP_GRACE_SECONDS)));
          pods.clear();
          if (!keepPods) {
            await heartbeat.deregister();
            await Promise.all(running.map(podSync.deletePod));
          }
          await cleanups.run();
        })();
        return stopping;
      },
    };
  } catch (err) {
    for (const w of pods.workers()) await w.kill(0);
    await cleanups.run();
    throw err;
  }
}
