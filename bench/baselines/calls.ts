// The single Kubernetes API call that makes each action's change once, and nothing around it: delete the pod
// (restart-pod), set the pod template's restartedAt as `kubectl rollout restart` does (redeploy), set the replicas
// through the scale subresource (scale). The baselines of the remediation benchmarks make exactly this call.
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  Observable,
  PatchStrategy,
  type RequestContext,
  type ResponseContext,
  setHeaderOptions,
} from '@kubernetes/client-node';

export const ACTIONS = ['restart-pod', 'redeploy', 'scale'] as const;
export type Action = (typeof ACTIONS)[number];

/** What the call acts on: a pod (restart-pod), a Deployment, and for scale the replicas to set. */
export type CallTarget = { namespace: string; pod?: string; deployment?: string; replicas?: number };

export type SingleCall = (target: CallTarget) => Promise<void>;

const need = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`the call needs ${what}`);
  return value;
};

/**
 * The call of `action`. client-node would open a new TLS connection for every call (a new undici Agent each time):
 * like selfheal's client (functions/lib/kube.ts), the calls share the first one's, as a warm client does.
 */
export function singleCall(kc: KubeConfig, action: Action): SingleCall {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  let dispatcher: ReturnType<RequestContext['getDispatcher']>;
  const keep = {
    pre: (ctx: RequestContext) => {
      dispatcher ??= ctx.getDispatcher();
      if (dispatcher) ctx.setDispatcher(dispatcher);
      return new Observable(Promise.resolve(ctx));
    },
    post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
  };
  const options = { middleware: [keep], middlewareMergeStrategy: 'append' as const };
  const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch, options);
  const calls: Record<Action, SingleCall> = {
    'restart-pod': async ({ namespace, pod }) => {
      await core.deleteNamespacedPod({ namespace, name: need(pod, 'a pod') }, options);
    },
    redeploy: async ({ namespace, deployment }) => {
      const restartedAt = new Date().toISOString();
      const body = {
        spec: {
          template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': restartedAt } } },
        },
      };
      await apps.patchNamespacedDeployment(
        { namespace, name: need(deployment, 'a Deployment'), body },
        strategic,
      );
    },
    scale: async ({ namespace, deployment, replicas }) => {
      const name = need(deployment, 'a Deployment');
      const body = { metadata: { name, namespace }, spec: { replicas: need(replicas, 'the replicas') } };
      await apps.replaceNamespacedDeploymentScale({ namespace, name, body }, options);
    },
  };
  return calls[action];
}
