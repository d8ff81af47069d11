// End to end on OpenFaaS Community Edition's shape: `npm start -- --fast --platform openfaas-ce` runs stack.yml as
// faas-netes CE deploys it (openfaas-fn, the `default` ServiceAccount, /_/health probes, each action acting through
// its token Secret), Alertmanager and the router reach the functions through the gateway's /function/<name> path,
// and one scenario of each action heals.
import { existsSync } from 'node:fs';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import test from 'ava';
import { SCENARIOS, type ScenarioName } from '../../playground/scenarios/catalog.ts';
import { runScenario } from '../../playground/scenarios/runner.ts';
import { type PlaygroundProcess, startPlaygroundProcess, tail } from './playground-process.ts';

let playground: PlaygroundProcess | undefined;
/** Restarts of each function pod once the loop was armed: CE's liveness may kill a slow start, never a ready one. */
const restartsWhenArmed = new Map<string, number>();
const restartCount = (pod: V1Pod) => pod.status?.containerStatuses?.[0]?.restartCount ?? 0;

test.before(async () => {
  playground = await startPlaygroundProcess(['--fast', '--platform', 'openfaas-ce']);
});

test.after.always(async () => {
  await playground?.stop();
  playground?.cleanup();
});

const kubeConfig = (path: string) => {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
};

test.serial(
  'the functions run as faas-netes CE deploys them, reached through the gateway path',
  async (t) => {
    if (!playground) throw new Error('the playground did not start');
    const { state } = playground;
    t.is(state.platform, 'openfaas-ce');
    t.is(state.functionNamespace, 'openfaas-fn');
    const pods = await kubeConfig(state.kubeconfig)
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: 'openfaas-fn' });
    t.deepEqual(pods.items.map((p) => p.metadata?.labels?.faas_function).sort(), [
      'redeploy',
      'restart-pod',
      'router',
      'scale',
    ]);
    for (const pod of pods.items) {
      restartsWhenArmed.set(pod.metadata?.name ?? '', restartCount(pod));
      t.is(pod.spec?.serviceAccountName, 'default');
      t.like(pod.spec?.containers[0]?.readinessProbe, { httpGet: { path: '/_/health', port: 8080 } });
    }
    for (const [name, url] of Object.entries(state.functionUrls)) {
      t.regex(url, new RegExp(`/function/${name}$`));
      const response = await fetch(url, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
      });
      t.is(response.status, 401, `${name} answers through the gateway path, and wants its token`);
    }
    t.regex(playground.output(), /on OpenFaaS CE in openfaas-fn, through the gateway stand-in/);
    t.log(`restarts before the loop was armed: ${JSON.stringify(Object.fromEntries(restartsWhenArmed))}`);
  },
);

// One scenario per action, the quickest of each.
const ORDER: ScenarioName[] = ['cpu', 'errors', 'crash-loop'];
for (const name of ORDER) {
  const scenario = SCENARIOS[name];
  test.serial(
    `${name}: ${scenario.alertname} fires and ${scenario.action} heals it, acting as its own ServiceAccount`,
    async (t) => {
      t.timeout(scenario.boundSeconds.fast * 1000 + 240_000);
      if (!playground) throw new Error('the playground did not start');
      const lines: string[] = [];
      const result = await runScenario({
        state: playground.state,
        scenario,
        profile: 'fast',
        print: (line) => lines.push(line),
      });
      t.log(lines.join('\n'));
      t.true(result.healed, result.reason);
      t.true(
        (result.actionAfterSeconds ?? -1) >= (result.firingAfterSeconds ?? 0),
        'the action came after the alert',
      );
    },
  );
}

test.serial('the functions were not restarted while healing, and Ctrl-C leaves nothing behind', async (t) => {
  if (!playground) throw new Error('the playground did not start');
  const { state } = playground;
  const pods = await kubeConfig(state.kubeconfig)
    .makeApiClient(CoreV1Api)
    .listNamespacedPod({ namespace: 'openfaas-fn' });
  t.deepEqual(
    Object.fromEntries(pods.items.map((p) => [p.metadata?.name, restartCount(p)])),
    Object.fromEntries(restartsWhenArmed),
    'the same pods, with the restart counts they had when the loop was armed',
  );
  const code = await playground.stop();
  t.is(code, 0, tail(playground.output()));
  t.false(existsSync(state.logDir), `${state.logDir} is left behind`);
  t.false(existsSync(playground.statePath), 'the state file is left behind');
});
