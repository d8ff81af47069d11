// Bundles a baseline function exactly as scripts/build-functions.ts bundles selfheal's (one minified ES module with
// faas-js-runtime inside, the same banner for its CommonJS dependencies), lays the functions' launcher beside it and
// bakes V8's compile cache as functions/Dockerfile does: both sides of a comparison then start the same way,
// `node launch.mjs index.mjs` with NODE_COMPILE_CACHE set.
import { copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { type BuiltFunction, bakeCompileCache, OPTIONAL_ADDONS } from '../../scripts/build-functions.ts';

// scripts/build-functions.ts' banner, word for word (bundle.test.ts compares it with a function's bundle).
export const BANNER = [
  "import { createRequire as __selfhealCreateRequire } from 'node:module';",
  "import { dirname as __selfhealDirname } from 'node:path';",
  "import { fileURLToPath as __selfhealFileURLToPath } from 'node:url';",
  'const require = __selfhealCreateRequire(import.meta.url);',
  'const __filename = __selfhealFileURLToPath(import.meta.url);',
  'const __dirname = __selfhealDirname(__filename);',
  'var osu;',
].join('\n');

export interface BaselineBundle {
  dir: string;
  bundleBytes: number;
  /** NODE_COMPILE_CACHE for the bundle, as the image sets it. */
  compileCache: string;
}

/**
 * `entry` (a file under bench/baselines) bundled into `dir`/index.mjs, with `launcher` (the launch.mjs of a function
 * built by scripts/build-functions.ts) copied beside it and the compile cache baked.
 */
export async function bundleBaseline(entry: string, dir: string, launcher: string): Promise<BaselineBundle> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await build({
    entryPoints: [entry],
    outfile: join(dir, 'index.mjs'),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    banner: { js: BANNER },
    external: OPTIONAL_ADDONS,
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    legalComments: 'eof',
    logLevel: 'silent',
  });
  copyFileSync(launcher, join(dir, 'launch.mjs'));
  // bakeCompileCache reads only the folder of what it is given.
  const compileCache = bakeCompileCache({ dir } as BuiltFunction);
  return { dir, bundleBytes: statSync(join(dir, 'index.mjs')).size, compileCache };
}
