// The targets of the remediation benchmarks, a fresh one for every remediation: a Pending pod of an opted-in
// Deployment (restart-pod), a Deployment of no replicas whose rollout is restarted (redeploy: a new ReplicaSet, no
// pods) or scaled from 0 to 1 and back before its next turn (scale); what selfheal's function and the baseline are
// asked, and whether the API server really changed.
import { randomBytes } from 'node:crypto';
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { ControlPlane } from '../devkit/control-plane.ts';
import { BREAKER_ANNOTATION } from '../functions/lib/breaker.ts';
import { EPISODES_ANNOTATION } from '../functions/lib/episodes.ts';
import { buildActionEvent } from '../functions/lib/events.ts';
import { toMessage } from '../functions/router/deliver.ts';
import type { Action, CallTarget } from './baselines/calls.ts';
import { createDeployments, serviceAccountKubeconfig, waitForPods } from './cluster.ts';
import { type Answer, post } from './processes.ts';

export interface Target {
  action: Action;
  namespace: string;
  deployment: string;
  pod?: string;
  /** What the change is checked against: the Deployment's generation and replicas before it. */
  generation: number;
  replicas: number;
}

/**
 * With SELFHEAL_COOLDOWN_SECONDS=0 and a budget larger than any run, selfheal acts on a Deployment again and again
 * as a benchmark needs; everything else (opt-in, ledger, guards, Event) is as shipped.
 */
export const REPEATABLE_ENV = {
  SELFHEAL_COOLDOWN_SECONDS: '0',
  SELFHEAL_ACTION_BUDGET: '1000',
  SELFHEAL_ACTION_WINDOW_SECONDS: '60',
};

/** What a benchmark needs to run one action: its ServiceAccount as a kubeconfig, its targets, its function's env. */
export interface ActionSetUp {
  kubeconfig: string;
  pool: TargetPool;
  /** selfheal's function's environment: allowed in `namespace`, the router's token, REPEATABLE_ENV. */
  env: NodeJS.ProcessEnv;
}

export async function setUpAction(
  cluster: ControlPlane,
  namespace: string,
  action: Action,
  { targets, token, dir }: { targets: number; token: string; dir: string },
): Promise<ActionSetUp> {
  const kubeconfig = await serviceAccountKubeconfig(cluster, namespace, action, dir);
  const pool = new TargetPool(cluster.kubeConfig(), namespace, action, targets);
  await pool.setUp();
  const env = {
    SELFHEAL_NAMESPACES: namespace,
    SELFHEAL_ACTION_TOKEN: token,
    KUBECONFIG: kubeconfig,
    ...REPEATABLE_ENV,
  };
  return { kubeconfig, pool, env };
}

export class TargetPool {
  readonly #kc: KubeConfig;
  readonly #namespace: string;
  readonly #action: Action;
  readonly #deployments: string[];
  #next = 0;

  /** `count` Deployments named `<prefix>-<i>` (the prefix defaults to the action). */
  constructor(kc: KubeConfig, namespace: string, action: Action, count: number, prefix: string = action) {
    this.#kc = kc;
    this.#namespace = namespace;
    this.#action = action;
    this.#deployments = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  }

  async setUp(): Promise<void> {
    const replicas = this.#action === 'restart-pod' ? 2 : 0;
    await createDeployments(this.#kc, this.#namespace, this.#deployments, { replicas });
  }

  /** The next target, in rotation over the Deployments (set up untimed: pods made, replicas back at 0). */
  async next(): Promise<Target> {
    const deployment = this.#deployments[this.#next++ % this.#deployments.length] as string;
    const apps = this.#kc.makeApiClient(AppsV1Api);
    const namespace = this.#namespace;
    if (this.#action === 'scale') {
      const scale = await apps.readNamespacedDeploymentScale({ namespace, name: deployment });
      if ((scale.spec?.replicas ?? 0) !== 0) {
        await apps.patchNamespacedDeploymentScale(
          { namespace, name: deployment, body: { spec: { replicas: 0 } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      }
    }
    // Each round is a first alert on its workload: the episode an earlier round opened (and a breaker) is cleared, or
    // the closed loop would take the new alert for the old one returning and escalate it instead of acting.
    const object = await apps.readNamespacedDeployment({ namespace, name: deployment });
    const loop = [EPISODES_ANNOTATION, BREAKER_ANNOTATION].filter((k) => object.metadata?.annotations?.[k]);
    if (loop.length > 0) {
      await apps.patchNamespacedDeployment(
        {
          namespace,
          name: deployment,
          body: { metadata: { annotations: Object.fromEntries(loop.map((k) => [k, null])) } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    }
    // Clearing annotations changes neither the generation nor the replicas read above.
    const pods = this.#action === 'restart-pod' ? await waitForPods(this.#kc, namespace, deployment, 1) : [];
    return {
      action: this.#action,
      namespace,
      deployment,
      ...(pods[0] ? { pod: pods[0].metadata?.name as string } : {}),
      generation: object.metadata?.generation ?? 0,
      replicas: object.spec?.replicas ?? 0,
    };
  }

  /** Throws unless the API server holds the change `who` answered for. */
  async expectChanged(target: Target, who: string): Promise<void> {
    if (!(await this.changed(target))) {
      throw new Error(
        `${who} answered, but the API server shows no ${target.action} of ${target.deployment}`,
      );
    }
  }

  /** Whether the API server holds the change: the pod gone, the rollout restarted, the replicas raised. */
  async changed(target: Target): Promise<boolean> {
    const { namespace, deployment } = target;
    if (target.action === 'restart-pod') {
      const core = this.#kc.makeApiClient(CoreV1Api);
      const pod = await core
        .readNamespacedPod({ namespace, name: target.pod as string })
        .catch(() => undefined);
      return pod === undefined || pod.metadata?.deletionTimestamp !== undefined;
    }
    const object = await this.#kc
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ namespace, name: deployment });
    if (target.action === 'scale') return (object.spec?.replicas ?? 0) > target.replicas;
    return (
      (object.metadata?.generation ?? 0) > target.generation &&
      object.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'] !== undefined
    );
  }
}

/** What the router sends selfheal's action for this target: the CloudEvent of a fresh alert, in binary mode. */
export function actionMessage(
  target: Target,
  token: string,
): { headers: Record<string, string>; body: string } {
  const alertname = { 'restart-pod': 'HighMemoryUsage', redeploy: 'PodCrashLooping', scale: 'HighCPUUsage' }[
    target.action
  ];
  const event = buildActionEvent({
    action: target.action,
    alert: {
      name: alertname,
      fingerprint: randomBytes(8).toString('hex'),
      startsAt: new Date().toISOString(),
      labels: { alertname, namespace: target.namespace },
      annotations: {},
    },
    target: target.pod
      ? { namespace: target.namespace, kind: 'Pod', name: target.pod }
      : { namespace: target.namespace, kind: 'Deployment', name: target.deployment },
  });
  return toMessage(event, token);
}

/** What the baseline is asked for the same change. */
export function callTarget(target: Target): CallTarget {
  return {
    namespace: target.namespace,
    ...(target.pod ? { pod: target.pod } : { deployment: target.deployment }),
    ...(target.action === 'scale' ? { replicas: target.replicas + 1 } : {}),
  };
}

/** Asks selfheal's action at `url` to remediate `target` as the router would; throws unless it applied it. */
export async function askSelfheal(url: string, target: Target, token: string): Promise<Answer> {
  const message = actionMessage(target, token);
  const answer = await post(url, message.body, message.headers);
  const outcome =
    answer.status === 200 ? (JSON.parse(answer.text) as { outcome?: string }).outcome : undefined;
  if (outcome !== 'applied') throw new Error(`${target.action} answered ${answer.status}: ${answer.text}`);
  return answer;
}

/** Asks the single-call function at `url` for the same change; throws unless it answered 200. */
export async function askSingleCall(url: string, target: Target): Promise<Answer> {
  const answer = await post(url, callTarget(target));
  if (answer.status !== 200)
    throw new Error(`the single-call function answered ${answer.status}: ${answer.text}`);
  return answer;
}
