// kube-state-metrics against a local control plane, on a free loopback port: the kube_* series the alert rules read.
import { setTimeout as sleep } from 'node:timers/promises';
import { KSM_LABELS_ALLOWLIST_FLAG } from '../stack/opt-in.ts';
import { resolveBinaries } from './binaries.ts';
import { type ControlPlane, ControlPlaneStartError, freePorts } from './control-plane.ts';
import { describeExit } from './processes.ts';

/** What the rules and dashboards read; kube-state-metrics' default (every kind) only costs CPU here. */
export const KSM_RESOURCES = [
  'pods',
  'deployments',
  'replicasets',
  'nodes',
  'namespaces',
  'poddisruptionbudgets',
];

export interface KubeStateMetrics {
  /** Base URL; metrics at `${url}/metrics`. */
  url: string;
  /** Its own metrics (kube-state-metrics' telemetry endpoint). */
  telemetryUrl: string;
  stop(): Promise<void>;
}

export interface KubeStateMetricsOptions {
  resources?: readonly string[];
  /** Default: all namespaces. */
  namespaces?: readonly string[];
  binary?: string;
  readyTimeoutMs?: number;
}

/** Starts kube-state-metrics with the admin kubeconfig; resolves once it serves /metrics. Stopped with the cluster. */
export async function startKubeStateMetrics(
  cluster: ControlPlane,
  options: KubeStateMetricsOptions = {},
): Promise<KubeStateMetrics> {
  const binary = options.binary ?? resolveBinaries(['kube-state-metrics'])['kube-state-metrics'];
  const [port, telemetryPort] = (await freePorts(2)) as [number, number];
  const url = `http://127.0.0.1:${port}`;
  const args = [
    `--kubeconfig=${cluster.kubeconfigPath}`,
    '--host=127.0.0.1',
    `--port=${port}`,
    '--telemetry-host=127.0.0.1',
    `--telemetry-port=${telemetryPort}`,
    `--resources=${(options.resources ?? KSM_RESOURCES).join(',')}`,
    // The opt-in label the alert rules require, as in production.
    KSM_LABELS_ALLOWLIST_FLAG,
  ];
  if (options.namespaces?.length) args.push(`--namespaces=${options.namespaces.join(',')}`);
  const proc = await cluster.startProcess(`kube-state-metrics-${port}`, binary, args);
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (!proc.running) {
      const reason = describeExit(await proc.exited);
      throw new ControlPlaneStartError('kube-state-metrics', reason, proc.logTail());
    }
    if (await serves(`${url}/metrics`)) break;
    if (Date.now() > deadline) {
      await proc.stop();
      const reason = 'not serving /metrics before the start-up timeout';
      throw new ControlPlaneStartError('kube-state-metrics', reason, proc.logTail());
    }
    await sleep(100);
  }
  return { url, telemetryUrl: `http://127.0.0.1:${telemetryPort}`, stop: () => proc.stop() };
}

async function serves(url: string): Promise<boolean> {
  try {
    const res = await fetch(url);
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}
