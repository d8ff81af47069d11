// The heap a function gets from its container's memory limit, as a table, and the launcher applying it to a real
// function process (the flag on its command line, V8's own heap limit in its start-up log line).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { heapFlags, heapSizes, memoryLimit, parseMemory } from './heap.ts';

const MiB = 1024 * 1024;
const NO_CGROUP = 2 ** 64; // what process.constrainedMemory() says outside a memory cgroup

const quantities: Array<[string, number | undefined]> = [
  ['268435456', 256 * MiB],
  ['256Mi', 256 * MiB],
  ['0.5Gi', 512 * MiB],
  ['128M', 128e6],
  ['1k', 1000],
  ['256MB', undefined],
  ['-1', undefined],
  ['lots', undefined],
];
for (const [text, bytes] of quantities) {
  test(`parseMemory(${JSON.stringify(text)}) → ${bytes}`, (t) => {
    t.is(parseMemory(text), bytes);
  });
}

test('the downward API value wins over the cgroup; none of either is no limit', (t) => {
  t.deepEqual(memoryLimit({ SELFHEAL_MEMORY_LIMIT: '268435456' }, 512 * MiB), {
    bytes: 256 * MiB,
    from: 'SELFHEAL_MEMORY_LIMIT',
  });
  t.deepEqual(memoryLimit({}, 192 * MiB), { bytes: 192 * MiB, from: 'cgroup' });
  t.deepEqual(memoryLimit({ SELFHEAL_MEMORY_LIMIT: '0' }, 192 * MiB), { bytes: 192 * MiB, from: 'cgroup' });
  t.is(memoryLimit({}, NO_CGROUP), undefined);
  t.is(memoryLimit({}, 2 ** 63 - 4096), undefined, "cgroup v1's unlimited");
  t.is(memoryLimit({}, 0), undefined);
  t.throws(() => memoryLimit({ SELFHEAL_MEMORY_LIMIT: 'lots' }, NO_CGROUP), {
    message: /SELFHEAL_MEMORY_LIMIT=lots is not a memory quantity/,
  });
});

// Old space + three semi-spaces (V8's heap limit) stays within 65 % of the limit.
const sizes: Array<[number, number, number]> = [
  // limit MiB, old space MiB, semi-space MiB
  [128, 71, 4],
  [192, 112, 4],
  [256, 142, 8],
  [384, 225, 8],
  [1024, 617, 16],
  [64, 35, 2],
  [32, 32, 1],
];
for (const [limit, oldSpace, semiSpace] of sizes) {
  test(`a ${limit} MiB limit → old space ${oldSpace} MiB, semi-space ${semiSpace} MiB`, (t) => {
    t.deepEqual(heapSizes(limit * MiB), { oldSpaceMiB: oldSpace, semiSpaceMiB: semiSpace });
    if (limit >= 128) t.true(oldSpace + 3 * semiSpace <= limit * 0.65);
  });
}

test('flags for a limit; none without one, or when the operator set the heap already', (t) => {
  t.deepEqual(heapFlags({}, [], 256 * MiB).flags, ['--max-old-space-size=142', '--max-semi-space-size=8']);
  t.deepEqual(heapFlags({}, [], NO_CGROUP).flags, []);
  t.deepEqual(heapFlags({}, ['--max-old-space-size=300'], 256 * MiB).flags, []);
  t.deepEqual(heapFlags({ NODE_OPTIONS: '--max_old_space_size=300' }, [], 256 * MiB).flags, []);
});

const LAUNCH = join(import.meta.dirname, 'launch.ts');
const RUN = join(import.meta.dirname, '..', 'run.ts');

function start(t: ExecutionContext, env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [LAUNCH, RUN, 'router', '--port', '0', '--host', '127.0.0.1'], {
    env: {
      PATH: process.env.PATH,
      SELFHEAL_WEBHOOK_TOKEN: 'w',
      SELFHEAL_ACTION_TOKEN: 'a',
      SELFHEAL_SINK: 'openfaas',
      SELFHEAL_OPENFAAS_GATEWAY: 'http://127.0.0.1:9',
      SELFHEAL_NAMESPACES: 'demo',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, output: () => output };
}

async function listening(child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!/listening on http/.test(output())) {
    if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${output()}`);
    if (Date.now() > deadline) throw new Error(`never listened: ${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function heapLimitLogged(output: string): number | undefined {
  const line = output.split('\n').find((l) => l.includes('"runtime limits"'));
  return line ? (JSON.parse(line) as { heapLimitMiB?: number }).heapLimitMiB : undefined;
}

test('the launcher starts the function with the heap its limit allows, in the same process', async (t) => {
  const { child, output } = start(t, { SELFHEAL_MEMORY_LIMIT: String(192 * MiB) });
  await listening(child, output);
  const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
  t.true(argv.includes('--max-old-space-size=112'), argv.join(' '));
  t.true(argv.includes('--max-semi-space-size=4'), argv.join(' '));
  t.true(argv.includes(RUN), 'the same PID now runs the function');
  t.is(heapLimitLogged(output()), 112 + 3 * 4, "V8's heap limit, as the function reports it");
  child.kill('SIGTERM');
  t.is((await once(child, 'exit'))[0], 0);
});

test('without a limit the function runs with Node defaults', async (t) => {
  const { child, output } = start(t, {});
  await listening(child, output);
  const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
  t.false(
    argv.some((a) => a.startsWith('--max-old-space-size')),
    argv.join(' '),
  );
  child.kill('SIGTERM');
  await once(child, 'exit');
});

test('a malformed limit stops the start with a clear message', async (t) => {
  const { child, output } = start(t, { SELFHEAL_MEMORY_LIMIT: 'a lot' });
  const [code] = await once(child, 'exit');
  t.is(code, 1);
  t.regex(output(), /selfheal: SELFHEAL_MEMORY_LIMIT=a lot is not a memory quantity/);
});
