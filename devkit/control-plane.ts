// A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) on loopback.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { CONTROL_PLANE_BINARIES, resolveBinaries } from './binaries.ts';
import { type CertAndKey, createClusterCerts, issueClientCert, issueServingCert } from './certs.ts';
import { renderKubeconfig } from './kubeconfig.ts';
import { freePorts } from './ports.ts';
import { describeExit, type ManagedProcess, ProcessGroup, type StartProcessOptions } from './processes.ts';

export { freePorts };

export type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler';
export type ControlPlaneBinaries = Record<(typeof CONTROL_PLANE_BINARIES)[number], string>;

/**
 * The controllers kube-controller-manager runs: what Deployments, StatefulSets, DaemonSets, namespaces, service
 * accounts, nodes, Services and RBAC's aggregated roles (admin, edit, view) need to behave as in a real cluster;
 * nothing for storage or clouds.
 */
export const CONTROLLERS = [
  'deployment-controller',
  'replicaset-controller',
  'statefulset-controller',
  'daemonset-controller',
  'garbage-collector-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'root-ca-certificate-publisher-controller',
  'namespace-controller',
  'node-lifecycle-controller',
  'taint-eviction-controller',
  'pod-garbage-collector-controller',
  'endpointslice-controller',
  'endpoints-controller',
  'service-cidr-controller',
  'disruption-controller',
  'clusterrole-aggregation-controller',
] as const;

export interface ControlPlaneOptions {
  /** Paths that replace the resolved binaries (see binaries.ts). */
  binaries?: Partial<ControlPlaneBinaries>;
  /** Default `10.0.0.0/24`; the `kubernetes` Service gets its first address. */
  serviceClusterIPRange?: string;
  /** Default `Node,RBAC`. */
  authorizationMode?: string;
  /** Extra flags per component, appended last (so they win). */
  extraArgs?: Partial<Record<Component, readonly string[]>>;
  /** How long start-up may take before it fails; default 120 s. */
  readyTimeoutMs?: number;
  /** Receives one short line per start-up step. */
  onProgress?: (message: string) => void;
  /** Aborting it abandons start-up: everything started so far is stopped and removed, and the promise rejects. */
  signal?: AbortSignal;
}

export interface TokenOptions {
  /** Default: the API server's own audience. */
  audiences?: string[];
  /** Default 3600; the API server's minimum is 600. */
  expirationSeconds?: number;
}

export interface ControlPlane {
  /** Folder holding certs, kubeconfigs, etcd data and one log per component; removed by stop(). */
  readonly dir: string;
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  /** Admin kubeconfig (group system:masters), self-contained. */
  readonly kubeconfigPath: string;
  readonly caCertPath: string;
  readonly binaries: ControlPlaneBinaries;
  /** Milliseconds from start to ready (undefined when connected to a control plane another process started). */
  readonly startupMs: number | undefined;
  /** A fresh admin KubeConfig. */
  kubeConfig(): KubeConfig;
  /** A ServiceAccount token from the TokenRequest API: act exactly as that ServiceAccount would in a cluster. */
  mintToken(namespace: string, serviceAccount: string, options?: TokenOptions): Promise<string>;
  kubeConfigForToken(token: string, namespace?: string): KubeConfig;
  /** The same as a kubeconfig document (YAML), e.g. to hand to another process through KUBECONFIG. */
  kubeconfigTextForToken(token: string, namespace?: string): string;
  /** A serving cert from the cluster CA (the one kube-apiserver trusts for kubelets), e.g. for a node agent. */
  issueServingCert(hosts: readonly string[], name?: string): Promise<CertAndKey>;
  /** A client cert from the cluster CA: user `commonName`, groups `organizations` (e.g. a node's identity). */
  issueClientCert(commonName: string, organizations?: readonly string[], name?: string): Promise<CertAndKey>;
  /** Runs a helper process for as long as this handle lives: log in the folder, stopped by stop() and at exit. */
  startProcess(
    name: string,
    command: string,
    args: readonly string[],
    options?: StartProcessOptions,
  ): Promise<ManagedProcess>;
  /** The process of a component this handle started (undefined on a connected handle), e.g. to pause it. */
  componentProcess(component: Component): ManagedProcess | undefined;
  /** Stops every process (SIGTERM, then SIGKILL) and removes the folder. A connected handle stops only its helpers. */
  stop(): Promise<void>;
}

export class ControlPlaneStartError extends Error {
  readonly component: string;
  readonly logTail: string;
  /** The control plane's folder (already removed by the time this is thrown). */
  dir: string | undefined;

  constructor(component: string, reason: string, logTail: string) {
    super(
      `${component} failed to start: ${reason}` +
        (logTail ? `\nlast lines of its log:\n${indent(logTail)}` : ''),
    );
    this.name = 'ControlPlaneStartError';
    this.component = component;
    this.logTail = logTail;
  }
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');

// What connectControlPlane() reads back from the folder.
interface ClusterInfo {
  server: string;
  kubeconfigPath: string;
  caCertPath: string;
  caKeyPath: string;
  binaries: ControlPlaneBinaries;
}
const INFO_FILE = 'cluster.json';
type Ports5 = [number, number, number, number, number];
const ADMIN_KUBECONFIG = 'admin.kubeconfig';

/** Starts a fresh control plane in a temp folder on free loopback ports; resolves once it schedules and reconciles. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const binaries = { ...resolveBinaries(CONTROL_PLANE_BINARIES), ...options.binaries };
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binaries, options);
    } catch (err) {
      // A free port can be taken by someone else between choosing it and binding it: choose again.
      const portTaken = err instanceof ControlPlaneStartError && /address already in use/i.test(err.logTail);
      if (!portTaken || attempt >= 3 || options.signal?.aborted) throw err;
      options.onProgress?.(`${err.component}: port taken, retrying`);
    }
  }
}

/** A handle on a control plane another process started (e.g. the test runner), found through its admin kubeconfig. */
export async function connectControlPlane(kubeconfigPath: string): Promise<ControlPlane> {
  const infoPath = join(dirname(kubeconfigPath), INFO_FILE);
  let info: ClusterInfo;
  try {
    info = JSON.parse(await readFile(infoPath, 'utf8')) as ClusterInfo;
  } catch (err) {
    throw new Error(`no local control plane described at ${infoPath} (${(err as Error).message})`);
  }
  return createHandle(info, await readFile(info.caCertPath, 'utf8'), undefined, undefined);
}

async function startOnce(
  binaries: ControlPlaneBinaries,
  options: ControlPlaneOptions,
): Promise<ControlPlane> {
  const startedAt = performance.now();
  const progress = options.onProgress ?? (() => {});
  const deadline = { at: Date.now() + (options.readyTimeoutMs ?? 120_000), signal: options.signal };
  options.signal?.throwIfAborted();
  const range = options.serviceClusterIPRange ?? '10.0.0.0/24';
  const extra = (c: Component) => options.extraArgs?.[c] ?? [];
  const dir = await mkdtemp(join(tmpdir(), 'selfheal-cluster-'));
  const group = new ProcessGroup(dir, { removeDir: true });
  try {
    const [etcdClientPort, etcdPeerPort, apiPort, kcmPort, schedulerPort] = (await freePorts(5)) as Ports5;
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const etcdPeerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    const server = `https://127.0.0.1:${apiPort}`;

    const etcd = await group.start('etcd', binaries.etcd, [
      '--name=selfheal',
      `--data-dir=${join(dir, 'etcd-data')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${etcdPeerUrl}`,
      `--initial-advertise-peer-urls=${etcdPeerUrl}`,
      `--initial-cluster=selfheal=${etcdPeerUrl}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
      ...extra('etcd'),
    ]);
    const certs = await createClusterCerts(dir, firstAddress(range));
    const tls = {
      ca: await readFile(certs.ca.certPath, 'utf8'),
      cert: await readFile(certs.admin.certPath, 'utf8'),
      key: await readFile(certs.admin.keyPath, 'utf8'),
    };
    const kubeconfigPath = join(dir, ADMIN_KUBECONFIG);
    const adminCredentials = { clientCertPem: tls.cert, clientKeyPem: tls.key };
    await writeFile(
      kubeconfigPath,
      renderKubeconfig({ server, caPem: tls.ca, credentials: adminCredentials }),
    );
    await waitUntil('etcd', () => httpOk(`${etcdUrl}/health`), [etcd], deadline);
    progress('etcd ready');

    const apiserver = await group.start('kube-apiserver', binaries['kube-apiserver'], [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      `--tls-cert-file=${certs.apiserver.certPath}`,
      `--tls-private-key-file=${certs.apiserver.keyPath}`,
      `--client-ca-file=${certs.ca.certPath}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${certs.serviceAccountPublicKeyPath}`,
      `--service-account-signing-key-file=${certs.serviceAccountKeyPath}`,
      `--service-cluster-ip-range=${range}`,
      `--authorization-mode=${options.authorizationMode ?? 'Node,RBAC'}`,
      // As kubeadm does: a node's credentials may change only that node and the pods bound to it.
      '--enable-admission-plugins=NodeRestriction',
      `--kubelet-client-certificate=${certs.kubeletClient.certPath}`,
      `--kubelet-client-key=${certs.kubeletClient.keyPath}`,
      `--kubelet-certificate-authority=${certs.ca.certPath}`,
      '--kubelet-preferred-address-types=InternalIP,Hostname',
      '--enable-priority-and-fairness=false',
      '--allow-privileged=true',
      '--profiling=false',
      ...extra('kube-apiserver'),
    ]);
    await waitUntil('kube-apiserver', () => httpOk(`${server}/readyz`, tls), [etcd, apiserver], deadline);
    progress('kube-apiserver ready');

    // Both serve /healthz (open to anonymous) with the apiserver's cert, valid for 127.0.0.1, so we can verify them.
    // No delegated authentication: it would only add noise about the front-proxy CA this cluster does not use.
    const serving = [
      `--tls-cert-file=${certs.apiserver.certPath}`,
      `--tls-private-key-file=${certs.apiserver.keyPath}`,
    ];
    const controllerManager = await group.start(
      'kube-controller-manager',
      binaries['kube-controller-manager'],
      [
        `--kubeconfig=${kubeconfigPath}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        ...serving,
        '--leader-elect=false',
        '--use-service-account-credentials=false',
        `--root-ca-file=${certs.ca.certPath}`,
        `--service-account-private-key-file=${certs.serviceAccountKeyPath}`,
        `--service-cluster-ip-range=${range}`,
        `--controllers=${CONTROLLERS.join(',')}`,
        '--profiling=false',
        ...extra('kube-controller-manager'),
      ],
    );
    const schedulerConfig = join(dir, 'scheduler.yaml');
    await writeFile(schedulerConfig, schedulerConfiguration(kubeconfigPath));
    const scheduler = await group.start('kube-scheduler', binaries['kube-scheduler'], [
      `--config=${schedulerConfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedulerPort}`,
      ...serving,
      '--profiling=false',
      ...extra('kube-scheduler'),
    ]);
    const all = [etcd, apiserver, controllerManager, scheduler];
    const healthz = (port: number) => () => httpOk(`https://127.0.0.1:${port}/healthz`, tls);
    await Promise.all([
      waitUntil('kube-controller-manager', healthz(kcmPort), all, deadline),
      waitUntil('kube-scheduler', healthz(schedulerPort), all, deadline),
    ]);

    // Controllers at work: the serviceaccount and root-CA publisher controllers fill the default namespace.
    const info: ClusterInfo = {
      server,
      kubeconfigPath,
      caCertPath: certs.ca.certPath,
      caKeyPath: certs.ca.keyPath,
      binaries,
    };
    const core = adminKubeConfig(server, tls.ca, adminCredentials).makeApiClient(CoreV1Api);
    await waitUntil(
      'kube-controller-manager',
      async () =>
        (await exists(() => core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' }))) &&
        (await exists(() =>
          core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace: 'default' }),
        )),
      all,
      deadline,
      'no default ServiceAccount and kube-root-ca.crt ConfigMap in the default namespace',
    );
    await writeFile(join(dir, INFO_FILE), `${JSON.stringify(info, null, 2)}\n`);
    const startupMs = Math.round(performance.now() - startedAt);
    progress(`control plane ready in ${(startupMs / 1000).toFixed(1)}s`);
    return createHandle(info, tls.ca, group, startupMs);
  } catch (err) {
    await group.dispose(1_000);
    if (err instanceof ControlPlaneStartError) err.dir = dir;
    throw err;
  }
}

function schedulerConfiguration(kubeconfigPath: string): string {
  return [
    'apiVersion: kubescheduler.config.k8s.io/v1',
    'kind: KubeSchedulerConfiguration',
    'clientConnection:',
    `  kubeconfig: ${JSON.stringify(kubeconfigPath)}`,
    'leaderElection:',
    '  leaderElect: false',
    '',
  ].join('\n');
}

function adminKubeConfig(
  server: string,
  caPem: string,
  credentials: { clientCertPem: string; clientKeyPem: string },
) {
  const kc = new KubeConfig();
  kc.loadFromString(renderKubeconfig({ server, caPem, credentials }));
  return kc;
}

function createHandle(
  info: ClusterInfo,
  caPem: string,
  owned: ProcessGroup | undefined,
  startupMs: number | undefined,
): ControlPlane {
  const dir = dirname(info.kubeconfigPath);
  // A connected handle runs its helpers in a folder of its own: the control plane's folder belongs to its owner.
  let helpers: Promise<ProcessGroup> | undefined = owned ? Promise.resolve(owned) : undefined;
  const helperGroup = () => {
    helpers ??= mkdtemp(join(tmpdir(), 'selfheal-helpers-')).then(
      (d) => new ProcessGroup(d, { removeDir: true }),
    );
    return helpers;
  };
  const tokenKubeconfig = (token: string, namespace?: string) =>
    renderKubeconfig({ server: info.server, caPem, credentials: { token }, namespace });

  const handle: ControlPlane = {
    dir,
    server: info.server,
    kubeconfigPath: info.kubeconfigPath,
    caCertPath: info.caCertPath,
    binaries: info.binaries,
    startupMs,
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromFile(info.kubeconfigPath);
      return kc;
    },
    async mintToken(namespace, serviceAccount, { audiences = [], expirationSeconds = 3600 } = {}) {
      const core = handle.kubeConfig().makeApiClient(CoreV1Api);
      const response = await core.createNamespacedServiceAccountToken({
        name: serviceAccount,
        namespace,
        body: { spec: { audiences, expirationSeconds } },
      });
      const token = response.status?.token;
      if (!token) throw new Error(`the API server issued no token for ${namespace}/${serviceAccount}`);
      return token;
    },
    kubeConfigForToken(token, namespace) {
      const kc = new KubeConfig();
      kc.loadFromString(tokenKubeconfig(token, namespace));
      return kc;
    },
    kubeconfigTextForToken: tokenKubeconfig,
    issueServingCert(hosts, name = `serving-${randomBytes(4).toString('hex')}`) {
      return issueServingCert({ certPath: info.caCertPath, keyPath: info.caKeyPath }, dir, name, hosts);
    },
    issueClientCert(commonName, organizations = [], name = `client-${randomBytes(4).toString('hex')}`) {
      const ca = { certPath: info.caCertPath, keyPath: info.caKeyPath };
      return issueClientCert(ca, dir, name, { commonName, organizations });
    },
    async startProcess(name, command, args, options) {
      return (await helperGroup()).start(name, command, args, options);
    },
    componentProcess(component) {
      return owned?.processes.find((p) => p.name === component);
    },
    async stop() {
      if (helpers) await (await helpers).dispose();
    },
  };
  return handle;
}

async function exists(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return true;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return false;
    throw err;
  }
}

/** Polls `check` until it passes; fails fast, with the log's last lines, when a watched process exits. */
async function waitUntil(
  component: string,
  check: () => Promise<boolean>,
  watched: readonly ManagedProcess[],
  deadline: { at: number; signal: AbortSignal | undefined },
  timeoutReason = 'not ready',
): Promise<void> {
  for (;;) {
    deadline.signal?.throwIfAborted();
    const dead = watched.find((p) => !p.running);
    if (dead) {
      const status = await dead.exited;
      throw new ControlPlaneStartError(dead.name, describeExit(status), dead.logTail());
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline.at) {
      const proc = watched.find((p) => p.name === component);
      throw new ControlPlaneStartError(
        component,
        `${timeoutReason} within the start-up timeout`,
        proc?.logTail() ?? '',
      );
    }
    await sleep(100);
  }
}

interface TlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

/** True when GET `url` answers 200. */
function httpOk(url: string, tls?: TlsMaterial): Promise<boolean> {
  return new Promise((resolve) => {
    const options = { method: 'GET', timeout: 2_000, agent: false as const, ...(tls ?? {}) };
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, options, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** The first usable address of an IPv4 CIDR (`10.0.0.0/24` → `10.0.0.1`): the `kubernetes` Service's ClusterIP. */
export function firstAddress(cidr: string): string {
  const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  const octets = match?.slice(1, 5).map(Number);
  if (!octets || octets.some((o) => o > 255) || Number(match?.[5]) > 30 || Number(match?.[5]) < 8) {
    throw new Error(
      `service cluster IP range must be an IPv4 CIDR such as 10.0.0.0/24, got ${JSON.stringify(cidr)}`,
    );
  }
  const bits = Number(match?.[5]);
  const value = octets.reduce((acc, octet) => acc * 256 + octet, 0);
  const network = value - (value % 2 ** (32 - bits));
  const next = network + 1;
  return [next >>> 24, (next >>> 16) & 255, (next >>> 8) & 255, next & 255].join('.');
}
