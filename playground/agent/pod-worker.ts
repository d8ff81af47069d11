// One pod on this node: its sandbox (address, folder, volumes), its containers, its status, its graceful deletion.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ApiException,
  type CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Container,
  type V1Pod,
  type V1PodCondition,
} from '@kubernetes/client-node';
import type { BackOff } from './backoff.ts';
import { Container, ImageNotFoundError, type Launch } from './container.ts';
import {
  type Allocatable,
  containerEnv,
  expand,
  type Lookup,
  type MountMapping,
  translateArg,
} from './container-env.ts';
import type { RecordEvent } from './events.ts';
import { type ImageTable, imageRepository, resolveCommand } from './images.ts';
import type { PodAddressPool } from './ip-pool.ts';
import { buildPodStatus } from './pod-status.ts';
import { execRunner } from './probe.ts';
import {
  containerMounts,
  createVolumes,
  type PodVolumes,
  SERVICE_ACCOUNT_MOUNT,
  type TokenRequester,
} from './volumes.ts';

export type PodWorkerDeps = {
  core: CoreV1Api;
  nodeName: string;
  hostIP: string;
  /** What the node can allocate: the downward API's value for a limit a container does not set. */
  allocatable: Allocatable;
  /** Pod folders go under it: <podsDir>/<uid>/{volumes,logs}. */
  podsDir: string;
  /** Where container commands run from. */
  repoRoot: string;
  pool: PodAddressPool;
  images(): ImageTable;
  backOff: BackOff;
  retryDelayMs(attempt: number): number;
  lookup: Lookup;
  requestToken: TokenRequester;
  /** The API server as pods reach it (KUBERNETES_SERVICE_HOST/PORT and the pod's kubeconfig). */
  apiServer: URL;
  event: RecordEvent;
  wrapper: string[];
  log(message: string): void;
};

const strategicMerge = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

const apiCode = (err: unknown) => (err instanceof ApiException ? err.code : undefined);

export class PodWorker {
  readonly uid: string;
  #pod: V1Pod;
  readonly #d: PodWorkerDeps;
  readonly #dir: string;
  #ip: string | undefined;
  #volumes: PodVolumes = new Map();
  #containers: Container[] = [];
  readonly #startTime = new Date();
  #sandboxReady = false;
  #terminal = false;
  #stopping = false;
  #gone = false;
  #conditions: V1PodCondition[] | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #sends: Promise<void> = Promise.resolve();
  #lastSent = '';
  #deletion: Promise<void> | undefined;
  #started: Promise<void>;

  constructor(pod: V1Pod, deps: PodWorkerDeps) {
    this.#pod = pod;
    this.uid = pod.metadata?.uid ?? '';
    this.#d = deps;
    this.#dir = join(deps.podsDir, this.uid);
    this.#conditions = pod.status?.conditions;
    this.#started = this.#start();
  }

  get pod(): V1Pod {
    return this.#pod;
  }

  get podIP(): string | undefined {
    return this.#ip;
  }

  get containers(): readonly Container[] {
    return this.#containers;
  }

  get deleting(): boolean {
    return this.#deletion !== undefined;
  }

  /** The latest object from the watch. */
  update(pod: V1Pod): void {
    this.#pod = pod;
  }

  /** Graceful deletion: SIGTERM, SIGKILL after the grace period, final status, then the API object goes. */
  delete(): Promise<void> {
    const grace = this.#gracePeriod();
    if (this.#deletion) {
      // A second delete with a shorter grace period shortens the wait, as with the kubelet.
      for (const c of this.#containers) void c.terminate(grace);
      return this.#deletion;
    }
    this.#deletion = (async () => {
      this.#stopping = true;
      await this.#started;
      for (const c of this.#containers) {
        if (c.running)
          this.#d.event(this.#pod, 'Normal', 'Killing', `Stopping container ${c.name}`, fieldPath(c.name));
      }
      await Promise.all(this.#containers.map((c) => c.terminate(grace)));
      this.#terminal = true;
      await this.#flushNow();
      // Like the kubelet, the pod's resources (folder, address) are reclaimed before its API object goes.
      await this.#cleanUp();
      try {
        await this.#d.core.deleteNamespacedPod({
          name: this.#pod.metadata?.name ?? '',
          namespace: this.#pod.metadata?.namespace ?? '',
          // With a body, the API server reads the options from it alone (query parameters are ignored).
          body: { gracePeriodSeconds: 0, preconditions: { uid: this.uid } },
        });
      } catch (err) {
        // 404: already gone; 409: the name now belongs to a newer pod, which is not ours to delete.
        const code = apiCode(err);
        if (code !== 404 && code !== 409)
          this.#d.log(`deleting pod ${this.#key()}: ${(err as Error).message}`);
      }
    })();
    return this.#deletion;
  }

  /**
   * Stops every process quickly (SIGTERM, SIGKILL after `graceSeconds`) without touching the API object: for a pod
   * that disappeared from the API, and for stopping the agent.
   */
  async kill(graceSeconds: number): Promise<void> {
    this.#stopping = true;
    await this.#started;
    await Promise.all(this.#containers.map((c) => c.terminate(graceSeconds)));
    await this.#cleanUp();
  }

  #key(): string {
    return `${this.#pod.metadata?.namespace}/${this.#pod.metadata?.name}`;
  }

  #gracePeriod(): number {
    return (
      this.#pod.metadata?.deletionGracePeriodSeconds ?? this.#pod.spec?.terminationGracePeriodSeconds ?? 30
    );
  }

  async #start(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    this.#ip = this.#d.pool.allocate();
    this.#containers = (this.#pod.spec?.containers ?? []).map((spec) => this.#container(spec));
    this.#markDirty();
    for (let attempt = 1; !this.#stopping; attempt++) {
      try {
        this.#volumes = await createVolumes(this.#pod, this.#dir, {
          lookup: this.#d.lookup,
          requestToken: this.#d.requestToken,
          podIP: this.#ip,
        });
        break;
      } catch (err) {
        const message = `MountVolume.SetUp failed: ${(err as Error).message}`;
        this.#d.event(this.#pod, 'Warning', 'FailedMount', message);
        await new Promise((r) => setTimeout(r, this.#d.retryDelayMs(attempt)));
      }
    }
    if (this.#stopping) return;
    this.#sandboxReady = true;
    for (const c of this.#containers) c.start();
  }

  #container(spec: V1Container): Container {
    const previous = this.#pod.status?.containerStatuses?.find((s) => s.name === spec.name);
    // Processes do not outlive the agent: a container that ran under an earlier agent starts again, as a restart.
    const restartCount = previous?.containerID
      ? (previous.restartCount ?? 0) + 1
      : (previous?.restartCount ?? 0);
    return new Container(
      {
        spec,
        key: `${this.uid}/${spec.name}`,
        podRef: `${this.#pod.metadata?.name}_${this.#pod.metadata?.namespace}(${this.uid})`,
        restartPolicy: this.#pod.spec?.restartPolicy ?? 'Always',
        logDir: join(this.#dir, 'logs', spec.name),
        backOff: this.#d.backOff,
        retryDelayMs: this.#d.retryDelayMs,
        prepare: () => this.#prepare(spec),
        event: (type, reason, message) =>
          this.#d.event(this.#pod, type, reason, message, fieldPath(spec.name)),
        onChange: () => this.#markDirty(),
        gracePeriodSeconds: () => this.#pod.spec?.terminationGracePeriodSeconds ?? 30,
        wrapper: this.#d.wrapper,
      },
      restartCount,
    );
  }

  async #prepare(spec: V1Container): Promise<Launch> {
    const image = spec.image ?? '';
    const command = resolveCommand(this.#d.images(), spec);
    if (!command) {
      throw new ImageNotFoundError(
        `image "${image}" is not available: the local node agent runs only the images listed in playground/images.yaml (repository ${imageRepository(image)})`,
      );
    }
    const mounts = containerMounts(spec, this.#volumes);
    // A container's /tmp is its own, fresh with every container, unless a volume is mounted there.
    if (!mounts.some(isTmp)) {
      const own = join(this.#dir, 'tmp', spec.name);
      rmSync(own, { recursive: true, force: true });
      mounts.push({ mountPath: '/tmp', hostPath: own });
    }
    for (const m of mounts) if (!existsSync(m.hostPath)) mkdirSync(m.hostPath, { recursive: true });
    const podIP = this.#ip ?? '';
    const base: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOSTNAME: this.#pod.metadata?.name ?? '',
      KUBERNETES_SERVICE_HOST: this.#d.apiServer.hostname,
      KUBERNETES_SERVICE_PORT: this.#d.apiServer.port || '443',
      // Processes here share the host's network: an image that listens on every address of its container says
      // $(POD_IP) in playground/images.yaml, and listens on its pod's own address.
      ...Object.fromEntries(Object.entries(command.env).map(([k, v]) => [k, expand(v, { POD_IP: podIP })])),
    };
    if (process.env.HOME) base.HOME = process.env.HOME;
    // Programs that honour TMPDIR (Node's os.tmpdir(), Go's os.TempDir()) write into the container's /tmp, where
    // exec probes such as `cat /tmp/.lock` look.
    const tmp = mounts.find(isTmp);
    if (tmp) base.TMPDIR = tmp.hostPath;
    const serviceAccount = mounts.find((m) => m.mountPath.replace(/\/+$/, '') === SERVICE_ACCOUNT_MOUNT);
    if (serviceAccount) base.KUBECONFIG = await this.#writeKubeconfig(serviceAccount.hostPath);
    const env = await containerEnv(spec, {
      pod: this.#pod,
      podIP,
      hostIP: this.#d.hostIP,
      allocatable: this.#d.allocatable,
      lookup: this.#d.lookup,
      mounts,
      base,
    });
    const firstPort = spec.ports?.[0]?.containerPort;
    if (env.PORT === undefined && firstPort !== undefined) env.PORT = String(firstPort);
    const mapArg = (a: string) => translateArg(expand(a, env), mounts);
    return {
      file: command.file,
      args: command.args.map(mapArg),
      env,
      cwd: this.#d.repoRoot,
      imageID: `local://${imageRepository(image)}`,
      probeTarget: { podIP, ports: spec.ports ?? [], exec: execRunner(this.#d.repoRoot, env, mapArg) },
    };
  }

  /**
   * A container here is a host process and cannot see the service account mount at its in-cluster path, so it gets
   * a kubeconfig that says the same as the in-cluster config would: this API server, the mounted CA and token.
   */
  async #writeKubeconfig(serviceAccountDir: string): Promise<string> {
    const path = join(this.#dir, 'kubeconfig');
    const ca = join(serviceAccountDir, 'ca.crt');
    const token = join(serviceAccountDir, 'token');
    const namespace = this.#pod.metadata?.namespace ?? 'default';
    const text = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: in-cluster',
      '  cluster:',
      `    server: ${JSON.stringify(this.#d.apiServer.origin)}`,
      ...(existsSync(ca) ? [`    certificate-authority: ${JSON.stringify(ca)}`] : []),
      'users:',
      '- name: pod',
      '  user:',
      `    tokenFile: ${JSON.stringify(token)}`,
      `    token-file: ${JSON.stringify(token)}`,
      'contexts:',
      '- name: in-cluster',
      '  context:',
      '    cluster: in-cluster',
      '    user: pod',
      `    namespace: ${JSON.stringify(namespace)}`,
      'current-context: in-cluster',
      '',
    ].join('\n');
    await writeFile(path, text, { mode: 0o600 });
    return path;
  }

  #markDirty(): void {
    if (this.#gone || this.#flushTimer) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      void this.#flushNow();
    }, 10);
  }

  /** Sends the status if it changed; one write at a time, each computed when its turn comes. */
  #flushNow(): Promise<void> {
    this.#sends = this.#sends.then(() => this.#send()).catch((err) => this.#d.log(`status: ${err}`));
    return this.#sends;
  }

  async #send(): Promise<void> {
    if (this.#gone) return;
    const status = buildPodStatus({
      pod: this.#pod,
      podIP: this.#ip,
      hostIP: this.#d.hostIP,
      startTime: this.#startTime,
      sandboxReady: this.#sandboxReady,
      containers: this.#containers.map((c) => c.status()),
      previousConditions: this.#conditions,
      terminal: this.#terminal,
      now: new Date(),
    });
    const body = { metadata: { uid: this.uid }, status };
    const text = JSON.stringify(body);
    if (text === this.#lastSent) return;
    try {
      await this.#d.core.patchNamespacedPodStatus(
        { name: this.#pod.metadata?.name ?? '', namespace: this.#pod.metadata?.namespace ?? '', body },
        strategicMerge,
      );
      this.#lastSent = text;
      this.#conditions = status.conditions;
    } catch (err) {
      const code = apiCode(err);
      if (code === 404 || code === 409) return;
      this.#d.log(`status of pod ${this.#key()}: ${(err as Error).message}`);
      if (!this.#gone) setTimeout(() => this.#markDirty(), 1_000);
    }
  }

  async #cleanUp(): Promise<void> {
    if (this.#gone) return;
    this.#gone = true;
    clearTimeout(this.#flushTimer);
    if (this.#ip) this.#d.pool.release(this.#ip);
    await rm(this.#dir, { recursive: true, force: true });
  }
}

const isTmp = (m: MountMapping) => m.mountPath.replace(/\/+$/, '') === '/tmp';

const fieldPath = (container: string) => `spec.containers{${container}}`;
