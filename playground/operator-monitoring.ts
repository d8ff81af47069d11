// `npm start -- --monitoring operator`: the playground's monitoring managed by prometheus-operator instead of run from
// the plain configuration. The operator reconciles selfheal's PrometheusRule, PodMonitors and AlertmanagerConfig (plus
// ScrapeConfigs standing in for what kube-prometheus-stack scrapes itself: kube-state-metrics and the kubelets'
// cAdvisor), and the built Prometheus and Alertmanager run the configuration it generates.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ControlPlane } from '../devkit/control-plane.ts';
import { installOperatorCrds, startOperator } from '../stack/operator/cluster.ts';
import { type OperatorStack, startOperatorStack } from '../stack/operator/local-stack.ts';
import { profileSource } from '../stack/operator/profile-source.ts';
import { standInScrapeConfigs } from '../stack/operator/stand-ins.ts';
import type { ProfileName } from '../stack/profile/timing.ts';
import { loadStack } from '../stack/source.ts';

export interface OperatorMonitoringOptions {
  cluster: ControlPlane;
  kc: KubeConfig;
  /** Where selfheal and its monitoring resources live. */
  namespace: string;
  profile: ProfileName;
  routerUrl: string;
  webhookToken: string;
  kubeStateMetricsUrl: string;
  /** A token of the production Prometheus ServiceAccount (in `namespace`), for discovery and the cAdvisor proxy. */
  prometheusToken: string;
  dir: string;
  /** Where Prometheus and Alertmanager listen (chosen beforehand: the actions post to Alertmanager); default: free. */
  ports?: { prometheus: number; alertmanager: number };
  progress: (line: string) => void;
}

export interface OperatorMonitoring extends OperatorStack {
  stopOperator(): Promise<void>;
}

export async function startOperatorMonitoring(
  options: OperatorMonitoringOptions,
): Promise<OperatorMonitoring> {
  const { cluster, progress } = options;
  progress('  applying prometheus-operator CRDs');
  await installOperatorCrds(cluster);
  const operator = await startOperator(cluster, [options.namespace]);
  progress(`  prometheus-operator running (log: ${operator.process.logPath})`);
  try {
    await mkdir(options.dir, { recursive: true });
    const kubeconfigFile = join(options.dir, 'prometheus.kubeconfig');
    await writeFile(kubeconfigFile, cluster.kubeconfigTextForToken(options.prometheusToken), { mode: 0o600 });
    const standIns = standInScrapeConfigs(profileSource(await loadStack(), options.profile), {
      namespace: options.namespace,
      kubeStateMetricsUrl: options.kubeStateMetricsUrl,
      apiServer: cluster.server,
      caPem: await readFile(cluster.caCertPath, 'utf8'),
      token: options.prometheusToken,
    });
    const stack = await startOperatorStack({
      cluster,
      kc: options.kc,
      namespace: options.namespace,
      profile: options.profile,
      routerUrl: options.routerUrl,
      webhookToken: options.webhookToken,
      kubeconfigFile,
      serviceAccount: 'prometheus',
      extraResources: standIns,
      dir: options.dir,
      ...(options.ports ? { ports: options.ports } : {}),
    });
    progress('  the operator reconciled Prometheus and Alertmanager; running the configuration it generated');
    return { ...stack, stopOperator: () => operator.process.stop() };
  } catch (error) {
    await operator.process.stop();
    throw error;
  }
}
