// The Kubernetes operations the actions need, over @kubernetes/client-node (in a pod: in-cluster config;
// outside: KUBECONFIG). The client is imported lazily (kube-client.ts), so modules that never call createKube never load it.

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type {
  AppsV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  CoreV1Event,
  KubeConfig,
  ObservableMiddleware,
  RequestContext,
  ResponseContext,
  V1DaemonSet,
  V1Deployment,
  V1Pod,
  V1ReplicaSet,
  V1Scale,
  V1StatefulSet,
} from '@kubernetes/client-node';
import { fromKubernetesError, type KubeOperation, SelfhealError } from './errors.ts';
import type { TokenReviewResult } from './oidc.ts';

export type {
  CoreV1Event,
  KubeConfig,
  V1DaemonSet,
  V1Deployment,
  V1Pod,
  V1ReplicaSet,
  V1Scale,
  V1StatefulSet,
};

// The workloads selfheal acts on (each replaces its pods itself), and those of them with a scale subresource.
export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];
export type ScalableKind = Exclude<WorkloadKind, 'DaemonSet'>;
export type WorkloadObject = V1Deployment | V1StatefulSet | V1DaemonSet;

const RESOURCE: Record<WorkloadKind, string> = {
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
};

export type WriteOptions = { dryRun: boolean };

// Delete only this incarnation of the pod (uid), and, with a resourceVersion, only in the state it was read in.
export type PodPreconditions = { uid: string; resourceVersion?: string | undefined };

// 'changed': the pod exists but no longer matches the preconditions (read it again and decide again).
export type PodRemoval = 'removed' | 'gone' | 'changed';
// 'blocked': the API server refused the eviction because a PodDisruptionBudget allows no disruption now.
export type PodEviction = PodRemoval | { blocked: string };

// What the actions may do: narrow on purpose, matching the RBAC in manifests/base/rbac.
export interface KubeOps {
  // TokenReview: whether the API server accepts a bearer token for these audiences, and whose it is.
  reviewToken(token: string, audiences: string[]): Promise<TokenReviewResult>;
  readPod(namespace: string, name: string): Promise<V1Pod | undefined>;
  // A live list (a consistent read, not a controller's summary) of the pods a label selector matches.
  listPods(namespace: string, labelSelector: string): Promise<V1Pod[]>;
  // Deletes the pod only while the preconditions hold; 'gone' when it no longer exists.
  deletePod(
    namespace: string,
    name: string,
    preconditions: PodPreconditions,
    options: WriteOptions,
  ): Promise<PodRemoval>;
  // The Eviction API: the API server checks every PodDisruptionBudget of the pod and spends it atomically.
  evictPod(
    namespace: string,
    name: string,
    preconditions: PodPreconditions,
    options: WriteOptions,
  ): Promise<PodEviction>;
  readReplicaSet(namespace: string, name: string): Promise<V1ReplicaSet | undefined>;
  readWorkload(kind: WorkloadKind, namespace: string, name: string): Promise<WorkloadObject | undefined>;
  // The workloads of a kind a label selector matches (the opted-in ones, to find an episode by its alert).
  listWorkloads(kind: WorkloadKind, namespace: string, labelSelector: string): Promise<WorkloadObject[]>;
  // A strategic-merge patch; a metadata.resourceVersion in the patch makes it conditional (409 on change).
  patchWorkload(
    kind: WorkloadKind,
    namespace: string,
    name: string,
    patch: object,
    options: WriteOptions,
  ): Promise<WorkloadObject>;
  readScale(kind: ScalableKind, namespace: string, name: string): Promise<V1Scale>;
  replaceScale(
    kind: ScalableKind,
    namespace: string,
    name: string,
    scale: V1Scale,
    options: WriteOptions,
  ): Promise<V1Scale>;
  // `timeoutMs` bounds this write alone (an Event must never hold an answer as long as the action itself).
  createEvent(namespace: string, event: CoreV1Event, timeoutMs?: number): Promise<'created' | 'exists'>;
}

// tokenFile: act as the ServiceAccount whose token this file holds (a token Secret mounted as an OpenFaaS secret),
// whatever identity the pod runs as; the cluster still comes from KUBECONFIG or the in-cluster config.
export type KubeSource = {
  kubeconfig?: string | undefined;
  kubeConfig?: KubeConfig;
  tokenFile?: string | undefined;
};

const STRATEGIC_MERGE = 'application/strategic-merge-patch+json';

// Builds the client once (the function's init()); `kubeConfig` wins, then the KUBECONFIG path, then the
// in-cluster service account, then ~/.kube/config.
export async function loadKubeConfig(source: KubeSource): Promise<KubeConfig> {
  if (source.kubeConfig) return source.kubeConfig;
  const k8s = await import('./kube-client.ts');
  const kc = new k8s.KubeConfig();
  // client-node's loadFromDefault() falls back to http://localhost:8080 when nothing is configured; a function
  // must not guess, so without KUBECONFIG, a service account or ~/.kube/config it fails with a clear message.
  const home = join(homedir(), '.kube', 'config');
  try {
    if (source.kubeconfig) kc.loadFromFile(source.kubeconfig);
    else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else if (existsSync(home)) kc.loadFromFile(home);
  } catch (err) {
    throw new SelfhealError(
      'invalid',
      `cannot load the Kubernetes configuration${source.kubeconfig ? ` from ${source.kubeconfig}` : ''}: ${(err as Error).message}`,
    );
  }
  if (!kc.getCurrentCluster()) {
    throw new SelfhealError(
      'invalid',
      'no Kubernetes cluster configured: set KUBECONFIG, or run in a pod with a service account',
    );
  }
  return source.tokenFile ? withTokenFile(kc, source.tokenFile) : kc;
}

// The same cluster, authenticated by the token in `tokenFile`, re-read as client-node does for in-cluster tokens (a
// token with surrounding whitespace, as `kubectl create token | faas-cli secret create` may leave, is read once,
// trimmed). A ServiceAccount token Secret carries the cluster CA as ca.crt beside the token: used when present, so
// the pod's own service account mount is not needed at all.
function withTokenFile(kc: KubeConfig, tokenFile: string): KubeConfig {
  let text = '';
  try {
    text = readFileSync(tokenFile, 'utf8');
  } catch (err) {
    throw new SelfhealError(
      'invalid',
      `SELFHEAL_KUBE_TOKEN_FILE: cannot read ${tokenFile} (${(err as NodeJS.ErrnoException).code ?? err})`,
    );
  }
  const token = text.trim();
  if (!token) throw new SelfhealError('invalid', `SELFHEAL_KUBE_TOKEN_FILE: ${tokenFile} is empty`);
  const cluster = kc.getCurrentCluster();
  if (!cluster) return kc;
  const ca = join(dirname(tokenFile), 'ca.crt');
  const { caData: _data, caFile: _file, ...rest } = cluster;
  kc.loadFromClusterAndUser(
    existsSync(ca) ? { ...rest, caFile: ca } : cluster,
    token === text
      ? { name: 'selfheal-token-file', authProvider: { name: 'tokenFile', config: { tokenFile } } }
      : { name: 'selfheal-token-file', token },
  );
  return kc;
}

export async function createKube(source: KubeSource, { timeoutMs }: { timeoutMs: number }): Promise<KubeOps> {
  const k8s = await import('./kube-client.ts');
  const kc = await loadKubeConfig(source);
  const core: CoreV1Api = kc.makeApiClient(k8s.CoreV1Api);
  const apps: AppsV1Api = kc.makeApiClient(k8s.AppsV1Api);
  const authentication: AuthenticationV1Api = kc.makeApiClient(k8s.AuthenticationV1Api);

  // client-node builds a new undici Agent for every call, so each call would open (and hand shake) a TLS connection
  // of its own: the first call's agent is kept, and every later call goes through its connections.
  let dispatcher: ReturnType<RequestContext['getDispatcher']>;
  // Every call gets a deadline and the shared connection; patches also their content type.
  const options = (contentType?: string, deadlineMs = timeoutMs) => {
    const middleware: ObservableMiddleware = {
      pre: (ctx: RequestContext) => {
        dispatcher ??= ctx.getDispatcher();
        if (dispatcher) ctx.setDispatcher(dispatcher);
        if (contentType) ctx.setHeaderParam('Content-Type', contentType);
        ctx.setSignal(AbortSignal.timeout(deadlineMs));
        return new k8s.Observable(Promise.resolve(ctx));
      },
      post: (res: ResponseContext) => new k8s.Observable(Promise.resolve(res)),
    };
    return { middleware: [middleware], middlewareMergeStrategy: 'append' as const };
  };
  const dry = (o: WriteOptions) => (o.dryRun ? 'All' : undefined);
  const deleteOptions = (preconditions: PodPreconditions, o: WriteOptions) => ({
    preconditions,
    ...(o.dryRun ? { dryRun: ['All'] } : {}),
  });

  async function call<T>(op: KubeOperation, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw fromKubernetesError(err, op);
    }
  }
  // 404: already gone; 409: a precondition failed: another incarnation holds the name, or the pod changed.
  async function removal(run: () => Promise<unknown>): Promise<PodRemoval> {
    try {
      await run();
      return 'removed';
    } catch (err) {
      if (err instanceof SelfhealError && err.kind === 'gone') return 'gone';
      if (err instanceof SelfhealError && err.kind === 'conflict') return 'changed';
      throw err;
    }
  }
  async function read<T>(op: KubeOperation, run: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call(op, run);
    } catch (err) {
      if (err instanceof SelfhealError && err.kind === 'gone') return undefined;
      throw err;
    }
  }

  return {
    reviewToken: async (token, audiences) => {
      const review = await call({ verb: 'create', resource: 'tokenreviews' }, () =>
        authentication.createTokenReview(
          {
            body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } },
          },
          options(),
        ),
      );
      const status = review.status;
      return {
        authenticated: status?.authenticated === true,
        username: status?.user?.username,
        audiences: status?.audiences,
        error: status?.error,
      };
    },
    readPod: (namespace, name) =>
      read({ verb: 'get', resource: 'pods', namespace, name }, () =>
        core.readNamespacedPod({ namespace, name }, options()),
      ),
    listPods: async (namespace, labelSelector) =>
      (
        await call({ verb: 'list', resource: 'pods', namespace }, () =>
          core.listNamespacedPod({ namespace, labelSelector }, options()),
        )
      ).items,
    deletePod: (namespace, name, preconditions, o) =>
      removal(() =>
        call({ verb: 'delete', resource: 'pods', namespace, name }, () =>
          // With a body the API server reads the delete options from it alone (query parameters such as
          // dryRun are ignored), so dryRun goes into the body next to the preconditions.
          core.deleteNamespacedPod({ namespace, name, body: deleteOptions(preconditions, o) }, options()),
        ),
      ),
    async evictPod(namespace, name, preconditions, o) {
      try {
        return await removal(() =>
          call({ verb: 'create', resource: 'pods/eviction', namespace, name }, () =>
            core.createNamespacedPodEviction(
              {
                namespace,
                name,
                body: {
                  apiVersion: 'policy/v1',
                  kind: 'Eviction',
                  metadata: { namespace, name },
                  deleteOptions: deleteOptions(preconditions, o),
                },
                dryRun: dry(o),
              },
              options(),
            ),
          ),
        );
      } catch (err) {
        // A PodDisruptionBudget allows no disruption now (the API server spent the budget atomically, so
        // concurrent evictions cannot both pass). A throttling 429 stays an error: 503, retried.
        if (err instanceof SelfhealError && err.reason === 'disruption-budget')
          return { blocked: err.message };
        throw err;
      }
    },
    readReplicaSet: (namespace, name) =>
      read({ verb: 'get', resource: 'replicasets', namespace, name }, () =>
        apps.readNamespacedReplicaSet({ namespace, name }, options()),
      ),
    readWorkload: (kind, namespace, name) =>
      read({ verb: 'get', resource: RESOURCE[kind], namespace, name }, (): Promise<WorkloadObject> => {
        const params = { namespace, name };
        if (kind === 'StatefulSet') return apps.readNamespacedStatefulSet(params, options());
        if (kind === 'DaemonSet') return apps.readNamespacedDaemonSet(params, options());
        return apps.readNamespacedDeployment(params, options());
      }),
    listWorkloads: (kind, namespace, labelSelector) =>
      call({ verb: 'list', resource: RESOURCE[kind], namespace }, async (): Promise<WorkloadObject[]> => {
        const params = { namespace, labelSelector };
        if (kind === 'StatefulSet') return (await apps.listNamespacedStatefulSet(params, options())).items;
        if (kind === 'DaemonSet') return (await apps.listNamespacedDaemonSet(params, options())).items;
        return (await apps.listNamespacedDeployment(params, options())).items;
      }),
    patchWorkload: (kind, namespace, name, patch, o) =>
      call({ verb: 'patch', resource: RESOURCE[kind], namespace, name }, (): Promise<WorkloadObject> => {
        const params = { namespace, name, body: patch, dryRun: dry(o), fieldManager: 'selfheal' };
        if (kind === 'StatefulSet') return apps.patchNamespacedStatefulSet(params, options(STRATEGIC_MERGE));
        if (kind === 'DaemonSet') return apps.patchNamespacedDaemonSet(params, options(STRATEGIC_MERGE));
        return apps.patchNamespacedDeployment(params, options(STRATEGIC_MERGE));
      }),
    readScale: (kind, namespace, name) =>
      call({ verb: 'get', resource: `${RESOURCE[kind]}/scale`, namespace, name }, () =>
        kind === 'StatefulSet'
          ? apps.readNamespacedStatefulSetScale({ namespace, name }, options())
          : apps.readNamespacedDeploymentScale({ namespace, name }, options()),
      ),
    replaceScale: (kind, namespace, name, scale, o) =>
      call({ verb: 'update', resource: `${RESOURCE[kind]}/scale`, namespace, name }, () => {
        const params = { namespace, name, body: scale, dryRun: dry(o), fieldManager: 'selfheal' };
        return kind === 'StatefulSet'
          ? apps.replaceNamespacedStatefulSetScale(params, options())
          : apps.replaceNamespacedDeploymentScale(params, options());
      }),
    async createEvent(namespace, event, eventTimeoutMs) {
      try {
        await call({ verb: 'create', resource: 'events', namespace }, () =>
          core.createNamespacedEvent({ namespace, body: event }, options(undefined, eventTimeoutMs)),
        );
        return 'created';
      } catch (err) {
        if (err instanceof SelfhealError && err.kind === 'conflict') return 'exists';
        throw err;
      }
    },
  };
}
