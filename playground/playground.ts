// Starts the whole self-healing loop on this machine: control plane, node agent, kube-state-metrics, Prometheus,
// Alertmanager, the four functions and the sample app, wired exactly as in a cluster. The functions run as plain
// Deployments (platform `kubernetes`) or as OpenFaaS Community Edition runs them (`openfaas-ce`).
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { resolveBinaries } from '../devkit/binaries.ts';
import { type ControlPlane, freePorts, startControlPlane } from '../devkit/control-plane.ts';
import { startKubeStateMetrics } from '../devkit/kube-state-metrics.ts';
import type { ManagedProcess } from '../devkit/processes.ts';
import { renderStack } from '../stack/profile.ts';
import { type NodeAgent, startNodeAgent } from './agent/agent.ts';
import { startServiceProxy } from './agent/service-proxy.ts';
import { ACTIONS, FUNCTION_NAMESPACE, FUNCTIONS, playgroundFunctions } from './functions.ts';
import { functionImages, imagesDir } from './openfaas/images.ts';
import { CE_NAMESPACE, deployOpenFaasCe, functionNamespace } from './openfaas/platform.ts';
import { startOperatorMonitoring } from './operator-monitoring.ts';
import type { Profile } from './scenarios/catalog.ts';
import type { PlaygroundState } from './state.ts';
import { startTraffic, type Traffic } from './traffic.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const APP_NAMESPACE = 'demo';
export const APP_DEPLOYMENT = 'demo-app';
const VERSION = '0.1.0';

export const PLATFORMS = ['kubernetes', 'openfaas-ce'] as const;
export type Platform = (typeof PLATFORMS)[number];

export interface PlaygroundOptions {
  profile: Profile;
  /** How the functions are deployed; default `kubernetes`. */
  platform?: Platform;
  /** `bundled` (default): Prometheus and Alertmanager run the plain configuration; `operator`: what prometheus-operator
   * generates from selfheal's operator resources. */
  monitoring?: 'bundled' | 'operator';
  /** Requests a second to the sample app (0: none). */
  trafficPerSecond: number;
  progress: (line: string) => void;
  signal?: AbortSignal;
}

export interface Playground {
  state: PlaygroundState;
  cluster: ControlPlane;
  agent: NodeAgent;
  traffic: Traffic | undefined;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>, signal?: AbortSignal) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(500);
  }
}

const answers = async (url: string): Promise<boolean> =>
  (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;

/** Applies objects with kubectl's server-side apply, as an operator would. */
async function kubectlApply(cluster: ControlPlane, args: string[]): Promise<void> {
  const proc = await cluster.startProcess(
    `kubectl-apply-${Date.now()}`,
    cluster.binaries.kubectl,
    [
      '--kubeconfig',
      cluster.kubeconfigPath,
      'apply',
      '--server-side',
      '--field-manager=selfheal-playground',
      ...args,
    ],
    { cwd: ROOT },
  );
  const status = await proc.exited;
  if (status.code !== 0) throw new Error(`kubectl apply ${args.join(' ')} failed:\n${proc.logTail(20)}`);
}

async function applyObjects(cluster: ControlPlane, objects: KubernetesObject[], name: string): Promise<void> {
  const file = join(cluster.dir, `${name}.json`);
  await writeFile(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  await kubectlApply(cluster, ['-f', file]);
}

/** The ServiceAccount, ClusterRole and binding Prometheus runs with in production (not its Deployment). */
async function prometheusRbac(): Promise<KubernetesObject[]> {
  const text = await readFile(join(ROOT, 'manifests/base/monitoring/prometheus.yaml'), 'utf8');
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as KubernetesObject)
    .filter((o) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(o?.kind ?? ''));
}

async function deploymentAvailable(kc: KubeConfig, namespace: string, name: string): Promise<boolean> {
  const d = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace, name });
  const wanted = d.spec?.replicas ?? 1;
  return (d.status?.readyReplicas ?? 0) >= wanted && (d.status?.updatedReplicas ?? 0) >= wanted;
}

/** True once Prometheus scrapes the app pods, the node's cAdvisor and kube-state-metrics, and has loaded the rules. */
async function prometheusArmed(url: string): Promise<boolean> {
  const targets = (await (await fetch(new URL('/api/v1/targets?state=active', url))).json()) as {
    data: { activeTargets: Array<{ labels: Record<string, string>; health: string }> };
  };
  const up = targets.data.activeTargets.filter((t) => t.health === 'up');
  const appPods = up.filter((t) => t.labels.namespace === APP_NAMESPACE && t.labels.pod).length;
  const cadvisor = up.some((t) => /cadvisor/.test(t.labels.job ?? ''));
  const ksm = up.some((t) => /kube-state-metrics/.test(t.labels.job ?? ''));
  const rules = (await (await fetch(new URL('/api/v1/rules', url))).json()) as {
    data: { groups: Array<{ rules: unknown[] }> };
  };
  const ruleCount = rules.data.groups.reduce((n, g) => n + g.rules.length, 0);
  return appPods >= 2 && cadvisor && ksm && ruleCount >= 5;
}

export async function startPlayground(options: PlaygroundOptions): Promise<Playground> {
  const { progress, signal, profile } = options;
  const platform = options.platform ?? 'kubernetes';
  const functionsNamespace = platform === 'openfaas-ce' ? CE_NAMESPACE : FUNCTION_NAMESPACE;
  const binaries = resolveBinaries(['prometheus', 'alertmanager', 'kube-state-metrics']);
  const step = async <T>(label: string, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    progress(`${label} …`);
    const result = await run();
    progress(`${label}: done in ${((performance.now() - started) / 1000).toFixed(1)}s`);
    return result;
  };

  const cluster = await step(
    'starting the control plane (etcd, kube-apiserver, controller-manager, scheduler)',
    () => startControlPlane({ onProgress: (line) => progress(`  ${line}`), ...(signal ? { signal } : {}) }),
  );
  let agent: NodeAgent | undefined;
  let traffic: Traffic | undefined;
  const stoppers: Array<() => Promise<void>> = [];
  let bundles: string | undefined;
  const stop = async (): Promise<void> => {
    traffic?.stop();
    for (const stopOne of stoppers.reverse()) await stopOne().catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    if (bundles) await rm(bundles, { recursive: true, force: true });
    await cluster.stop();
  };

  try {
    const kc = cluster.kubeConfig();
    // On OpenFaaS CE the function images run as built: their bundles (CE's probes give a container about 6 s).
    let images: Awaited<ReturnType<typeof functionImages>> | undefined;
    if (platform === 'openfaas-ce') {
      const dir = imagesDir();
      bundles = dir;
      images = await step('building the function images (bundles)', () => functionImages(dir));
    }
    agent = await step('starting the local node agent', () =>
      startNodeAgent({
        ...(images ? { images } : {}),
        kubeConfig: kc,
        servingCert: (hosts) => cluster.issueServingCert(hosts),
        clientCaPath: cluster.caCertPath,
        rootDir: join(cluster.dir, 'node'),
        log: (line) => progress(`  node: ${line}`),
      }),
    );
    const ksm = await step('starting kube-state-metrics', () => startKubeStateMetrics(cluster));

    await step('applying namespaces, RBAC and the sample app', async () => {
      await kubectlApply(cluster, ['-f', 'manifests/base/namespaces.yaml']);
      // On OpenFaaS CE the function RBAC comes with the functions (the openfaas overlay's).
      if (platform === 'openfaas-ce')
        await applyObjects(cluster, [functionNamespace()], 'openfaas-namespace');
      else await kubectlApply(cluster, ['-k', 'manifests/base/rbac']);
      await applyObjects(cluster, await prometheusRbac(), 'prometheus-rbac');
      for (const file of ['deployment', 'service', 'pdb']) {
        await kubectlApply(cluster, ['-f', `manifests/base/demo-app/${file}.yaml`]);
      }
    });

    // No kube-proxy here: the service proxy plays the Services' cluster addresses on loopback ports.
    const proxy = await startServiceProxy(kc, [
      ...FUNCTIONS.map((name) => ({ namespace: functionsNamespace, name, port: 8080 })),
      { namespace: APP_NAMESPACE, name: APP_DEPLOYMENT, port: 3000 },
    ]);
    stoppers.push(() => proxy.stop());
    const serviceUrl = (namespace: string, name: string, port: number): string => {
      const url = proxy.url(namespace, name, port);
      if (!url) throw new Error(`the service proxy has no address for ${namespace}/${name}:${port}`);
      return url;
    };

    // Chosen before the functions start: the actions post SelfhealEscalation to this Alertmanager.
    const [prometheusPort, alertmanagerPort] = (await freePorts(2)) as [number, number];
    const alertmanagerUrl = `http://127.0.0.1:${alertmanagerPort}`;
    const webhookToken = randomBytes(24).toString('base64url');
    const actionToken = randomBytes(24).toString('base64url');
    const cooldownSeconds = profile === 'fast' ? 15 : 120;
    // A demo walks the escalation chain in minutes: short deadlines (production: 600 s, 600 s, 3600 s).
    const loop =
      profile === 'fast'
        ? { verifySeconds: 20, settleSeconds: 30, windowSeconds: 120 }
        : { verifySeconds: 120, settleSeconds: 180, windowSeconds: 600 };
    let routerUrl = '';
    let functionUrls: Record<string, string> = {};
    await step(`deploying the functions (router, restart-pod, redeploy, scale) on ${platform}`, async () => {
      if (platform === 'openfaas-ce') {
        const ce = await deployOpenFaasCe({
          kc,
          apply: (objects, name) => applyObjects(cluster, objects, name),
          serviceUrl: (namespace, name, port) => proxy.url(namespace, name, port),
          // faas-cli deploy --env: the playground's demo settings over stack.yml's.
          env: {
            SELFHEAL_COOLDOWN_SECONDS: String(cooldownSeconds),
            SELFHEAL_ACTION_BUDGET: '30',
            SELFHEAL_ALERTMANAGER_URL: alertmanagerUrl,
            SELFHEAL_VERIFY_SECONDS: String(loop.verifySeconds),
            SELFHEAL_SETTLE_SECONDS: String(loop.settleSeconds),
            SELFHEAL_EPISODE_WINDOW_SECONDS: String(loop.windowSeconds),
          },
          webhookToken,
          actionToken,
          ...(signal ? { signal } : {}),
        });
        stoppers.push(() => ce.gateway.stop());
        routerUrl = ce.routerUrl;
        functionUrls = ce.functionUrls;
        return;
      }
      const actionUrls = Object.fromEntries(
        ACTIONS.map((a) => [a, serviceUrl(FUNCTION_NAMESPACE, a, 8080)]),
      ) as Record<(typeof ACTIONS)[number], string>;
      await applyObjects(
        cluster,
        playgroundFunctions({
          actionUrls,
          namespaces: [APP_NAMESPACE],
          cooldownSeconds,
          alertmanagerUrl,
          loop,
          webhookToken,
          actionToken,
          version: VERSION,
        }),
        'functions',
      );
      functionUrls = Object.fromEntries(FUNCTIONS.map((f) => [f, serviceUrl(FUNCTION_NAMESPACE, f, 8080)]));
      routerUrl = `${functionUrls.router}/`;
    });

    const stackDir = join(cluster.dir, 'stack');
    // The plain configuration of stack/, rendered for this machine, run by the built Prometheus and Alertmanager.
    const startBundledMonitoring = async (): Promise<{ prometheusUrl: string; alertmanagerUrl: string }> => {
      const tokenFile = join(stackDir, 'webhook-token');
      const prometheusTokenFile = join(stackDir, 'prometheus-token');
      const prometheusKubeconfig = join(stackDir, 'prometheus.kubeconfig');
      const prometheusUrl = `http://127.0.0.1:${prometheusPort}`;
      const rendered = await step(`rendering the ${profile} profile of the production stack`, async () => {
        const promToken = await cluster.mintToken(FUNCTION_NAMESPACE, 'prometheus', {
          expirationSeconds: 7 * 86400,
        });
        const result = await renderStack({
          profile,
          outDir: stackDir,
          local: {
            kubeconfigFile: prometheusKubeconfig,
            apiServer: {
              url: cluster.server,
              caFile: cluster.caCertPath,
              bearerTokenFile: prometheusTokenFile,
            },
            kubeStateMetricsUrl: `${ksm.url}/metrics`,
            alertmanagerUrl,
          },
          router: { url: routerUrl, tokenFile },
        });
        await writeFile(tokenFile, webhookToken, { mode: 0o600 });
        await writeFile(prometheusTokenFile, promToken, { mode: 0o600 });
        await writeFile(prometheusKubeconfig, cluster.kubeconfigTextForToken(promToken), { mode: 0o600 });
        return result;
      });

      const processes: ManagedProcess[] = [];
      await step('starting Prometheus and Alertmanager', async () => {
        processes.push(
          await cluster.startProcess('prometheus', binaries.prometheus, [
            ...rendered.prometheusArgs,
            `--storage.tsdb.path=${join(stackDir, 'prometheus-data')}`,
            `--web.listen-address=127.0.0.1:${prometheusPort}`,
          ]),
          await cluster.startProcess('alertmanager', binaries.alertmanager, [
            `--config.file=${join(stackDir, 'alertmanager.yml')}`,
            `--storage.path=${join(stackDir, 'alertmanager-data')}`,
            `--web.listen-address=127.0.0.1:${alertmanagerPort}`,
            '--cluster.listen-address=',
          ]),
        );
        await waitFor('Prometheus to be ready', 60_000, () => answers(`${prometheusUrl}/-/ready`), signal);
        await waitFor(
          'Alertmanager to be ready',
          60_000,
          () => answers(`${alertmanagerUrl}/-/ready`),
          signal,
        );
      });
      return { prometheusUrl, alertmanagerUrl };
    };

    const { prometheusUrl } =
      options.monitoring === 'operator'
        ? await step(
            "prometheus-operator: reconciling selfheal's resources and running what it generates",
            async () =>
              startOperatorMonitoring({
                cluster,
                kc,
                namespace: FUNCTION_NAMESPACE,
                profile,
                routerUrl,
                webhookToken,
                kubeStateMetricsUrl: `${ksm.url}/metrics`,
                prometheusToken: await cluster.mintToken(FUNCTION_NAMESPACE, 'prometheus', {
                  expirationSeconds: 7 * 86400,
                }),
                dir: stackDir,
                ports: { prometheus: prometheusPort, alertmanager: alertmanagerPort },
                progress,
              }),
          )
        : await startBundledMonitoring();

    await step('waiting for the functions and the sample app to be ready', async () => {
      for (const name of FUNCTIONS) {
        await waitFor(
          `function ${name}`,
          180_000,
          () => deploymentAvailable(kc, functionsNamespace, name),
          signal,
        );
      }
      await waitFor(
        `${APP_DEPLOYMENT}`,
        180_000,
        () => deploymentAvailable(kc, APP_NAMESPACE, APP_DEPLOYMENT),
        signal,
      );
    });

    const appUrl = serviceUrl(APP_NAMESPACE, APP_DEPLOYMENT, 3000);
    if (options.trafficPerSecond > 0) traffic = startTraffic(`${appUrl}/`, options.trafficPerSecond);

    await step('arming the loop (Prometheus scraping the pods, cAdvisor and kube-state-metrics)', () =>
      waitFor('Prometheus targets and rules', 180_000, () => prometheusArmed(prometheusUrl), signal),
    );

    const state: PlaygroundState = {
      pid: process.pid,
      profile,
      platform,
      functionNamespace: functionsNamespace,
      startedAt: new Date().toISOString(),
      kubeconfig: cluster.kubeconfigPath,
      prometheusUrl,
      alertmanagerUrl,
      appUrl,
      appNamespace: APP_NAMESPACE,
      appDeployment: APP_DEPLOYMENT,
      functionUrls,
      logDir: cluster.dir,
    };
    return { state, cluster, agent, traffic, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
