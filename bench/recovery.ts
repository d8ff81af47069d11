// Time to recovery per scenario with the production profile, next to its detection floor (scrape + evaluation + for
// + group_wait), and the functions' share of it: from the webhook's arrival at the router to the action's answer (the
// change acknowledged by the API server), as the router logs it. The whole loop runs as `npm start` runs it, and the
// scenarios are injected in turn as `npm run scenario -- all` injects them. About 25 minutes.
//   node bench/recovery.ts [--scenarios memory-leak,errors,not-ready,crash-loop,cpu]
import { parseArgs } from 'node:util';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { type Playground, startPlayground } from '../playground/playground.ts';
import { runScenario } from '../playground/run-scenario.ts';
import { SCENARIO_NAMES, SCENARIOS, type ScenarioName } from '../playground/scenarios.ts';
import { detectionFloor, loadStack, profileTiming } from '../stack/profile.ts';
import { reportLine, side } from './reported.ts';

const { values } = parseArgs({
  options: { scenarios: { type: 'string', default: 'memory-leak,errors,not-ready,crash-loop,cpu' } },
});
const names = values.scenarios.split(',') as ScenarioName[];
const unknown = names.filter((n) => !(SCENARIO_NAMES as readonly string[]).includes(n));
if (unknown.length > 0) {
  console.error(`unknown scenario(s) ${unknown.join(', ')}; the scenarios are ${SCENARIO_NAMES.join(', ')}`);
  process.exit(2);
}

type RouterLine = { alert?: string; outcome?: string; action?: string; ms?: number; time?: string };

/** The router's log lines for alerts it delivered (outcome accepted), read through the kubelet's log endpoint. */
async function routerDeliveries(kc: KubeConfig, namespace: string): Promise<RouterLine[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const pods = await core.listNamespacedPod({ namespace, labelSelector: 'selfheal.dev/function=router' });
  const lines: RouterLine[] = [];
  for (const pod of pods.items) {
    const text = await core.readNamespacedPodLog({ namespace, name: pod.metadata?.name as string });
    for (const line of String(text).split('\n')) {
      try {
        const parsed = JSON.parse(line) as RouterLine;
        if (parsed.outcome === 'accepted' && typeof parsed.ms === 'number') lines.push(parsed);
      } catch {
        // Not a JSON line.
      }
    }
  }
  return lines;
}

const source = await loadStack();
const floors = new Map(detectionFloor(source, profileTiming(source, 'production')).map((f) => [f.alert, f]));
const aborting = new AbortController();
let playground: Playground | undefined;
process.once('SIGINT', () => {
  aborting.abort(new Error('interrupted'));
  void (playground?.stop() ?? Promise.resolve()).then(() => process.exit(130));
});
console.log(`recovery: the playground with the production profile, then ${names.join(', ')} in turn`);
playground = await startPlayground({
  profile: 'production',
  trafficPerSecond: 5,
  progress: (line) => console.log(`  ${line}`),
  signal: aborting.signal,
});
try {
  const kc = playground.cluster.kubeConfig();
  const shares: number[] = [];
  for (const name of names) {
    const scenario = SCENARIOS[name];
    const result = await runScenario({
      state: playground.state,
      scenario,
      profile: 'production',
      print: (line) => console.log(`  ${line}`),
    });
    const floor = floors.get(scenario.alertname)?.total ?? Number.NaN;
    const injected = result.injectedAt.getTime();
    const delivery = (await routerDeliveries(kc, playground.state.functionNamespace)).find(
      (l) => l.alert === scenario.alertname && Date.parse(l.time ?? '') >= injected,
    );
    const share = delivery?.ms ?? Number.NaN;
    if (Number.isFinite(share)) shares.push(share);
    const recovered = result.recoveredAfterSeconds ?? Number.NaN;
    console.log(
      `${name}: ${result.healed ? 'healed' : `NOT healed (${result.reason})`}; firing ${result.firingAfterSeconds?.toFixed(0)} s, ` +
        `action ${result.actionAfterSeconds?.toFixed(0)} s, recovered ${recovered.toFixed(0)} s, resolved ` +
        `${result.resolvedAfterSeconds?.toFixed(0)} s after the injection; detection floor ${floor} s; the functions' ` +
        `share (webhook → change acknowledged) ${share.toFixed(0)} ms`,
    );
    const what = `${name} (${scenario.alertname} → ${scenario.action})`;
    console.log(
      reportLine(`${what}: time to recovery, production profile`, result.healed ? recovered : Number.NaN, [
        side('recovered', 's', [recovered]),
        side('detection floor', 's', [floor]),
      ]),
    );
    console.log(
      reportLine(`${what}: functions' share, warm: webhook received → change acknowledged`, share, [
        side('router → action', 'ms', [share]),
      ]),
    );
  }
  console.log(`functions' share over the scenarios: ${shares.map((s) => `${s.toFixed(0)} ms`).join(', ')}`);
} finally {
  await playground.stop();
}
