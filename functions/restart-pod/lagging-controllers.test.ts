// restart-pod's disruption guard when the controllers lag: with kube-controller-manager paused (SIGSTOP), the
// Deployment's readyReplicas and the PodDisruptionBudget's disruptionsAllowed never move, so only a live pod count and
// the Eviction API (which spends the budget atomically in the API server) keep the ready pods up.
// And when the API server itself hangs (SIGSTOP), the answer comes within one API deadline plus the Event's.
// It pauses control-plane processes, so it runs against a control plane of its own, not the run's shared one.
import { AppsV1Api, CoreV1Api, type KubeConfig, PolicyV1Api } from '@kubernetes/client-node';
import test from 'ava';
import { type ControlPlane, startControlPlane } from '../../devkit/control-plane.ts';
import { eventually } from '../../test/helpers/wait.ts';
import {
  type ActionResponse,
  alertEvent,
  applyRbac,
  createDeployment,
  markReady,
  podsOf,
  sendEvent,
  sendJson,
  startAction,
  waitForPods,
} from '../test-helpers.ts';
import { restartPod } from './restart-pod.ts';

const REPLICAS = 4;

let dedicated: Promise<ControlPlane> | undefined;
const controlPlane = () => {
  dedicated ??= startControlPlane();
  return dedicated;
};
test.after.always(async () => {
  if (!dedicated) return;
  const cluster = await dedicated;
  for (const component of ['kube-apiserver', 'kube-controller-manager'] as const) {
    const pid = cluster.componentProcess(component)?.pid;
    if (pid) process.kill(pid, 'SIGCONT');
  }
  await cluster.stop();
});

function pause(cluster: ControlPlane, component: 'kube-apiserver' | 'kube-controller-manager'): void {
  const pid = cluster.componentProcess(component)?.pid;
  if (!pid) throw new Error(`the control plane did not expose its ${component}`);
  process.kill(pid, 'SIGSTOP');
}

// Pods need the namespace's default ServiceAccount, which only a running controller manager creates.
async function createNamespace(kc: KubeConfig, name: string, { forPods = true } = {}): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  if (!forPods) return;
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

test.serial(
  'with the controller manager paused, restart-pod never takes more ready pods than the Deployment or its PodDisruptionBudget allow',
  async (t) => {
    const cluster = await controlPlane();
    const kc = cluster.kubeConfig();

    // Deployment guard alone: replicas 4, maxUnavailable 1, no PodDisruptionBudget.
    const plainPods = await readyDeployment(cluster, 'lag-plain', 1);
    // PodDisruptionBudget alone binds: maxUnavailable 2 would allow two, minAvailable 3 allows one.
    const budgetPods = await readyDeployment(cluster, 'lag-pdb', 2);
    const policy = kc.makeApiClient(PolicyV1Api);
    await policy.createNamespacedPodDisruptionBudget({
      namespace: 'lag-pdb',
      body: {
        metadata: { name: 'web' },
        spec: { minAvailable: 3, selector: { matchLabels: { app: 'web' } } },
      },
    });
    await eventually('the disruption controller to allow exactly one disruption', async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ namespace: 'lag-pdb', name: 'web' });
      return pdb.status?.currentHealthy === REPLICAS && pdb.status.disruptionsAllowed === 1;
    });

    pause(cluster, 'kube-controller-manager');

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
  },
);

test.serial(
  'a hung API server is answered 503 within one API deadline and the Event deadline, not two API deadlines',
  async (t) => {
    const cluster = await controlPlane();
    const ns = 'hung';
    await createNamespace(cluster.kubeConfig(), ns, { forPods: false });
    await applyRbac(cluster.kubeConfig(), ns);
    const kubeTimeoutMs = 4_000;
    const url = await startAction(t, 'restart-pod', restartPod, ns, {
      kubeConfig: cluster.kubeConfigForToken(await cluster.mintToken(ns, 'restart-pod'), ns),
      env: { SELFHEAL_KUBE_TIMEOUT_MS: String(kubeTimeoutMs), SELFHEAL_EVENT_TIMEOUT_MS: '500' },
    });
    pause(cluster, 'kube-apiserver');
    const started = performance.now();
    const res = await sendJson(url, { namespace: ns, pod: 'web-1' });
    const elapsed = performance.now() - started;
    t.is(res.status, 503);
    t.like(res.body, { outcome: 'failed' });
    // The read waits its full deadline; the Event write its own 0.5 s, not another 4 s.
    t.true(elapsed >= kubeTimeoutMs, `answered after ${Math.round(elapsed)} ms`);
    t.true(elapsed < 2 * kubeTimeoutMs - 1_000, `answered after ${Math.round(elapsed)} ms`);
  },
);
