// The router must start fast: it may not load @kubernetes/client-node (about 750 ms of imports) at all.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';

const run = promisify(execFile);

test('starting the router loads no module of @kubernetes/client-node', async (t) => {
  const script = `
    import { registerHooks } from 'node:module';
    const loaded = [];
    registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); loaded.push(r.url); return r; } });
    const { runFunction } = await import(${JSON.stringify(join(import.meta.dirname, '..', 'run.ts'))});
    const running = await runFunction('router', {
      SELFHEAL_WEBHOOK_TOKEN: 't', SELFHEAL_SINK: 'knative', SELFHEAL_NAMESPACES: 'demo', SELFHEAL_ACTION_AUTH: 'platform', K_SINK: 'http://127.0.0.1:9/', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent',
    });
    await running.close();
    console.log(JSON.stringify(loaded));
    process.exit(0);
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    env: {
      ...process.env,
      SELFHEAL_WEBHOOK_TOKEN: 't',
      SELFHEAL_SINK: 'knative',
      SELFHEAL_NAMESPACES: 'demo',
      SELFHEAL_ACTION_AUTH: 'platform',
      K_SINK: 'http://127.0.0.1:9/',
      LOG_LEVEL: 'silent',
    },
  });
  const loaded = JSON.parse(stdout.trim().split('\n').pop() ?? '[]') as string[];
  t.true(
    loaded.some((url) => url.includes('faas-js-runtime')),
    'the check sees the runtime being loaded',
  );
  t.true(loaded.some((url) => url.endsWith('/router/index.ts')));
  t.deepEqual(
    loaded.filter((url) => url.includes('@kubernetes/client-node')),
    [],
  );
});
