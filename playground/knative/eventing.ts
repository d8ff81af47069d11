// Knative Eventing for real against a local control plane: the module's own config applied as it is (CRDs, roles,
// ConfigMaps, Services, Deployments), the Deployments' pods run as the built binaries on a process node, the admission
// webhooks reached by the API server, and a cluster-DNS proxy carrying the data plane's HTTP (ingress → channel →
// filter → subscribers) between the pods and this host.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdmissionregistrationV1Api,
  ApiException,
  ApiextensionsV1Api,
  AppsV1Api,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { resolveKnativeEventing } from '../../devkit/binaries.ts';
import type { ControlPlane } from '../../devkit/control-plane.ts';
import { type ClusterDns, type Endpoint, startClusterDns } from './cluster-dns.ts';
import {
  EVENTING_NAMESPACE,
  mainContainer,
  planEventing,
  RUN_IMAGES,
  readConfig,
  WEBHOOK_SERVICES,
  webhookConfigurations,
} from './eventing-config.ts';
import { sandboxProblem } from './pod-sandbox.ts';
import { type ProcessNode, shortId, startProcessNode } from './process-node.ts';

const FIELD_MANAGER = 'selfheal-knative';

export type Eventing = {
  dns: ClusterDns;
  node: ProcessNode;
  /** A local URL for a cluster URL (e.g. a Broker's address), for clients that do not use the proxy. */
  localUrl(url: string): string;
  /** What of the module's config does not run here, and why. */
  leftOut: string[];
  /** The last lines of each component's log. */
  logs(lines?: number): string;
  stop(): Promise<void>;
};

export type EventingOptions = {
  log?: (line: string) => void;
  /** Default 180 s: seven Go processes starting on a busy machine. */
  readyTimeoutMs?: number;
};

export class EventingStartError extends Error {
  override name = 'EventingStartError';
}

/**
 * Applies objects with kubectl's server-side apply, as a user installs Knative (kubectl, not a typed client: the
 * client's models drop schema keys such as x-kubernetes-preserve-unknown-fields from a CRD).
 */
export async function applyObjects(
  cluster: ControlPlane,
  objects: KubernetesObject[],
  options: { dryRun?: boolean } = {},
): Promise<void> {
  // An admission webhook that is not answering yet (its pod restarting, or slow to listen on a busy machine) is
  // waited for, as `kubectl apply` in a retrying installer would; any other failure is the answer.
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      return await applyOnce(cluster, objects, options.dryRun ?? false);
    } catch (err) {
      const message = (err as Error).message;
      if (
        !/failed calling webhook[\s\S]*(connection refused|i\/o timeout|no route to host|context deadline exceeded)/.test(
          message,
        )
      )
        throw err;
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

async function applyOnce(cluster: ControlPlane, objects: KubernetesObject[], dryRun: boolean): Promise<void> {
  if (objects.length === 0) return;
  const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects });
  await new Promise<void>((resolve, reject) => {
    const child = execFile(
      cluster.binaries.kubectl,
      [
        `--kubeconfig=${cluster.kubeconfigPath}`,
        'apply',
        '--server-side',
        '--force-conflicts',
        `--field-manager=${FIELD_MANAGER}`,
        // A server-side dry run still goes through every admission webhook: Knative's defaults and validation.
        ...(dryRun ? ['--dry-run=server'] : []),
        '-f',
        '-',
      ],
      { maxBuffer: 16 << 20, timeout: 120_000 },
      (err, _stdout, stderr) =>
        err ? reject(new Error(`kubectl apply failed: ${stderr || err.message}`)) : resolve(),
    );
    child.stdin?.end(list);
  });
}

async function until<T>(
  what: string,
  deadline: number,
  check: () => Promise<T | undefined>,
  describe: () => string,
): Promise<T> {
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const error = last instanceof Error ? ` (last error: ${last.message})` : '';
      throw new EventingStartError(`Knative Eventing: ${what} did not happen in time${error}\n${describe()}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function startEventing(cluster: ControlPlane, options: EventingOptions = {}): Promise<Eventing> {
  const log = options.log ?? (() => {});
  const deadline = Date.now() + (options.readyTimeoutMs ?? 180_000);
  const { binaries, configDir } = resolveKnativeEventing();
  const problem = sandboxProblem();
  if (problem) throw new EventingStartError(`Knative Eventing cannot run here: ${problem}`);
  const kc = cluster.kubeConfig();
  const dir = await mkdtemp(join(tmpdir(), 'kn-'));
  let node: ProcessNode | undefined;
  const reach = (podIP: string, port: number): Endpoint | undefined => node?.reach(podIP, port);
  const dns = await startClusterDns(kc, reach);
  const stop = async () => {
    await node?.stop();
    await dns.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const apiPort = Number(new URL(cluster.server).port);
    const dnsPort = Number(new URL(dns.url).port);
    const images = Object.fromEntries(Object.entries(RUN_IMAGES).map(([image, b]) => [image, binaries[b]]));
    node = await startProcessNode({
      cluster,
      nodeName: `knative-${shortId()}`,
      dir,
      images,
      outbound: [apiPort, dnsPort],
      env: {
        // Event deliveries (Go's default transport) go through the proxy that knows the cluster's names; the API
        // server is at a loopback address, which Go never proxies.
        HTTP_PROXY: dns.url,
        NO_PROXY: '127.0.0.1,localhost',
        CLUSTER_DOMAIN: 'cluster.local',
      },
      log,
    });
    const placed = node;
    const plan = planEventing(readConfig(configDir), placed.placement);
    const describe = () =>
      plan.deployments
        .map((d) => {
          const name = d.metadata?.name ?? '';
          return `${name}:\n${logTail(placed, name, 8)}`;
        })
        .join('\n');

    await applyObjects(cluster, plan.crds);
    const extensions = kc.makeApiClient(ApiextensionsV1Api);
    await until(
      'CRDs established',
      deadline,
      async () => {
        for (const crd of plan.crds) {
          const read = await extensions.readCustomResourceDefinition({ name: crd.metadata?.name as string });
          if (!read.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'))
            return undefined;
        }
        return true;
      },
      () => '',
    );
    await applyObjects(cluster, plan.setup);
    await applyObjects(cluster, plan.deployments);
    log(
      `applied ${plan.crds.length} CRDs, ${plan.setup.length} objects, ${plan.deployments.length} Deployments`,
    );

    // The admission webhooks, once their pods serve: the API server reaches each on this host (ExternalName).
    const ports = await until(
      'webhook pods running',
      deadline,
      async () => {
        const found: Record<string, number> = {};
        for (const [service, deployment] of Object.entries(WEBHOOK_SERVICES)) {
          const port = await webhookHostPort(kc, placed, deployment);
          if (port === undefined) return undefined;
          found[service] = port;
        }
        return found;
      },
      describe,
    );
    const hooks = webhookConfigurations(plan.webhooks, ports);
    await applyObjects(cluster, hooks);
    const admission = kc.makeApiClient(AdmissionregistrationV1Api);
    await until(
      'webhook certificates published',
      deadline,
      async () => {
        for (const hook of hooks) {
          const name = hook.metadata?.name as string;
          const read =
            hook.kind === 'MutatingWebhookConfiguration'
              ? await admission.readMutatingWebhookConfiguration({ name })
              : await admission.readValidatingWebhookConfiguration({ name });
          if (!read.webhooks?.every((w) => (w.clientConfig.caBundle ?? '').length > 0)) return undefined;
        }
        return true;
      },
      describe,
    );

    const apps = kc.makeApiClient(AppsV1Api);
    await until(
      'every Deployment available',
      deadline,
      async () => {
        for (const d of plan.deployments) {
          const read = await apps.readNamespacedDeployment({
            namespace: EVENTING_NAMESPACE,
            name: d.metadata?.name as string,
          });
          if (!read.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True'))
            return undefined;
        }
        return true;
      },
      describe,
    );
    log('Knative Eventing ready');
    return {
      dns,
      node: placed,
      localUrl(url) {
        const resolved = dns.resolve(url);
        if (!resolved.ok) throw new Error(`cannot reach ${url}: ${resolved.reason}`);
        const u = new URL(url);
        return `http://${resolved.endpoint.host}:${resolved.endpoint.port}${u.pathname}${u.search}`;
      },
      leftOut: plan.leftOut,
      logs: (lines = 20) =>
        plan.deployments
          .map((d) => `--- ${d.metadata?.name}\n${logTail(placed, d.metadata?.name ?? '', lines)}`)
          .join('\n'),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function podsOfDeployment(node: ProcessNode, deployment: string): string[] {
  return node.podNames().filter((name) => name.startsWith(`${EVENTING_NAMESPACE}/${deployment}-`));
}

function logTail(node: ProcessNode, deployment: string, lines: number): string {
  return (
    podsOfDeployment(node, deployment)
      .map((k) => {
        const [namespace = '', name = ''] = k.split('/');
        return node.sandboxOf(namespace, name)?.process.logTail(lines) ?? '(not started)';
      })
      .join('\n') || '(no pod yet)'
  );
}

async function webhookHostPort(
  kc: KubeConfig,
  node: ProcessNode,
  deployment: string,
): Promise<number | undefined> {
  const apps = kc.makeApiClient(AppsV1Api);
  let d: Awaited<ReturnType<typeof apps.readNamespacedDeployment>>;
  try {
    d = await apps.readNamespacedDeployment({ namespace: EVENTING_NAMESPACE, name: deployment });
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
  const container = mainContainer(d);
  const webhookPort =
    container?.ports?.find((p) => p.name === 'https-webhook')?.containerPort ??
    Number(container?.env?.find((e) => e.name === 'WEBHOOK_PORT')?.value ?? 8443);
  for (const k of podsOfDeployment(node, deployment)) {
    const [namespace = '', name = ''] = k.split('/');
    const port = node.sandboxOf(namespace, name)?.hostPort(webhookPort);
    if (port !== undefined) return port;
  }
  return undefined;
}
