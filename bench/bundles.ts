// Both sides of a comparison as images carry them: selfheal's functions bundled by scripts/build-functions.ts, the
// baselines bundled the same way (baselines/bundle.ts), each with its compile cache and the memory limit stack.yml
// gives the function (a baseline gets the limit of the function it stands beside).
import { join } from 'node:path';
import { readStack } from '../manifests/openfaas-functions.ts';
import { bakeCompileCache, buildFunction, type FunctionName } from '../scripts/build-functions.ts';
import { bundleBaseline } from './baselines/bundle.ts';
import { ACTIONS, type Action } from './baselines/calls.ts';

export interface Bundle {
  name: string;
  dir: string;
  compileCache: string;
  /** SELFHEAL_MEMORY_LIMIT, from which the launcher sizes the heap. */
  memoryLimit: string;
}

const BASELINES = join(import.meta.dirname, 'baselines');

/** The memory limit stack.yml gives a function. */
export function memoryLimitOf(name: FunctionName): string {
  const limit = readStack().functions[name]?.limits?.memory;
  if (!limit) throw new Error(`stack.yml gives ${name} no memory limit`);
  return limit;
}

export async function productBundle(name: FunctionName, out: string): Promise<Bundle> {
  const built = await buildFunction(name, out);
  if (built.external.length > 0) throw new Error(`${name}'s bundle still loads ${built.external.join(', ')}`);
  return { name, dir: built.dir, compileCache: bakeCompileCache(built), memoryLimit: memoryLimitOf(name) };
}

/** A baseline (bench/baselines/<file>.ts) bundled beside `product`, with its launcher and memory limit. */
export async function baselineBundle(
  file: 'hello' | 'single-call',
  product: Bundle,
  out: string,
): Promise<Bundle> {
  const name = `${file}-beside-${product.name}`;
  const built = await bundleBaseline(
    join(BASELINES, `${file}.ts`),
    join(out, name),
    join(product.dir, 'launch.mjs'),
  );
  return { name, dir: built.dir, compileCache: built.compileCache, memoryLimit: product.memoryLimit };
}

/** The three actions' bundles. */
export async function actionBundles(out: string): Promise<Record<Action, Bundle>> {
  const bundles = {} as Record<Action, Bundle>;
  for (const action of ACTIONS) bundles[action] = await productBundle(action, out);
  return bundles;
}
