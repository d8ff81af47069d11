// Container probes as the kubelet runs them: httpGet, tcpSocket and exec checks, on a period, with thresholds.
import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { V1ContainerPort, V1Probe } from '@kubernetes/client-node';

export type ProbeKind = 'liveness' | 'readiness' | 'startup';
export type ProbeOutcome = { ok: boolean; message: string };

export type ProbeTarget = {
  podIP: string;
  ports: V1ContainerPort[];
  /** For exec probes: runs the command as the container would (its env, paths translated). */
  exec?: (command: string[], timeoutMs: number) => Promise<ProbeOutcome>;
};

const KUBE_PROBE_AGENT = 'kube-probe/1.35';

function resolvePort(port: number | string | undefined, ports: V1ContainerPort[]): number | undefined {
  if (typeof port === 'number') return port;
  if (port === undefined) return undefined;
  if (/^\d+$/.test(port)) return Number(port);
  return ports.find((p) => p.name === port)?.containerPort;
}

function httpProbe(probe: V1Probe, target: ProbeTarget, timeoutMs: number): Promise<ProbeOutcome> {
  const get = probe.httpGet;
  const port = resolvePort(get?.port as number | string | undefined, target.ports);
  const scheme = (get?.scheme ?? 'HTTP').toLowerCase();
  const host = get?.host || target.podIP;
  const url = `${scheme}://${host}:${port}${get?.path ?? '/'}`;
  if (port === undefined)
    return Promise.resolve({ ok: false, message: `port ${String(get?.port)} not found` });
  const headers: Record<string, string> = { 'User-Agent': KUBE_PROBE_AGENT, Accept: '*/*' };
  for (const h of get?.httpHeaders ?? []) headers[h.name] = h.value;
  return new Promise((resolve) => {
    const send = scheme === 'https' ? httpsRequest : httpRequest;
    const req = send(url, {
      method: 'GET',
      headers,
      timeout: timeoutMs,
      rejectUnauthorized: false,
      agent: false,
    });
    req.on('response', (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve(
        code >= 200 && code < 400
          ? { ok: true, message: '' }
          : { ok: false, message: `HTTP probe failed with statuscode: ${code}` },
      );
    });
    req.on('timeout', () => {
      req.destroy();
      resolve({
        ok: false,
        message: `Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
      });
    });
    req.on('error', (err) => resolve({ ok: false, message: `Get "${url}": ${err.message}` }));
    req.end();
  });
}

function tcpProbe(probe: V1Probe, target: ProbeTarget, timeoutMs: number): Promise<ProbeOutcome> {
  const port = resolvePort(probe.tcpSocket?.port as number | string | undefined, target.ports);
  const host = probe.tcpSocket?.host || target.podIP;
  if (port === undefined)
    return Promise.resolve({ ok: false, message: `port ${String(probe.tcpSocket?.port)} not found` });
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.on('connect', () => {
      socket.destroy();
      resolve({ ok: true, message: '' });
    });
    socket.on('timeout', () => {
      socket.destroy();
      resolve({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` });
    });
    socket.on('error', (err) => resolve({ ok: false, message: `dial tcp ${host}:${port}: ${err.message}` }));
  });
}

/** Runs one probe once. */
export function runProbe(probe: V1Probe, target: ProbeTarget): Promise<ProbeOutcome> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) return httpProbe(probe, target, timeoutMs);
  if (probe.tcpSocket) return tcpProbe(probe, target, timeoutMs);
  if (probe.exec?.command?.length && target.exec) return target.exec(probe.exec.command, timeoutMs);
  return Promise.resolve({ ok: false, message: 'this probe type is not supported by the local node agent' });
}

/** The exec probe runner for a container: the command runs like the container's process, from the repo root. */
export function execRunner(cwd: string, env: Record<string, string>, mapArg: (a: string) => string) {
  return (command: string[], timeoutMs: number): Promise<ProbeOutcome> =>
    new Promise((resolve) => {
      const [file = '', ...args] = command.map(mapArg);
      execFile(
        file === 'node' ? process.execPath : file,
        args,
        { cwd, env, timeout: timeoutMs, killSignal: 'SIGKILL' },
        (err, stdout, stderr) => {
          if (!err) resolve({ ok: true, message: '' });
          else if (err.killed)
            resolve({ ok: false, message: `command timed out after ${timeoutMs / 1000}s` });
          else resolve({ ok: false, message: `${stdout}${stderr}`.trim() || err.message });
        },
      );
    });
}

export type ProberEvents = {
  /** The probe's result flipped (success after successThreshold, failure after failureThreshold). */
  onResult(ok: boolean, message: string): void;
  /** Every failed attempt, for Unhealthy events. */
  onFailure?(message: string): void;
};

/**
 * Runs a probe every periodSeconds after initialDelaySeconds. The result starts as the kubelet's: success for
 * liveness, failure for readiness and startup; it flips only after the threshold of consecutive outcomes.
 */
export class Prober {
  readonly kind: ProbeKind;
  readonly #probe: V1Probe;
  readonly #target: ProbeTarget;
  readonly #events: ProberEvents;
  /** undefined: no verdict yet (a startup probe before its first success or its failure threshold). */
  #result: boolean | undefined;
  #successes = 0;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(kind: ProbeKind, probe: V1Probe, target: ProbeTarget, events: ProberEvents) {
    this.kind = kind;
    this.#probe = probe;
    this.#target = target;
    this.#events = events;
    this.#result = kind === 'liveness' ? true : kind === 'readiness' ? false : undefined;
  }

  get result(): boolean {
    return this.#result === true;
  }

  start(): void {
    this.#schedule((this.#probe.initialDelaySeconds ?? 0) * 1000);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), ms);
  }

  async #tick(): Promise<void> {
    const started = Date.now();
    const outcome = await runProbe(this.#probe, this.#target);
    if (this.#stopped) return;
    this.#record(outcome);
    const period = (this.#probe.periodSeconds ?? 10) * 1000;
    this.#schedule(Math.max(0, period - (Date.now() - started)));
  }

  #record({ ok, message }: ProbeOutcome): void {
    if (ok) {
      this.#successes++;
      this.#failures = 0;
      const needed = this.kind === 'readiness' ? (this.#probe.successThreshold ?? 1) : 1;
      if (this.#result !== true && this.#successes >= needed) {
        this.#result = true;
        this.#events.onResult(true, '');
      }
      return;
    }
    this.#failures++;
    this.#successes = 0;
    this.#events.onFailure?.(message);
    if (this.#result !== false && this.#failures >= (this.#probe.failureThreshold ?? 3)) {
      this.#result = false;
      this.#events.onResult(false, message);
    }
  }
}
