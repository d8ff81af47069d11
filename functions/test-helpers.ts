// Test support for the actions against the real control plane: the functions' RBAC applied into a test
// namespace, opted-in Deployments, StatefulSets and DaemonSets (with a test node), and an action started under
// faas-js-runtime with its own ServiceAccount.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type V1DaemonSet,
  type V1Deployment,
  type V1Pod,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import type { ExecutionContext } from 'ava';
import { type CloudEvent, HTTP } from 'cloudevents';
import { parseAllDocuments } from 'yaml';
import { NodeHeartbeat, registerNode } from '../playground/agent/node.ts';
import { serviceAccountKubeConfig } from '../test/helpers/cluster.ts';
import { eventually } from '../test/helpers/wait.ts';
import { actionFunction } from './lib/action-function.ts';
import { type Env, loadActionConfig } from './lib/config.ts';
import type { ActionLogic } from './lib/decision.ts';
import { type ActionEventData, type ActionName, buildActionEvent, type Target } from './lib/events.ts';
import { createLogger } from './lib/log.ts';
import { startFunction } from './lib/runtime.ts';

const RBAC_DIR = join(import.meta.dirname, '..', 'manifests', 'base', 'rbac');
const RBAC_FILES = ['serviceaccounts.yaml', 'clusterroles.yaml', 'rolebindings.yaml'];

type Manifest = KubernetesObject & { subjects?: Array<{ namespace?: string }> };

// The RBAC manifests as written, with the functions' namespace and the allowed namespace both set to `namespace`.
export function rbacManifests(namespace: string): Manifest[] {
  return RBAC_FILES.flatMap((file) =>
    parseAllDocuments(readFileSync(join(RBAC_DIR, file), 'utf8')).map((doc) => {
      const object = doc.toJS() as Manifest;
      if (object.metadata?.namespace) object.metadata.namespace = namespace;
      for (const subject of object.subjects ?? []) subject.namespace = namespace;
      return object;
    }),
  );
}

export async function applyRbac(kc: KubeConfig, namespace: string): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  for (const object of rbacManifests(namespace)) {
    await client.patch(object, undefined, undefined, 'selfheal-tests', true, PatchStrategy.ServerSideApply);
  }
}

export type DeploymentOptions = {
  replicas?: number;
  optIn?: boolean;
  annotations?: Record<string, string>;
  maxUnavailable?: number | string;
};

export async function createDeployment(
  kc: KubeConfig,
  namespace: string,
  name: string,
  { replicas = 2, optIn = true, annotations = {}, maxUnavailable }: DeploymentOptions = {},
): Promise<V1Deployment> {
  const apps = kc.makeApiClient(AppsV1Api);
  return apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name, labels: optIn ? { 'selfheal.dev/enabled': 'true' } : { app: name }, annotations },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        ...(maxUnavailable !== undefined
          ? { strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable, maxSurge: 1 } } }
          : {}),
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: 'app', image: 'registry.invalid/selfheal/app:1' }] },
        },
      },
    },
  });
}

export async function podsOf(kc: KubeConfig, namespace: string, app: string): Promise<V1Pod[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const { items } = await core.listNamespacedPod({ namespace, labelSelector: `app=${app}` });
  return items.filter((p) => !p.metadata?.deletionTimestamp);
}

export async function waitForPods(
  kc: KubeConfig,
  namespace: string,
  app: string,
  count: number,
): Promise<V1Pod[]> {
  return eventually(`${count} pods of ${namespace}/${app}`, async () => {
    const pods = await podsOf(kc, namespace, app);
    return pods.length === count && pods;
  });
}

// No kubelet here: report pods Ready through the status subresource, as a kubelet would (a patch: the
// scheduler writes its own condition to the same pods meanwhile).
export async function markReady(kc: KubeConfig, namespace: string, pods: V1Pod[]): Promise<V1Pod[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const now = new Date().toISOString();
  for (const pod of pods) {
    await core.patchNamespacedPodStatus(
      {
        namespace,
        name: pod.metadata?.name as string,
        body: {
          status: {
            phase: 'Running',
            conditions: [
              { type: 'Ready', status: 'True', lastTransitionTime: now },
              { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
            ],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
  }
  return pods;
}

export function alertEvent(
  action: ActionName,
  target: Target,
  alertname = 'TestAlert',
): CloudEvent<ActionEventData> {
  return buildActionEvent({
    action,
    alert: {
      name: alertname,
      fingerprint: randomBytes(8).toString('hex'),
      startsAt: new Date().toISOString(),
      labels: { alertname, namespace: target.namespace },
      annotations: {},
    },
    target,
  });
}

export type ActionResponse = { status: number; headers: Headers; body: Record<string, unknown> };

export async function sendEvent(url: string, event: CloudEvent<ActionEventData>): Promise<ActionResponse> {
  const message = HTTP.binary(event);
  const res = await fetch(url, {
    method: 'POST',
    headers: message.headers as Record<string, string>,
    body: message.body as string,
  });
  return { status: res.status, headers: res.headers, body: JSON.parse(await res.text()) };
}

export async function sendJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<ActionResponse> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: JSON.parse(await res.text()) };
}

export type StartActionOptions = {
  env?: Env;
  // Whose credentials the action uses (default: its own ServiceAccount from manifests/base/rbac).
  kubeConfig?: KubeConfig;
  serviceAccount?: string;
  beforeWrite?: (stage: string) => Promise<void>;
  // The action's clock (e.g. moved ahead, to pass a verification deadline without waiting for it).
  now?: () => Date;
};

// Starts `name` under faas-js-runtime on 127.0.0.1 (port 0) acting with the ServiceAccount `name` of `namespace`.
export async function startAction(
  t: ExecutionContext,
  name: ActionName,
  logic: ActionLogic,
  namespace: string,
  options: StartActionOptions = {},
): Promise<string> {
  const config = loadActionConfig(name, {
    SELFHEAL_NAMESPACES: namespace,
    SELFHEAL_COOLDOWN_SECONDS: '0',
    // The tests call the action directly; tests of the token set SELFHEAL_ACTION_TOKEN.
    SELFHEAL_ACTION_AUTH: 'platform',
    LOG_LEVEL: 'silent',
    ...options.env,
  });
  const kubeConfig =
    options.kubeConfig ?? (await serviceAccountKubeConfig(namespace, options.serviceAccount ?? name));
  const log = createLogger(name, config.logLevel);
  const mod = actionFunction(name, logic, {
    config: () => config,
    kubeConfig,
    log,
    ...(options.beforeWrite ? { beforeWrite: options.beforeWrite } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const running = await startFunction(mod, {
    name,
    host: '127.0.0.1',
    port: 0,
    bodyLimit: config.maxBodyBytes,
    maxInflight: config.maxInflight,
    log,
  });
  t.teardown(() => running.close());
  return running.url;
}

// The Events selfheal recorded in `namespace` about the object `name`.
export async function eventsAbout(kc: KubeConfig, namespace: string, name: string) {
  const core = kc.makeApiClient(CoreV1Api);
  const { items } = await core.listNamespacedEvent({
    namespace,
    fieldSelector: `involvedObject.name=${name}`,
  });
  return items.filter((e) => e.reportingComponent?.startsWith('selfheal/'));
}

export type SetOptions = {
  replicas?: number;
  optIn?: boolean;
  // The pods' `app` label (default: the name).
  app?: string;
  onDelete?: boolean;
};

const optInLabels = (optIn: boolean, app: string): Record<string, string> =>
  optIn ? { 'selfheal.dev/enabled': 'true', app } : { app };

// An opted-in StatefulSet whose pods start in parallel (no wait for the previous ordinal to become Ready).
export async function createStatefulSet(
  kc: KubeConfig,
  namespace: string,
  name: string,
  { replicas = 2, optIn = true, app = name, onDelete = false }: SetOptions = {},
): Promise<V1StatefulSet> {
  return kc.makeApiClient(AppsV1Api).createNamespacedStatefulSet({
    namespace,
    body: {
      metadata: { name, labels: optInLabels(optIn, app) },
      spec: {
        replicas,
        serviceName: name,
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: { app } },
        updateStrategy: onDelete ? { type: 'OnDelete' } : { type: 'RollingUpdate' },
        template: {
          metadata: { labels: { app } },
          spec: { containers: [{ name: 'app', image: 'registry.invalid/selfheal/app:1' }] },
        },
      },
    },
  });
}

// An opted-in DaemonSet; `node` pins it to one test node and tolerates that node's taint (see useNode).
export async function createDaemonSet(
  kc: KubeConfig,
  namespace: string,
  name: string,
  { optIn = true, app = name, node }: SetOptions & { node?: TestNode } = {},
): Promise<V1DaemonSet> {
  return kc.makeApiClient(AppsV1Api).createNamespacedDaemonSet({
    namespace,
    body: {
      metadata: { name, labels: optInLabels(optIn, app) },
      spec: {
        selector: { matchLabels: { app } },
        template: {
          metadata: { labels: { app } },
          spec: {
            containers: [{ name: 'app', image: 'registry.invalid/selfheal/app:1' }],
            ...(node
              ? {
                  nodeSelector: { 'kubernetes.io/hostname': node.name },
                  tolerations: [{ key: node.taint, operator: 'Exists', effect: 'NoSchedule' }],
                }
              : {}),
          },
        },
      },
    },
  });
}

export type TestNode = { name: string; taint: string };

// A Node of its own for this test, kept Ready by heartbeats (its Lease), tainted so that only pods tolerating it
// (a DaemonSet of this test) land there; removed when the test ends. There is no kubelet: a test finishes the
// graceful deletion of a pod bound to it (finishDeletion), as a kubelet would once the containers stopped.
export async function useNode(t: ExecutionContext, kc: KubeConfig): Promise<TestNode> {
  const name = `selfheal-test-${randomBytes(3).toString('hex')}`;
  const taint = 'selfheal.dev/test-node';
  const core = kc.makeApiClient(CoreV1Api);
  const spec = {
    nodeName: name,
    nodeIP: '127.0.0.1',
    kubeletPort: 10250,
    labels: {},
    taints: [{ key: taint, value: name, effect: 'NoSchedule' }],
    capacity: { cpu: '4', memory: '8Gi', pods: '20' },
  };
  const node = await registerNode(core, spec);
  const heartbeat = new NodeHeartbeat(
    core,
    kc.makeApiClient(CoordinationV1Api),
    node,
    spec,
    { leaseSeconds: 40, renewSeconds: 5, statusSeconds: 10 },
    () => {},
  );
  await heartbeat.renewLease();
  t.teardown(async () => {
    heartbeat.stop();
    await heartbeat.deregister();
  });
  return { name, taint };
}

// What a kubelet does once a deleted pod's containers stopped: removes the pod for good.
export async function finishDeletion(kc: KubeConfig, namespace: string, name: string): Promise<void> {
  await kc
    .makeApiClient(CoreV1Api)
    .deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 })
    .catch(() => {});
}

const isReady = (pod: V1Pod) =>
  pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

// Plays the kubelet: every pod of `name` reports Ready until the Deployment's rollout has finished with `replicas`.
export async function rolledOut(kc: KubeConfig, ns: string, name: string, replicas: number): Promise<void> {
  await eventually(
    `${name} rolled out with ${replicas} replicas`,
    async () => {
      for (const pod of await podsOf(kc, ns, name))
        if (!isReady(pod)) await markReady(kc, ns, [pod]).catch(() => undefined);
      const d = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: ns, name });
      const s = d.status;
      return (
        (s?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
        s?.updatedReplicas === replicas &&
        s?.availableReplicas === replicas &&
        s?.replicas === replicas
      );
    },
    { timeoutMs: 60_000 },
  );
}

export type WebhookAlert = {
  labels: Record<string, string>;
  fingerprint: string;
  startsAt: string;
  endsAt?: string;
};

// An Alertmanager webhook (version 4) as the production routing sends it, one group, posted with the router's token.
export async function postWebhook(
  routerUrl: string,
  token: string,
  alerts: WebhookAlert[],
  status: 'firing' | 'resolved' = 'firing',
): Promise<{ status: number; body: { results: Array<Record<string, unknown>> } }> {
  const alertname = alerts[0]?.labels.alertname ?? 'Test';
  const res = await fetch(routerUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      version: '4',
      status,
      receiver: 'selfheal-router',
      groupKey: `{}:{alertname="${alertname}"}`,
      truncatedAlerts: 0,
      groupLabels: { alertname },
      commonLabels: {},
      commonAnnotations: {},
      externalURL: 'http://alertmanager.invalid',
      alerts: alerts.map((a) => ({
        status,
        labels: { severity: 'critical', ...a.labels },
        annotations: {},
        startsAt: a.startsAt,
        endsAt: a.endsAt ?? '0001-01-01T00:00:00Z',
        generatorURL: '',
        fingerprint: a.fingerprint,
      })),
    }),
  });
  return { status: res.status, body: (await res.json()) as { results: Array<Record<string, unknown>> } };
}
