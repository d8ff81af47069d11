// The function images as the node agent plays them on the openfaas-ce platform: what functions/Dockerfile puts in the
// image (the bundle of scripts/build-functions.ts, its compile cache, the ENV lines and CMD), not the TypeScript source
// the default playground runs. faas-netes CE's probes kill a container that is not answering after about 6 s, so
// the start-up that counts is the image's.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cacheRoot } from '../../devkit/binaries.ts';
import { bakeCompileCache, buildFunction, FUNCTIONS } from '../../scripts/build-functions.ts';
import type { ImageInput } from '../agent/images.ts';

/**
 * Builds the four bundles into `outDir` and maps each function image repository to running its bundle. `outDir`
 * must not lie under a path pods mount (such as /tmp): the agent reads those paths as the pod's volumes.
 */
export async function functionImages(outDir: string): Promise<Record<string, ImageInput>> {
  const images: Record<string, ImageInput> = {};
  for (const name of FUNCTIONS) {
    const built = await buildFunction(name, outDir);
    if (built.external.length > 0)
      throw new Error(`${name}: the bundle still loads ${built.external.join(', ')}`);
    const cache = bakeCompileCache(built);
    images[`ghcr.io/selfheal/${name}`] = {
      command: ['node', join(built.dir, 'index.mjs')],
      // functions/Dockerfile's ENV; HOST 0.0.0.0 in a container is its pod's own address here.
      env: { NODE_ENV: 'production', PORT: '8080', HOST: '$(POD_IP)', NODE_COMPILE_CACHE: cache },
    };
  }
  return images;
}

/**
 * A fresh folder for the image bundles: inside the repository's git-ignored .tmp/, or in selfheal's cache when the
 * repository itself lies under /tmp, which pods mount (a bundle there would be looked up in the pod's own /tmp).
 */
export function imagesDir(): string {
  const repository = resolve(import.meta.dirname, '..', '..');
  const base = isUnderTmp(repository) ? join(cacheRoot(), 'openfaas-ce-images') : join(repository, '.tmp');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, 'openfaas-ce-images-'));
}

const isUnderTmp = (path: string) => path === '/tmp' || path.startsWith('/tmp/');
