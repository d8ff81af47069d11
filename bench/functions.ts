// The four functions as their images carry them, through scripts/build-functions.ts' own build and measure: bundle
// size and cold start (spawn → first 200) from TypeScript source, bundled, and bundled with the image's compile cache.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFunction, FUNCTIONS, measure } from '../scripts/build-functions.ts';
import type { Benchmark } from './benchmark.ts';
import { budgetOf } from './budgets.ts';
import { type Figure, figure } from './figures.ts';

const MiB = 1024 * 1024;
const runs = (quick: boolean) => (quick ? 1 : 5);

export const functions: Benchmark = {
  name: 'functions',
  title: 'Function bundles and cold starts',
  seconds: 60,
  // What this benchmark measures is what this command prints.
  command: (quick) => `node scripts/build-functions.ts --measure --runs ${runs(quick)}`,
  async run({ quick, say, budgets }) {
    const size = budgetOf(budgets, 'bundle size');
    const source = budgetOf(budgets, 'cold start from source, spawn → first 200');
    const bundled = budgetOf(budgets, 'cold start bundled, spawn → first 200');
    const cached = budgetOf(budgets, 'cold start bundled + compile cache (the image), spawn → first 200');
    const external = budgetOf(budgets, 'modules the bundles still load from node_modules at run time');
    const median = ` (median of ${runs(quick)})`;
    const out = mkdtempSync(join(tmpdir(), 'selfheal-bench-functions-'));
    const figures: Figure[] = [];
    let leftToLoad = 0;
    try {
      for (const name of FUNCTIONS) {
        const built = await buildFunction(name, out);
        leftToLoad += built.external.length;
        const cold = await measure(built, runs(quick));
        say(
          `${name}: ${(built.bundleBytes / MiB).toFixed(1)} MiB; spawn → first 200: source ${cold.source.toFixed(0)} ms, ` +
            `bundle ${cold.bundled.toFixed(0)} ms, bundle + compile cache ${cold.bundledWithCache.toFixed(0)} ms`,
        );
        figures.push(
          figure(size, built.bundleBytes / MiB, `${name}: ${size.metric}`),
          figure(source, cold.source, `${name}: ${source.metric}${median}`),
          figure(bundled, cold.bundled, `${name}: ${bundled.metric}${median}`),
          figure(cached, cold.bundledWithCache, `${name}: ${cached.metric}${median}`),
        );
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    return [...figures, figure(external, leftToLoad)];
  },
};
