// The cold set-up of a fresh clone, as it was and as it is: scripts/build-binaries.sh run into a scratch cache with
// empty Go caches (modules and builds, so downloads count), once the way the set-up used to build (one target after
// another, Prometheus with every service discovery) and once as it builds now (targets side by side, compiles in
// the slots the cores allow, Prometheus with Kubernetes discovery only, no config reloader). Each component's time
// and the whole set-up's, as figures side by side. npm ci is the same either way and is not counted.
//   node bench/setup.ts [--modes now,before] [--targets etcd,kube-state-metrics]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { reportLine, side } from './reported.ts';
import { ratio } from './stats.ts';

const SCRIPT = join(import.meta.dirname, '..', 'scripts', 'build-binaries.sh');
export const COMPONENTS = [
  'etcd',
  'kubernetes',
  'kube-state-metrics',
  'prometheus',
  'alertmanager',
  'prometheus-operator',
  'knative-eventing',
] as const;

/** How each mode runs the build script: `before` is the set-up before its cuts. */
const MODES = {
  now: {},
  before: { SELFHEAL_BUILD_SEQUENTIAL: '1', PROMETHEUS_BUILD_TAGS: '' },
} as const;
type Mode = keyof typeof MODES;

interface SetUp {
  total: number;
  components: Map<string, number>;
}

/** The seconds the build script says each component took (`<name>: done in 12s`) and the whole run took. */
export function parseBuildLine(line: string): { component: string; seconds: number } | undefined {
  const match = /\] ([a-z-]+): done in (\d+)s$/.exec(line);
  return match ? { component: match[1] as string, seconds: Number(match[2]) } : undefined;
}

async function coldSetUp(mode: Mode, targets: readonly string[]): Promise<SetUp> {
  const scratch = mkdtempSync(join(tmpdir(), `selfheal-setup-${mode}-`));
  const env = {
    ...process.env,
    ...MODES[mode],
    SELFHEAL_CACHE_DIR: join(scratch, 'selfheal'),
    GOCACHE: join(scratch, 'go-build'),
    GOMODCACHE: join(scratch, 'go-mod'),
  };
  const load = loadavg().map((l) => l.toFixed(1));
  console.error(`setup ${mode}: building ${targets.join(', ')} into ${scratch} (load ${load.join(', ')})`);
  const started = performance.now();
  const components = new Map<string, number>();
  try {
    const child = spawn('bash', [SCRIPT, ...targets], { env, stdio: ['ignore', 'inherit', 'pipe'] });
    createInterface({ input: child.stderr }).on('line', (line) => {
      console.error(`setup ${mode}: ${line}`);
      const built = parseBuildLine(line);
      if (built) components.set(built.component, built.seconds);
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (code !== 0) throw new Error(`build-binaries.sh (${mode}) exited with ${code}`);
    return { total: (performance.now() - started) / 1000, components };
  } finally {
    // The module cache is written read-only; make it removable first.
    await new Promise((resolve) => spawn('chmod', ['-R', 'u+w', scratch]).on('close', resolve));
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      modes: { type: 'string', default: 'now,before' },
      targets: { type: 'string', default: COMPONENTS.join(',') },
    },
  });
  const modes = values.modes.split(',') as Mode[];
  const unknown = modes.filter((m) => !(m in MODES));
  if (unknown.length > 0) throw new Error(`unknown mode ${unknown.join(', ')}: now, before`);
  const targets = values.targets.split(',');
  const runs = new Map<Mode, SetUp>();
  for (const mode of modes) runs.set(mode, await coldSetUp(mode, targets));
  const now = runs.get('now');
  const before = runs.get('before');
  const pair = (metric: string, a: number | undefined, b: number | undefined) =>
    console.log(
      reportLine(metric, a !== undefined && b !== undefined ? ratio(a, b) : Number.NaN, [
        side('now', 's', a === undefined ? [] : [a]),
        side('before', 's', b === undefined ? [] : [b]),
      ]),
    );
  pair('fresh clone: every binary built, now × before', now?.total, before?.total);
  for (const component of targets) {
    pair(
      `${component}: cold build, now × before`,
      now?.components.get(component),
      before?.components.get(component),
    );
  }
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error(`setup: ${(error as Error).message}`);
    process.exitCode = 1;
  });
}
