// selfheal behind a highly available monitoring stack, on this machine: two Prometheus replicas evaluating the same
// rules (fast profile) and alerting both Alertmanagers, two Alertmanagers clustered by gossip, each posting to the
// router through a recording proxy of its own, and the router and actions of the delivery path.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { parse, stringify } from 'yaml';
import { resolveBinaries } from '../../devkit/binaries.ts';
import { freePorts } from '../../devkit/control-plane.ts';
import { testCluster } from '../../test/helpers/cluster.ts';
import { eventually } from '../../test/helpers/wait.ts';
import type { LocalPrometheusTargets } from '../profile/prometheus.ts';
import { renderStack } from '../profile.ts';
import { type FunctionsPath, startFunctionsPath } from './delivery-path.ts';
import { type RunningPrometheus, startPrometheus } from './prometheus.ts';
import { type RecordingProxy, startRecordingProxy } from './recording-proxy.ts';

/**
 * How replicas of one Prometheus tell themselves apart, as prometheus-operator does it: an external label that is
 * dropped from the alerts, so both replicas' alerts are the same alert to Alertmanager.
 */
export const REPLICA_LABEL = 'prometheus_replica';

export interface ClusteredAlertmanager {
  name: string;
  url: string;
  /** Its way to the router: every webhook it sent, with the answer it got. */
  webhooks: RecordingProxy;
  /** Its place in the gossip cluster: 0 notifies at once, n waits n × peer timeout for the others to have done it. */
  position: number;
  logTail(lines?: number): string;
}

export interface HaStack extends FunctionsPath {
  prometheus: RunningPrometheus[];
  alertmanagers: ClusteredAlertmanager[];
}

export interface HaOptions {
  namespace: string;
  /** Kubernetes discovery and kube-state-metrics, as for a single Prometheus (alertmanagerUrl is replaced). */
  local: Omit<LocalPrometheusTargets, 'alertmanagerUrl'>;
  replicas?: number;
  /** The actions' cooldown; default: their production default. */
  cooldownSeconds?: number;
}

interface Status {
  cluster: { name: string; status: string; peers: { name: string; address: string }[] };
}

/** Everything is stopped when the test ends. */
export async function startHaStack(t: ExecutionContext, options: HaOptions): Promise<HaStack> {
  const replicas = options.replicas ?? 2;
  const cluster = await testCluster();
  const binary = resolveBinaries(['alertmanager']).alertmanager;
  const functions = await startFunctionsPath(t, {
    namespace: options.namespace,
    ...(options.cooldownSeconds !== undefined ? { cooldownSeconds: options.cooldownSeconds } : {}),
  });
  const ports = await freePorts(replicas * 2);
  const web = ports.slice(0, replicas).map((port) => `127.0.0.1:${port}`);
  const gossip = ports.slice(replicas).map((port) => `127.0.0.1:${port}`);

  const started: Omit<ClusteredAlertmanager, 'position'>[] = [];
  for (let i = 0; i < replicas; i += 1) {
    const name = `alertmanager-${i}`;
    const webhooks = await startRecordingProxy(functions.routerUrl);
    t.teardown(() => webhooks.close());
    const dir = join(functions.dir, name);
    const rendered = await renderStack({
      profile: 'fast',
      outDir: dir,
      router: { url: `${webhooks.url}/`, tokenFile: functions.tokenFile },
    });
    const proc = await cluster.startProcess(`${name}-${ports[i]}`, binary, [
      ...rendered.alertmanagerArgs,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=${web[i]}`,
      `--cluster.listen-address=${gossip[i]}`,
      `--cluster.advertise-address=${gossip[i]}`,
      ...gossip.filter((_, j) => j !== i).map((peer) => `--cluster.peer=${peer}`),
      // Debug: which notifications the cluster deduplicated, for a failing test's log.
      '--log.level=debug',
    ]);
    t.teardown(() => proc.stop());
    started.push({ name, url: `http://${web[i]}`, webhooks, logTail: (lines) => proc.logTail(lines) });
  }
  // Ready, and each sees every peer: only then do their positions (and so who notifies first) hold.
  const statuses = await Promise.all(
    started.map((am) =>
      eventually(
        `${am.name} clustered with ${replicas - 1} peer(s)`,
        async () => {
          const status = (await (await fetch(`${am.url}/api/v2/status`)).json()) as Status;
          return status.cluster.status === 'ready' && status.cluster.peers.length === replicas && status;
        },
        { timeoutMs: 60_000 },
      ),
    ),
  );
  const alertmanagers = started.map((am, i) => {
    const status = statuses[i] as Status;
    const names = status.cluster.peers.map((peer) => peer.name).sort();
    return { ...am, position: names.indexOf(status.cluster.name) };
  });

  const prometheus: RunningPrometheus[] = [];
  for (let i = 0; i < replicas; i += 1) {
    const rendered = await renderStack({
      profile: 'fast',
      outDir: join(functions.dir, `prometheus-${i}`),
      local: { ...options.local, alertmanagerUrl: `http://${web[0]}` },
    });
    // Every replica alerts every Alertmanager, and drops its replica label from the alerts.
    const config = parse(await readFile(rendered.prometheusConfig, 'utf8')) as {
      global: Record<string, unknown>;
      alerting: {
        alertmanagers: { static_configs: { targets: string[] }[] }[];
        alert_relabel_configs?: unknown[];
      };
    };
    config.global.external_labels = { [REPLICA_LABEL]: `prometheus-${i}` };
    for (const target of config.alerting.alertmanagers) target.static_configs = [{ targets: web }];
    config.alerting.alert_relabel_configs = [{ action: 'labeldrop', regex: REPLICA_LABEL }];
    await writeFile(rendered.prometheusConfig, stringify(config, { lineWidth: 0 }));
    prometheus.push(await startPrometheus(t, rendered.prometheusArgs));
  }
  return { ...functions, prometheus, alertmanagers };
}
