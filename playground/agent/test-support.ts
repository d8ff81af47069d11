// Test helpers for the node agent: an agent whose node only takes the pods meant for it, and pods of the test container.
import { randomBytes } from 'node:crypto';
import { type CoreV1Api, type V1Pod, type V1PodSpec, Watch } from '@kubernetes/client-node';
import type { ControlPlane } from '../../devkit/control-plane.ts';
import { type NodeAgent, type NodeAgentOptions, startNodeAgent } from './agent.ts';

export const TEST_IMAGE = 'ghcr.io/selfheal/agent-test-container:1';
const TAINT_KEY = 'selfheal.dev/agent-test';

export type TestAgent = NodeAgent & {
  /** nodeSelector + toleration that put a pod on this agent's node (and only there). */
  placement: Pick<V1PodSpec, 'nodeSelector' | 'tolerations'>;
};

/** An agent with fast back-off whose node is tainted, so other test files' pods never land on it. */
export async function startTestAgent(
  cluster: ControlPlane,
  options: Partial<NodeAgentOptions> = {},
): Promise<TestAgent> {
  const id = randomBytes(3).toString('hex');
  const nodeName = `agent-test-${id}`;
  const agent = await startNodeAgent({
    kubeConfig: cluster.kubeConfig(),
    nodeName,
    taints: [{ key: TAINT_KEY, value: id, effect: 'NoSchedule' }],
    servingCert: (hosts) => cluster.issueServingCert(hosts),
    clientCaPath: cluster.caCertPath,
    images: {
      'ghcr.io/selfheal/agent-test-container': {
        command: ['node', 'playground/agent/testdata/test-container.ts'],
      },
    },
    backOff: { initialMs: 1_000, maxMs: 4_000 },
    log: () => {},
    ...options,
  });
  return {
    ...agent,
    placement: {
      nodeSelector: { 'kubernetes.io/hostname': nodeName },
      tolerations: [{ key: TAINT_KEY, operator: 'Equal', value: id, effect: 'NoSchedule' }],
    },
  };
}

/** A pod of the test container serving on its pod IP, port 8080; Ready once it answers (1 s readiness probe). */
export function testPod(
  agent: TestAgent,
  name: string,
  opts: {
    env?: Record<string, string>;
    spec?: Partial<V1PodSpec>;
    container?: Partial<V1PodSpec['containers'][0]>;
  } = {},
): V1Pod {
  return {
    metadata: { name, labels: { app: name } },
    spec: {
      ...agent.placement,
      terminationGracePeriodSeconds: 5,
      containers: [
        {
          name: 'app',
          image: TEST_IMAGE,
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/readyz', port: 8080 }, periodSeconds: 1 },
          env: [
            { name: 'HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            ...Object.entries(opts.env ?? {}).map(([k, v]) => ({ name: k, value: v })),
          ],
          ...opts.container,
        },
      ],
      ...opts.spec,
    },
  };
}

export const readyCondition = (pod: V1Pod | undefined) =>
  pod?.status?.conditions?.find((c) => c.type === 'Ready')?.status;

/** GET a JSON path of a pod's test container. */
export async function podGet<T = Record<string, unknown>>(pod: V1Pod, path: string): Promise<T> {
  const response = await fetch(`http://${pod.status?.podIP}:8080${path}`);
  return (await response.json()) as T;
}

/** Records every version of one pod seen on a watch until it is deleted; resolves with the last one. */
export function watchUntilDeleted(cluster: ControlPlane, namespace: string, name: string): Promise<V1Pod> {
  return new Promise((resolve, reject) => {
    let last: V1Pod | undefined;
    let request: AbortController | undefined;
    new Watch(cluster.kubeConfig())
      .watch(
        `/api/v1/namespaces/${namespace}/pods`,
        { fieldSelector: `metadata.name=${name}` },
        (type, obj: V1Pod) => {
          last = obj;
          if (type === 'DELETED') {
            request?.abort();
            resolve(obj);
          }
        },
        (err) => {
          if (err && last?.metadata?.deletionTimestamp === undefined) reject(err);
        },
      )
      .then((r) => {
        request = r;
      }, reject);
  });
}

export async function eventsOf(core: CoreV1Api, namespace: string, pod: string) {
  const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${pod}` });
  return list.items;
}
