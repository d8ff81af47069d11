// Every benchmark, in the order `npm run bench` runs them (quick ones first); their budgets are in budgets.yaml.
import type { Benchmark } from './benchmark.ts';
import { functions } from './functions.ts';
import { reportedFigures } from './reported.ts';
import { scriptBenchmark } from './script.ts';

// Router latency with actions that answer at once; one cold start each only (cold starts are `functions`').
const requests = (quick: boolean) => (quick ? 50 : 500);
const router = scriptBenchmark({
  name: 'router',
  title: 'Router latency',
  seconds: 15,
  args: (quick) => ['bench/functions-source.ts', '--runs', '1', '--requests', String(requests(quick))],
});

// Fixed counts: 5 starts from source and 5 bundled, one leak, one 5 s CPU window, 1000 requests.
const app = scriptBenchmark({
  name: 'app',
  title: 'Sample app',
  seconds: 40,
  args: () => ['app/measure.ts'],
});

const cluster = scriptBenchmark({
  name: 'cluster',
  title: 'Control plane start and stop',
  seconds: 30,
  args: (quick) => ['devkit/startup-time.ts', quick ? '1' : '5'],
});

// Fixed counts (5 pods, a 20 s and a 30 s CPU window, 10 scrapes): --quick does not shorten it.
const agent = scriptBenchmark({
  name: 'agent',
  title: 'Playground node agent',
  seconds: 90,
  args: () => ['playground/agent/measure.ts'],
});

// 1000 alerts at once against the real control plane, without the memory bounds and then as the images run; a storm
// lasts until every alert is answered (minutes on a busy machine). --quick sends 300.
const storm = scriptBenchmark({
  name: 'storm',
  title: 'Function memory under an alert storm',
  seconds: 600,
  args: (quick) => ['bench/storm.ts', '--alerts', quick ? '300' : '1000', '--modes', 'unbounded,image'],
});

// Side by side: each headline a ratio to a baseline measured in the same run, in turn (bench/stats.ts).
const cold = scriptBenchmark({
  name: 'cold',
  title: 'Cold remediation, next to the single-call function',
  seconds: 300,
  args: (quick) => ['bench/cold.ts', '--runs', quick ? '2' : '7', '--share-runs', quick ? '1' : '3'],
  figures: reportedFigures,
});

const warm = scriptBenchmark({
  name: 'warm',
  title: 'Warm remediation, next to the bare API call',
  seconds: 360,
  args: (quick) => ['bench/warm.ts', '--rounds', quick ? '30' : '200'],
  figures: reportedFigures,
});

const routerLoad = scriptBenchmark({
  name: 'router-load',
  title: 'Router, next to a plain node:http server',
  seconds: 120,
  args: (quick) => [
    'bench/router-load.ts',
    '--rounds',
    quick ? '1=40,10=40,100=10,1000=5' : '1=200,10=200,100=40,1000=20',
  ],
  figures: reportedFigures,
});

// 1,000 invocations either way: --quick starts each function once instead of three times.
const memory = scriptBenchmark({
  name: 'memory',
  title: 'Resident memory, next to a hello-world',
  seconds: 420,
  args: (quick) => ['bench/memory.ts', '--starts', quick ? '1' : '3'],
  figures: reportedFigures,
});

// The whole loop with the production profile: its own, longer run (`npm run bench -- recovery`).
const recovery = scriptBenchmark({
  name: 'recovery',
  title: 'Time to recovery, next to the detection floor',
  seconds: 1500,
  onlyByName: true,
  args: (quick) => ['bench/recovery.ts', ...(quick ? ['--scenarios', 'memory-leak'] : [])],
  figures: reportedFigures,
});

// The Go builds of a fresh clone, before and after their cuts, with empty Go caches: `npm run bench -- setup`.
const setup = scriptBenchmark({
  name: 'setup',
  title: 'Cold set-up of a fresh clone, now next to before',
  seconds: 3600,
  onlyByName: true,
  args: (quick) => ['bench/setup.ts', ...(quick ? ['--targets', 'etcd,kube-state-metrics'] : [])],
  figures: reportedFigures,
});

export const BENCHMARKS: readonly Benchmark[] = [
  router,
  app,
  functions,
  cluster,
  agent,
  cold,
  warm,
  routerLoad,
  memory,
  storm,
  recovery,
  setup,
];
