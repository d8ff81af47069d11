// The Node object of the agent: registration, status heartbeats and the Lease in kube-node-lease that keeps it Ready.
import { readFileSync } from 'node:fs';
import { arch, cpus, networkInterfaces, release, totalmem } from 'node:os';
import {
  ApiException,
  type CoordinationV1Api,
  type CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Lease,
  V1MicroTime,
  type V1Node,
  type V1NodeCondition,
  type V1NodeStatus,
  type V1Taint,
} from '@kubernetes/client-node';

export type NodeSpecOptions = {
  nodeName: string;
  nodeIP: string;
  kubeletPort: number;
  labels: Record<string, string>;
  taints: V1Taint[];
  capacity: { cpu: string; memory: string; pods: string };
};

const LEASE_NAMESPACE = 'kube-node-lease';
const strategicMerge = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
const KUBELET_VERSION = 'v1.35.4';

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

function osImage(): string {
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readOr('/etc/os-release', ''));
  return pretty?.[1] ?? 'Linux';
}

/**
 * The address a kubelet would report: the IPv4 address of the default-route interface, else any non-loopback one,
 * else 127.0.0.1. It matters for the API server's node proxy (/api/v1/nodes/<node>/proxy/...), which refuses
 * loopback addresses ("address not allowed").
 */
export function defaultNodeIP(): string {
  const interfaces = networkInterfaces();
  const ipv4 = (name: string) => interfaces[name]?.find((a) => a.family === 'IPv4' && !a.internal)?.address;
  const routes = readOr('/proc/net/route', '').split('\n').slice(1);
  const defaultRoute = routes.map((line) => line.split('\t')).find((f) => f[1] === '00000000');
  const viaDefault = defaultRoute?.[0] ? ipv4(defaultRoute[0]) : undefined;
  return viaDefault ?? Object.keys(interfaces).map(ipv4).find(Boolean) ?? '127.0.0.1';
}

export function defaultCapacity(): NodeSpecOptions['capacity'] {
  return { cpu: String(cpus().length), memory: `${Math.floor(totalmem() / 1024)}Ki`, pods: '110' };
}

function conditions(now: Date, since: Date): V1NodeCondition[] {
  const ok = (type: string, reason: string, message: string): V1NodeCondition => ({
    type,
    status: 'False',
    reason,
    message,
    lastHeartbeatTime: now,
    lastTransitionTime: since,
  });
  return [
    ok('MemoryPressure', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
    ok('DiskPressure', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
    ok('PIDPressure', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
    {
      type: 'Ready',
      status: 'True',
      reason: 'KubeletReady',
      message: 'kubelet is posting ready status (local node agent)',
      lastHeartbeatTime: now,
      lastTransitionTime: since,
    },
  ];
}

export function nodeStatus(o: NodeSpecOptions, now: Date, since: Date): V1NodeStatus {
  return {
    capacity: { ...o.capacity, 'ephemeral-storage': '20Gi' },
    allocatable: { ...o.capacity, 'ephemeral-storage': '20Gi' },
    conditions: conditions(now, since),
    addresses: [
      { type: 'InternalIP', address: o.nodeIP },
      { type: 'Hostname', address: o.nodeName },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: o.kubeletPort } },
    nodeInfo: {
      machineID: readOr('/etc/machine-id', 'local'),
      systemUUID: readOr('/etc/machine-id', 'local'),
      bootID: readOr('/proc/sys/kernel/random/boot_id', 'local'),
      kernelVersion: release(),
      osImage: osImage(),
      containerRuntimeVersion: 'local://selfheal-node-agent',
      kubeletVersion: KUBELET_VERSION,
      kubeProxyVersion: '',
      operatingSystem: 'linux',
      architecture: arch() === 'x64' ? 'amd64' : arch(),
    },
  };
}

/** Creates the Node (or takes over one of the same name left by an earlier run) and reports it Ready. */
export async function registerNode(core: CoreV1Api, o: NodeSpecOptions): Promise<V1Node> {
  const body: V1Node = {
    metadata: {
      name: o.nodeName,
      labels: {
        'kubernetes.io/hostname': o.nodeName,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': arch() === 'x64' ? 'amd64' : arch(),
        ...o.labels,
      },
    },
    spec: { taints: o.taints },
  };
  let node: V1Node;
  try {
    node = await core.createNode({ body });
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 409)) throw err;
    node = await core.patchNode(
      { name: o.nodeName, body: { metadata: { labels: body.metadata?.labels }, spec: { taints: o.taints } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
  const now = new Date();
  await core.patchNodeStatus({ name: o.nodeName, body: { status: nodeStatus(o, now, now) } }, strategicMerge);
  return node;
}

/**
 * Keeps the node alive for the node-lifecycle controller: renews the Lease every `renewSeconds` and posts the
 * status every `statusSeconds` (the kubelet's nodeStatusReportFrequency, shorter here).
 */
export class NodeHeartbeat {
  readonly #core: CoreV1Api;
  readonly #coordination: CoordinationV1Api;
  readonly #o: NodeSpecOptions;
  readonly #node: V1Node;
  readonly #since = new Date();
  readonly #leaseSeconds: number;
  #lease: V1Lease | undefined;
  #timers: NodeJS.Timeout[] = [];
  readonly #onError: (err: unknown) => void;

  constructor(
    core: CoreV1Api,
    coordination: CoordinationV1Api,
    node: V1Node,
    o: NodeSpecOptions,
    timing: { leaseSeconds: number; renewSeconds: number; statusSeconds: number },
    onError: (err: unknown) => void,
  ) {
    this.#core = core;
    this.#coordination = coordination;
    this.#node = node;
    this.#o = o;
    this.#leaseSeconds = timing.leaseSeconds;
    this.#onError = onError;
    this.#timers.push(setInterval(() => void this.renewLease().catch(onError), timing.renewSeconds * 1000));
    this.#timers.push(setInterval(() => void this.postStatus().catch(onError), timing.statusSeconds * 1000));
  }

  stop(): void {
    for (const t of this.#timers) clearInterval(t);
  }

  async postStatus(): Promise<void> {
    await this.#core.patchNodeStatus(
      { name: this.#o.nodeName, body: { status: nodeStatus(this.#o, new Date(), this.#since) } },
      strategicMerge,
    );
  }

  async renewLease(retried = false): Promise<void> {
    const name = this.#o.nodeName;
    const spec = {
      holderIdentity: name,
      leaseDurationSeconds: this.#leaseSeconds,
      renewTime: new V1MicroTime(),
    };
    try {
      if (this.#lease) {
        this.#lease = await this.#coordination.replaceNamespacedLease({
          name,
          namespace: LEASE_NAMESPACE,
          body: { ...this.#lease, spec: { ...this.#lease.spec, ...spec } },
        });
        return;
      }
      this.#lease = await this.#coordination.createNamespacedLease({
        namespace: LEASE_NAMESPACE,
        body: {
          metadata: {
            name,
            namespace: LEASE_NAMESPACE,
            ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: this.#node.metadata?.uid ?? '' }],
          },
          spec,
        },
      });
    } catch (err) {
      const code = err instanceof ApiException ? err.code : undefined;
      if (retried || (code !== 409 && code !== 404)) throw err;
      // Someone else wrote it (an earlier run, or our last write raced): read it back and try again next time.
      this.#lease = await this.#coordination
        .readNamespacedLease({ name, namespace: LEASE_NAMESPACE })
        .catch(() => undefined);
      if (this.#lease) await this.renewLease(true);
    }
  }

  /** Removes the node's Lease and the Node itself. */
  async deregister(): Promise<void> {
    const name = this.#o.nodeName;
    await this.#coordination
      .deleteNamespacedLease({ name, namespace: LEASE_NAMESPACE })
      .catch(this.#ignore404);
    await this.#core.deleteNode({ name }).catch(this.#ignore404);
  }

  #ignore404 = (err: unknown) => {
    if (!(err instanceof ApiException && err.code === 404)) this.#onError(err);
  };
}
