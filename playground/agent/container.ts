// One container of a pod as a local process: start, logs, probes, restarts with back-off, OOM kill, termination.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { V1Container, V1ContainerState, V1ContainerStatus, V1Probe } from '@kubernetes/client-node';
import type { BackOff } from './backoff.ts';
import { ConfigError } from './container-env.ts';
import type { EventType } from './events.ts';
import { type ProbeKind, Prober, type ProbeTarget } from './probe.ts';

/** What prepare() hands back: the process to run and what the status says about its image. */
export type Launch = {
  file: string;
  args: string[];
  env: Record<string, string>;
  imageID: string;
  cwd: string;
  /** For exec probes. */
  probeTarget: ProbeTarget;
};

export class ImageNotFoundError extends Error {
  override name = 'ImageNotFoundError';
}

export type ContainerDeps = {
  spec: V1Container;
  /** pod uid + container name: the back-off key. */
  key: string;
  /** How the kubelet names the pod in messages: `name_namespace(uid)`. */
  podRef: string;
  restartPolicy: string;
  logDir: string;
  backOff: BackOff;
  /** Wait before the n-th retry (from 1) of a failed image pull or container config. */
  retryDelayMs(attempt: number): number;
  /** Resolves the image and builds the environment; throws ImageNotFoundError or ConfigError to wait and retry. */
  prepare(): Promise<Launch>;
  event(type: EventType, reason: string, message: string): void;
  onChange(): void;
  /** The pod's terminationGracePeriodSeconds: how long a liveness kill waits before SIGKILL. */
  gracePeriodSeconds(): number;
  /** Optional wrapper argv so the process dies with the agent (setpriv --pdeathsig). */
  wrapper: string[];
};

/** Kubelet's floor for a kill's grace period. */
const MIN_GRACE_SECONDS = 2;

const exitCodeOf = (code: number | null, signal: NodeJS.Signals | null): number =>
  code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);

export type RunningProcess = { pid: number; containerId: string; startedAt: Date };

export class Container {
  readonly name: string;
  readonly #d: ContainerDeps;
  #state: V1ContainerState = { waiting: { reason: 'ContainerCreating' } };
  #lastState: V1ContainerState = {};
  #restartCount = 0;
  #instances = 0;
  #imageID = '';
  #containerId: string | undefined;
  #child: ChildProcess | undefined;
  #running: RunningProcess | undefined;
  #probers = new Map<ProbeKind, Prober>();
  #probeTarget: ProbeTarget | undefined;
  #started = false;
  #ready = false;
  #timer: NodeJS.Timeout | undefined;
  #killTimer: NodeJS.Timeout | undefined;
  #killDeadline = Number.POSITIVE_INFINITY;
  #oomKilled = false;
  #terminating = false;
  #done = false;
  #exited: Promise<void> = Promise.resolve();
  #prepareFailures = 0;

  constructor(deps: ContainerDeps, restartCount = 0) {
    this.name = deps.spec.name;
    this.#d = deps;
    this.#restartCount = restartCount;
  }

  get running(): RunningProcess | undefined {
    return this.#running;
  }

  get restartCount(): number {
    return this.#restartCount;
  }

  /** The log of the current instance, or of the one before (kubectl logs --previous), if there is one. */
  logPath(previous = false): string | undefined {
    const instance = this.#instances - (previous ? 2 : 1);
    return instance >= 0 ? join(this.#d.logDir, `${instance}.log`) : undefined;
  }

  status(): V1ContainerStatus {
    const s: V1ContainerStatus = {
      name: this.name,
      image: this.#d.spec.image ?? '',
      imageID: this.#imageID,
      ready: this.#ready,
      started: this.#started,
      restartCount: this.#restartCount,
      state: this.#state,
      lastState: this.#lastState,
    };
    if (this.#containerId) s.containerID = this.#containerId;
    return s;
  }

  start(): void {
    void this.#launch();
  }

  /** Stops the container for good: SIGTERM, SIGKILL after the grace period (shortened if asked again with less). */
  terminate(graceSeconds: number): Promise<void> {
    this.#terminating = true;
    clearTimeout(this.#timer);
    this.#stopProbes();
    if (this.#running) this.#kill(graceSeconds);
    else this.#finishWithoutProcess();
    return this.#exited;
  }

  /** The kernel's OOM killer, for a container above its memory limit. */
  oomKill(): void {
    if (!this.#running || this.#oomKilled) return;
    this.#oomKilled = true;
    this.#signal('SIGKILL');
  }

  async #launch(): Promise<void> {
    if (this.#terminating) return;
    let launch: Launch;
    try {
      launch = await this.#d.prepare();
      this.#prepareFailures = 0;
    } catch (err) {
      this.#prepareFailed(err as Error);
      return;
    }
    if (this.#terminating) {
      this.#finishWithoutProcess();
      return;
    }
    this.#imageID = launch.imageID;
    const image = this.#d.spec.image ?? '';
    if (this.#instances === 0) {
      this.#d.event('Normal', 'Pulled', `Container image "${image}" already present on machine`);
    }
    const containerHex = randomBytes(32).toString('hex');
    this.#containerId = `local://${containerHex}`;
    mkdirSync(this.#d.logDir, { recursive: true });
    this.#instances++;
    // Keep the logs of this instance and of the one before, as the kubelet does.
    rmSync(join(this.#d.logDir, `${this.#instances - 3}.log`), { force: true });
    const logFd = openSync(join(this.#d.logDir, `${this.#instances - 1}.log`), 'a');
    const [file, args] = this.#d.wrapper.length
      ? [this.#d.wrapper[0] ?? '', [...this.#d.wrapper.slice(1), launch.file, ...launch.args]]
      : [launch.file, launch.args];
    let child: ChildProcess;
    try {
      // detached: its own session and process group, so the whole tree can be signalled at once.
      child = spawn(file, args, {
        cwd: launch.cwd,
        env: launch.env,
        detached: true,
        stdio: ['ignore', logFd, logFd],
      });
    } finally {
      closeSync(logFd);
    }
    const startedAt = new Date();
    this.#d.event('Normal', 'Created', `Created container ${this.name}`);
    this.#child = child;
    this.#oomKilled = false;
    let resolveExit: () => void = () => {};
    this.#exited = new Promise((r) => {
      resolveExit = r;
    });
    let spawnError: Error | undefined;
    child.once('error', (err) => {
      spawnError = err;
      // A process that never started emits no 'exit'.
      if (child.pid === undefined) this.#onExit(child, startedAt, null, null, err, resolveExit);
    });
    child.once('exit', (code, signal) =>
      this.#onExit(child, startedAt, code, signal, spawnError, resolveExit),
    );
    if (child.pid === undefined) return;
    this.#running = { pid: child.pid, containerId: containerHex, startedAt };
    this.#state = { running: { startedAt } };
    this.#d.event('Normal', 'Started', `Started container ${this.name}`);
    this.#startProbes(launch.probeTarget);
    this.#d.onChange();
  }

  #prepareFailed(err: Error): void {
    if (this.#terminating) {
      this.#finishWithoutProcess();
      return;
    }
    const image = this.#d.spec.image ?? '';
    const wait = this.#d.retryDelayMs(++this.#prepareFailures);
    if (err instanceof ImageNotFoundError) {
      this.#state = { waiting: { reason: 'ErrImagePull', message: err.message } };
      this.#d.event('Warning', 'Failed', `Failed to pull image "${image}": ${err.message}`);
      this.#d.onChange();
      // Like the kubelet: ErrImagePull right after the attempt, ImagePullBackOff while waiting for the next one.
      this.#timer = setTimeout(() => {
        this.#state = {
          waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"` },
        };
        this.#d.event('Normal', 'BackOff', `Back-off pulling image "${image}"`);
        this.#d.onChange();
        this.#timer = setTimeout(() => void this.#launch(), wait);
      }, 1_000);
      return;
    }
    const reason = err instanceof ConfigError ? 'CreateContainerConfigError' : 'CreateContainerError';
    this.#state = { waiting: { reason, message: err.message } };
    this.#d.event('Warning', 'Failed', `Error: ${err.message}`);
    this.#d.onChange();
    this.#timer = setTimeout(() => void this.#launch(), wait);
  }

  #onExit(
    child: ChildProcess,
    startedAt: Date,
    code: number | null,
    signal: NodeJS.Signals | null,
    spawnError: Error | undefined,
    resolveExit: () => void,
  ): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    const pid = this.#running?.pid;
    this.#running = undefined;
    clearTimeout(this.#killTimer);
    this.#killDeadline = Number.POSITIVE_INFINITY;
    // The runtime tears down the whole container when its first process ends: nothing of it outlives it.
    if (pid !== undefined) killGroup(pid, 'SIGKILL');
    this.#stopProbes();
    this.#ready = false;
    this.#started = false;
    const finishedAt = new Date();
    const exitCode = spawnError && code === null && signal === null ? 128 : exitCodeOf(code, signal);
    const reason = spawnError
      ? 'StartError'
      : this.#oomKilled
        ? 'OOMKilled'
        : exitCode === 0
          ? 'Completed'
          : 'Error';
    const terminated = {
      exitCode: this.#oomKilled ? 137 : exitCode,
      reason,
      startedAt,
      finishedAt,
      containerID: this.#containerId ?? '',
      ...(signal ? { signal: constants.signals[signal] } : {}),
      ...(spawnError ? { message: spawnError.message } : {}),
    };
    this.#oomKilled = false;
    resolveExit();
    if (this.#terminating) {
      this.#state = { terminated };
      this.#done = true;
      this.#d.onChange();
      return;
    }
    const policy = this.#d.restartPolicy;
    const restart = policy === 'Always' || (policy === 'OnFailure' && terminated.exitCode !== 0);
    if (!restart) {
      this.#state = { terminated };
      this.#done = true;
      this.#d.onChange();
      return;
    }
    this.#state = { terminated };
    this.#lastState = { terminated };
    this.#d.onChange();
    this.#scheduleRestart(finishedAt.getTime());
  }

  #scheduleRestart(finishedAt: number): void {
    if (this.#terminating) return;
    const wait = this.#d.backOff.delay(this.#d.key, finishedAt, Date.now());
    if (wait === 0) {
      this.#restartCount++;
      void this.#launch();
      return;
    }
    const backOffSeconds = Math.round(this.#d.backOff.current(this.#d.key) / 1000);
    const message = `back-off ${backOffSeconds}s restarting failed container=${this.name} pod=${this.#d.podRef}`;
    this.#state = { waiting: { reason: 'CrashLoopBackOff', message } };
    this.#d.event('Warning', 'BackOff', 'Back-off restarting failed container');
    this.#d.onChange();
    this.#timer = setTimeout(() => this.#scheduleRestart(finishedAt), wait);
  }

  #startProbes(target: ProbeTarget): void {
    this.#probeTarget = target;
    if (this.#d.spec.startupProbe) this.#runProber('startup', this.#d.spec.startupProbe);
    else this.#afterStartup();
  }

  #afterStartup(): void {
    const spec = this.#d.spec;
    this.#started = true;
    if (spec.livenessProbe) this.#runProber('liveness', spec.livenessProbe);
    if (spec.readinessProbe) this.#runProber('readiness', spec.readinessProbe);
    else this.#ready = true;
    this.#d.onChange();
  }

  #runProber(kind: ProbeKind, probe: V1Probe): void {
    if (!this.#probeTarget) return;
    const label = `${kind[0]?.toUpperCase()}${kind.slice(1)}`;
    const prober = new Prober(kind, probe, this.#probeTarget, {
      onFailure: (message) => this.#d.event('Warning', 'Unhealthy', `${label} probe failed: ${message}`),
      onResult: (ok) => this.#probeResult(kind, ok, probe),
    });
    this.#probers.set(kind, prober);
    prober.start();
  }

  #probeResult(kind: ProbeKind, ok: boolean, probe: V1Probe): void {
    if (!this.#running || this.#terminating) return;
    if (kind === 'readiness') {
      this.#ready = ok;
      this.#d.onChange();
      return;
    }
    if (ok) {
      if (kind === 'startup') {
        this.#probers.get('startup')?.stop();
        this.#afterStartup();
      }
      return;
    }
    this.#d.event('Normal', 'Killing', `Container ${this.name} failed ${kind} probe, will be restarted`);
    this.#stopProbes();
    this.#ready = false;
    this.#d.onChange();
    this.#kill(probe.terminationGracePeriodSeconds ?? this.#d.gracePeriodSeconds());
  }

  #stopProbes(): void {
    for (const p of this.#probers.values()) p.stop();
    this.#probers.clear();
  }

  #kill(graceSeconds: number): void {
    const deadline = Date.now() + Math.max(graceSeconds, MIN_GRACE_SECONDS) * 1000;
    if (deadline >= this.#killDeadline) return;
    if (this.#killDeadline === Number.POSITIVE_INFINITY) this.#signal('SIGTERM');
    this.#killDeadline = deadline;
    clearTimeout(this.#killTimer);
    this.#killTimer = setTimeout(() => this.#signal('SIGKILL'), deadline - Date.now());
  }

  #signal(signal: NodeJS.Signals): void {
    if (this.#running) killGroup(this.#running.pid, signal);
  }

  #finishWithoutProcess(): void {
    if (this.#done) return;
    this.#done = true;
    if (!this.#state.terminated && this.#lastState.terminated)
      this.#state = { terminated: this.#lastState.terminated };
    this.#d.onChange();
  }
}

/** Signals a container's process group (its first process leads it); a group already gone is fine. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
