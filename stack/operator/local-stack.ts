// The monitoring prometheus-operator manages, run on this machine: selfheal's operator resources and a Prometheus and an
// Alertmanager resource applied to the control plane, the operator reconciling them, and the built Prometheus and
// Alertmanager running exactly the configuration it generated (made local: see localize.ts).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import { resolveBinaries } from '../../devkit/binaries.ts';
import { type ControlPlane, freePorts } from '../../devkit/control-plane.ts';
import type { ManagedProcess } from '../../devkit/processes.ts';
import type { ProfileName } from '../profile/timing.ts';
import { loadStack, PROMETHEUS_RETENTION_FLAG, ROUTER_RECEIVER } from '../source.ts';
import {
  conditionsOf,
  generatedAlertmanagerConfig,
  generatedPrometheusConfig,
  generatedRuleFiles,
  generatedTlsAssets,
  MONITORING_GROUP,
} from './cluster.ts';
import { localizePrometheusConfig } from './localize.ts';
import { profileSource } from './profile-source.ts';
import { operatorResources, RESOURCE_NAMES } from './resources.ts';

/** The name of the Prometheus and the Alertmanager resources. */
export const STACK_NAME = 'selfheal';
export const WEBHOOK_SECRET = { name: 'selfheal-webhook-token', key: 'token' } as const;

export interface OperatorStackOptions {
  cluster: ControlPlane;
  kc: KubeConfig;
  /** Where every resource goes; the operator must watch it. */
  namespace: string;
  profile: ProfileName;
  /** The router as Alertmanager reaches it. */
  routerUrl: string;
  webhookToken: string;
  /** Prometheus' discovery credentials: a kubeconfig of the ServiceAccount named below. */
  kubeconfigFile: string;
  serviceAccount: string;
  /** Resources that stand in for what kube-prometheus-stack scrapes itself (kube-state-metrics, the kubelets). */
  extraResources?: object[];
  /** A folder for the generated files and the data. */
  dir: string;
  /** Where Prometheus and Alertmanager listen on 127.0.0.1; default: free ports. */
  ports?: { prometheus: number; alertmanager: number };
  timeoutMs?: number;
}

export interface OperatorStack {
  prometheusUrl: string;
  alertmanagerUrl: string;
  /** The router receiver's name in the generated configuration: <namespace>/<AlertmanagerConfig>/<receiver>. */
  routerReceiver: string;
  processes: ManagedProcess[];
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(
  what: string,
  deadline: number,
  check: () => Promise<T | undefined | false>,
): Promise<T> {
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last instanceof Error ? ` (${last.message})` : ''}`);
    }
    await sleep(500);
  }
}

async function apply(kc: KubeConfig, objects: readonly object[]): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  for (const object of objects) {
    await client.patch(object, undefined, undefined, 'selfheal', true, PatchStrategy.ServerSideApply);
  }
}

export async function startOperatorStack(options: OperatorStackOptions): Promise<OperatorStack> {
  const { cluster, kc, namespace } = options;
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  const source = profileSource(await loadStack(), options.profile);
  const resources = operatorResources(source, {
    namespace,
    routerUrl: options.routerUrl,
    webhookTokenSecret: WEBHOOK_SECRET,
  });
  const monitoring = (kind: string, spec: object) => ({
    apiVersion: `${MONITORING_GROUP}/v1`,
    kind,
    metadata: { name: STACK_NAME, namespace },
    spec,
  });
  await apply(kc, [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: WEBHOOK_SECRET.name, namespace },
      stringData: { [WEBHOOK_SECRET.key]: options.webhookToken },
    },
    ...resources,
    ...(options.extraResources ?? []),
    monitoring('Prometheus', {
      replicas: 1,
      serviceAccountName: options.serviceAccount,
      podMonitorSelector: {},
      ruleSelector: {},
      scrapeConfigSelector: {},
      alerting: { alertmanagers: [{ namespace, name: 'alertmanager-operated', port: 'web' }] },
    }),
    // The alerts carry the namespace of the workload: see the README on alertmanagerConfigMatcherStrategy.
    monitoring('Alertmanager', {
      replicas: 1,
      alertmanagerConfigSelector: {},
      alertmanagerConfigMatcherStrategy: { type: 'None' },
    }),
  ]);

  for (const plural of ['prometheuses', 'alertmanagers']) {
    await until(`${plural}/${STACK_NAME} reconciled by prometheus-operator`, deadline, async () =>
      (await conditionsOf(kc, plural, namespace, STACK_NAME)).some(
        (c) => c.type === 'Reconciled' && c.status === 'True',
      ),
    );
  }
  const routerReceiver = `${namespace}/${RESOURCE_NAMES.alertmanagerConfig}/${ROUTER_RECEIVER}`;
  const prometheusText = await until('the generated Prometheus configuration', deadline, async () => {
    const text = await generatedPrometheusConfig(kc, namespace, STACK_NAME);
    return text.includes(RESOURCE_NAMES.workloads) && text;
  });
  const ruleFiles = await until('the generated rule files', deadline, async () => {
    const files = await generatedRuleFiles(kc, namespace, STACK_NAME);
    return Object.keys(files).length > 0 && files;
  });
  const alertmanagerText = await until('the generated Alertmanager configuration', deadline, async () => {
    const text = await generatedAlertmanagerConfig(kc, namespace, STACK_NAME);
    return text.includes(routerReceiver) && text;
  });

  const ruleDir = join(options.dir, 'rules');
  const certDir = join(options.dir, 'certs');
  await Promise.all([mkdir(ruleDir, { recursive: true }), mkdir(certDir, { recursive: true })]);
  for (const [name, text] of Object.entries(ruleFiles)) await writeFile(join(ruleDir, name), text);
  for (const [name, data] of Object.entries(await generatedTlsAssets(kc, namespace, STACK_NAME))) {
    await writeFile(join(certDir, name), data, { mode: 0o600 });
  }
  const [prometheusPort, alertmanagerPort] = options.ports
    ? [options.ports.prometheus, options.ports.alertmanager]
    : ((await freePorts(2)) as [number, number]);
  const prometheusFile = join(options.dir, 'prometheus.yaml');
  const alertmanagerFile = join(options.dir, 'alertmanager.yaml');
  await writeFile(
    prometheusFile,
    localizePrometheusConfig(prometheusText, {
      ruleDir,
      certDir,
      kubeconfigFile: options.kubeconfigFile,
      alertmanagers: [`127.0.0.1:${alertmanagerPort}`],
      podName: `prometheus-${STACK_NAME}-0`,
    }),
  );
  // The generated Alertmanager configuration needs nothing local: the token is inline, the router URL is ours.
  await writeFile(alertmanagerFile, alertmanagerText, { mode: 0o600 });

  const binaries = resolveBinaries(['prometheus', 'alertmanager']);
  const processes: ManagedProcess[] = [];
  const stop = async () => {
    for (const proc of processes.reverse()) await proc.stop().catch(() => undefined);
  };
  try {
    processes.push(
      await cluster.startProcess(`alertmanager-operator-${alertmanagerPort}`, binaries.alertmanager, [
        `--config.file=${alertmanagerFile}`,
        `--storage.path=${join(options.dir, 'alertmanager-data')}`,
        `--web.listen-address=127.0.0.1:${alertmanagerPort}`,
        '--cluster.listen-address=',
      ]),
      await cluster.startProcess(`prometheus-operator-managed-${prometheusPort}`, binaries.prometheus, [
        `--config.file=${prometheusFile}`,
        PROMETHEUS_RETENTION_FLAG,
        `--storage.tsdb.path=${join(options.dir, 'prometheus-data')}`,
        `--web.listen-address=127.0.0.1:${prometheusPort}`,
      ]),
    );
    const prometheusUrl = `http://127.0.0.1:${prometheusPort}`;
    const alertmanagerUrl = `http://127.0.0.1:${alertmanagerPort}`;
    for (const [url, proc] of [
      [prometheusUrl, processes[1]],
      [alertmanagerUrl, processes[0]],
    ] as const) {
      await until(`${url} ready`, deadline, async () => {
        if (!proc?.running) throw new Error(`exited:\n${proc?.logTail()}`);
        return (await fetch(`${url}/-/ready`)).ok;
      });
    }
    return { prometheusUrl, alertmanagerUrl, routerReceiver, processes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Credentials for the Prometheus resource: its ServiceAccount must exist where the resource is. */
export async function ensureServiceAccount(kc: KubeConfig, namespace: string, name: string): Promise<void> {
  await kc
    .makeApiClient(CoreV1Api)
    .createNamespacedServiceAccount({ namespace, body: { metadata: { name } } })
    .catch((error: { code?: number }) => {
      if (error.code !== 409) throw error;
    });
}
