// restart-pod's disruption guard when the controllers lag: with kube-controller-manager paused (SIGSTOP), the
// Deployment's readyReplicas and the PodDisruptionBudget's disruptionsAllowed never move, so only a live pod count and
// the Eviction API (which spends the budget atomically in the API server) keep the ready pods up.
// It pauses a controller manager, so it runs against a control plane of its own, not the run's shared one.
import { AppsV1Api, CoreV1Api, type KubeConfig, PolicyV1Api } from '@kubernetes/client-node';
import test from 'ava';
import { type ControlPlane, startControlPlane } from '../../playground/cluster/control-plane.ts';
import { eventually } from '../../test/helpers/wait.ts';
import {
  type ActionResponse,
  alertEvent,
  applyRbac,
  createDeployment,
  markReady,
  podsOf,
  sendEvent,
  startAction,
  waitForPods,
} from '../test-helpers.ts';
import { restartPod } from './restart-pod.ts';

const REPLICAS = 4;

async function createNamespace(kc: KubeConfig, name: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  await eventually(`the default ServiceAccount of ${name}`, () =>
    core.readNamespacedServiceAccount({ name: 'default', namespace: name }),
  );
}

// A namespace with the functions' RBAC and an opted-in Deployment of 4 ready pods, settled by the controllers.
async function readyDeployment(cluster: ControlPlane, ns: string, maxUnavailable: number) {
  const kc = cluster.kubeConfig();
  await createNamespace(kc, ns);
  await applyRbac(kc, ns);
  await createDeployment(kc, ns, 'web', { replicas: REPLICAS, maxUnavailable });
  const pods = await markReady(kc, ns, await waitForPods(kc, ns, 'web', REPLICAS));
  await eventually(`${REPLICAS} ready replicas in ${ns}`, async () => {
    const d = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: ns, name: 'web' });
    return d.status?.readyReplicas === REPLICAS;
  });
  return pods;
}

// Retries 503 answers (as Alertmanager and the router do) until the action gives a final answer.
async function untilFinal(send: () => Promise<ActionResponse>): Promise<ActionResponse> {
  return eventually('a final answer (not 503)', async () => {
    const res = await send();
    return res.status !== 503 && res;
  });
}

test('with the controller manager paused, restart-pod never takes more ready pods than the Deployment or its PodDisruptionBudget allow', async (t) => {
  const cluster = await startControlPlane();
  const controllers = cluster.componentProcess('kube-controller-manager');
  if (!controllers) throw new Error('the control plane did not expose its controller manager');
  t.teardown(async () => {
    process.kill(controllers.pid, 'SIGCONT');
    await cluster.stop();
  });
  const kc = cluster.kubeConfig();

  // Deployment guard alone: replicas 4, maxUnavailable 1, no PodDisruptionBudget.
  const plainPods = await readyDeployment(cluster, 'lag-plain', 1);
  // PodDisruptionBudget alone binds: maxUnavailable 2 would allow two, minAvailable 3 allows one.
  const budgetPods = await readyDeployment(cluster, 'lag-pdb', 2);
  const policy = kc.makeApiClient(PolicyV1Api);
  await policy.createNamespacedPodDisruptionBudget({
    namespace: 'lag-pdb',
    body: { metadata: { name: 'web' }, spec: { minAvailable: 3, selector: { matchLabels: { app: 'web' } } } },
  });
  await eventually('the disruption controller to allow exactly one disruption', async () => {
    const pdb = await policy.readNamespacedPodDisruptionBudget({ namespace: 'lag-pdb', name: 'web' });
    return pdb.status?.currentHealthy === REPLICAS && pdb.status.disruptionsAllowed === 1;
  });

  process.kill(controllers.pid, 'SIGSTOP');

  const actionFor = async (ns: string) =>
    startAction(t, 'restart-pod', restartPod, ns, {
      kubeConfig: cluster.kubeConfigForToken(await cluster.mintToken(ns, 'restart-pod'), ns),
    });
  const eventFor = (ns: string, pod: string) =>
    alertEvent('restart-pod', { namespace: ns, kind: 'Pod', name: pod });

  // One event after the other: each sees the state the previous one left.
  const plainUrl = await actionFor('lag-plain');
  const sequential: ActionResponse[] = [];
  for (const pod of plainPods) {
    sequential.push(
      await untilFinal(() => sendEvent(plainUrl, eventFor('lag-plain', pod.metadata?.name ?? ''))),
    );
  }
  t.deepEqual(
    sequential.map((r) => [r.status, r.body.outcome, r.body.reason]),
    [
      [200, 'applied', 'restarted'],
      [200, 'skipped', 'disruption-budget'],
      [200, 'skipped', 'disruption-budget'],
      [200, 'skipped', 'disruption-budget'],
    ],
  );
  t.is((await podsOf(kc, 'lag-plain', 'web')).length, REPLICAS - 1, 'exactly one pod removed');

  // All at once: the events race; the API server's eviction decides.
  const budgetUrl = await actionFor('lag-pdb');
  const concurrent = await Promise.all(
    budgetPods.map((pod) =>
      untilFinal(() => sendEvent(budgetUrl, eventFor('lag-pdb', pod.metadata?.name ?? ''))),
    ),
  );
  const outcomes = concurrent.map((r) => `${r.body.outcome}/${r.body.reason}`).sort();
  t.deepEqual(outcomes, [
    'applied/restarted',
    'skipped/disruption-budget',
    'skipped/disruption-budget',
    'skipped/disruption-budget',
  ]);
  t.is((await podsOf(kc, 'lag-pdb', 'web')).length, REPLICAS - 1, 'exactly one pod evicted');
  const refused = concurrent.find((r) => r.body.outcome === 'skipped');
  t.regex(String(refused?.body.message), /available replica|disruption budget/);
});
