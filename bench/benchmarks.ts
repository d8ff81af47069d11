// Every benchmark, in the order `npm run bench` runs them (quick ones first); their budgets are in budgets.yaml.
import type { Benchmark } from './benchmark.ts';
import { functions } from './functions.ts';
import { scriptBenchmark } from './script.ts';

// Router latency with actions that answer at once; one cold start each only (cold starts are `functions`').
const requests = (quick: boolean) => (quick ? 50 : 500);
const router = scriptBenchmark({
  name: 'router',
  title: 'Router latency',
  seconds: 15,
  args: (quick) => ['functions/bench.ts', '--runs', '1', '--requests', String(requests(quick))],
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
  args: (quick) => ['playground/cluster/startup-time.ts', quick ? '1' : '5'],
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

export const BENCHMARKS: readonly Benchmark[] = [router, app, functions, cluster, agent, storm];
