// A baseline is bundled and started as a function's image bundles and starts it.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { freePort } from '../../playground/cluster/ports.ts';
import { buildFunction } from '../../scripts/build-functions.ts';
import { eventually } from '../../test/helpers/wait.ts';
import { BANNER, bundleBaseline } from './bundle.ts';

test('the hello-world baseline is bundled like a function, with its launcher and compile cache, and answers', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'selfheal-baseline-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const router = await buildFunction('router', out);
  const hello = await bundleBaseline(
    join(import.meta.dirname, 'hello.ts'),
    join(out, 'hello'),
    join(router.dir, 'launch.mjs'),
  );
  // The same banner opens both bundles: their CommonJS dependencies load alike.
  t.true(readFileSync(join(router.dir, 'index.mjs'), 'utf8').startsWith(BANNER));
  t.true(readFileSync(join(hello.dir, 'index.mjs'), 'utf8').startsWith(BANNER));
  t.true(existsSync(join(hello.compileCache)));

  const port = await freePort();
  const child = spawn(process.execPath, ['launch.mjs', 'index.mjs'], {
    cwd: hello.dir,
    env: {
      ...process.env,
      PORT: String(port),
      NODE_COMPILE_CACHE: hello.compileCache,
      SELFHEAL_MEMORY_LIMIT: '128Mi',
    },
    stdio: 'ignore',
  });
  t.teardown(async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  });
  const text = await eventually('the hello-world to answer', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/`);
    return response.ok && (await response.text());
  });
  t.is(text, 'hello');
});
