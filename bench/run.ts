// `npm run bench [-- name ...] [--quick]`: runs the benchmarks (all by default) with progress on stderr, writes
// bench/results.md and bench/results.json (always, also when a figure misses or an area fails), and exits 1 when a
// figure missed its budget or an area failed, 2 on bad arguments or budgets, 130 when interrupted.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Benchmark } from './benchmark.ts';
import { BENCHMARKS } from './benchmarks.ts';
import { type AreaBudgets, loadBudgets } from './budgets.ts';
import { sideBySideLine } from './markdown.ts';
import { type AreaResult, earlierAreas, loadAverage, machine, misses, writeResults } from './results.ts';

const JSON_PATH = join(import.meta.dirname, 'results.json');
const MARKDOWN_PATH = join(import.meta.dirname, 'results.md');
const NAMES = BENCHMARKS.map((b) => b.name);

const minutes = (benchmarks: readonly Benchmark[]) =>
  Math.ceil(benchmarks.reduce((sum, b) => sum + b.seconds, 0) / 60);

const DEFAULT = BENCHMARKS.filter((b) => !b.onlyByName);
const BY_NAME = BENCHMARKS.filter((b) => b.onlyByName);
const usage = `usage: npm run bench [-- [--quick] [name ...]]
  name     one or more of: ${NAMES.join(', ')}
           (default: all but ${BY_NAME.map((b) => b.name).join(', ')}, about ${minutes(DEFAULT)} min;
           ${BY_NAME.map((b) => `${b.name} runs only when named, about ${minutes([b])} min`).join('; ')})
  --quick  fewer iterations where a measurement takes a count (the app and agent scripts have fixed ones)
Writes bench/results.md and bench/results.json; exits 1 when a figure misses its budget (bench/budgets.yaml).`;

const err = (line: string) => process.stderr.write(`${line}\n`);

function fail(message: string): never {
  err(`bench: ${message}`);
  process.exit(2);
}

function parseCommandLine(): { selected: Benchmark[]; quick: boolean } {
  const options = {
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  } as const;
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ options, allowPositionals: true });
  } catch (error) {
    fail(`${(error as Error).message}\n${usage}`);
  }
  if (parsed.values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const unknown = parsed.positionals.filter((name) => !NAMES.includes(name));
  if (unknown.length > 0)
    fail(`no benchmark named ${unknown.join(', ')}; the benchmarks are ${NAMES.join(', ')}`);
  const wanted = parsed.positionals;
  return {
    selected:
      wanted.length === 0
        ? BENCHMARKS.filter((b) => !b.onlyByName)
        : BENCHMARKS.filter((b) => wanted.includes(b.name)),
    quick: parsed.values.quick,
  };
}

// A missing or malformed budget stops the run before anything is measured.
function budgetsFor(benchmarks: readonly Benchmark[]): Map<string, AreaBudgets> {
  let all: Record<string, AreaBudgets>;
  try {
    all = loadBudgets();
  } catch (error) {
    fail((error as Error).message);
  }
  const budgets = new Map(Object.entries(all));
  const missing = benchmarks.filter((b) => !budgets.has(b.name)).map((b) => b.name);
  if (missing.length > 0) fail(`bench/budgets.yaml has no entry for ${missing.join(', ')}`);
  return budgets;
}

async function runArea(
  benchmark: Benchmark,
  context: { quick: boolean; budgets: AreaBudgets },
  interrupted: () => boolean,
): Promise<AreaResult> {
  const started = performance.now();
  // The 1-minute load average while the area runs: what the machine's other work did to its figures.
  const loads = [loadAverage()[0]];
  const sampling = setInterval(() => loads.push(loadAverage()[0]), 5000);
  const area: AreaResult = {
    name: benchmark.name,
    title: benchmark.title,
    command: benchmark.command(context.quick),
    budgets: context.budgets.why,
    measuredAt: new Date().toISOString(),
    loadAverageAtStart: loadAverage(),
    seconds: 0,
    quick: context.quick,
    figures: [],
  };
  try {
    area.figures = await benchmark.run({ ...context, say: (line) => err(`      │ ${line}`) });
  } catch (error) {
    area.error = interrupted() ? 'interrupted' : ((error as Error).message ?? String(error));
  }
  clearInterval(sampling);
  loads.push(loadAverage()[0]);
  area.seconds = Math.round((performance.now() - started) / 1000);
  const mean = loads.reduce((sum, l) => sum + l, 0) / loads.length;
  area.loadAverageDuring = {
    min: Math.min(...loads),
    mean: Number(mean.toFixed(2)),
    max: Math.max(...loads),
  };
  return area;
}

const { selected, quick } = parseCommandLine();
const budgets = budgetsFor(selected);
const startedAt = new Date().toISOString();
const atStart = machine();
let interrupted = false;
// The scripts get Ctrl-C too and stop what they started; then the results so far are written.
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  err('bench: interrupted; writing the results so far (Ctrl-C again to quit at once)');
});

err(
  `bench: ${selected.map((b) => b.name).join(', ')}${quick ? ' (--quick)' : ''}, about ${minutes(selected)} min; ` +
    `${atStart.cpus} CPUs (${atStart.model}), load average ${atStart.loadAverageAtStart.join(' ')}`,
);
const ran: AreaResult[] = [];
for (const [index, benchmark] of selected.entries()) {
  if (interrupted) break;
  err(
    `[${index + 1}/${selected.length}] ${benchmark.name}: ${benchmark.title} — ${benchmark.command(quick)}`,
  );
  const context = { quick, budgets: budgets.get(benchmark.name) as AreaBudgets };
  const area = await runArea(benchmark, context, () => interrupted);
  ran.push(area);
  const missed = misses([area]).length;
  err(
    area.error
      ? `      → did not finish after ${area.seconds} s: ${area.error}`
      : `      → ${area.figures.length} figures in ${area.seconds} s, ${missed === 0 ? 'all within budget' : `${missed} missed`}`,
  );
}

const names = ran.map((area) => area.name);
const kept = earlierAreas(JSON_PATH, names);
writeResults(
  {
    date: startedAt,
    quick,
    ran: names,
    machine: { ...atStart, loadAverageAtEnd: loadAverage() },
    // In the benchmarks' own order, whether measured now or kept from before.
    areas: NAMES.flatMap((name) => [...ran, ...kept].filter((area) => area.name === name)),
  },
  JSON_PATH,
  MARKDOWN_PATH,
);

const sideBySide = ran.flatMap((area) =>
  area.figures.filter((f) => f.sides).map((f) => `  ${sideBySideLine(f)}`),
);
if (sideBySide.length > 0)
  process.stdout.write(`side by side, in turn in the same run:\n${sideBySide.join('\n')}\n`);
const missed = misses(ran);
const figures = ran.flatMap((area) => area.figures).filter((f) => f.verdict !== 'shown');
const passed = figures.filter((f) => f.verdict === 'pass').length;
process.stdout.write(
  `bench: ${passed} of ${figures.length} figures within budget; wrote bench/results.md and bench/results.json\n`,
);
if (missed.length > 0) process.stdout.write(`missed:\n${missed.map((m) => `  ${m}\n`).join('')}`);
process.exit(interrupted ? 130 : missed.length > 0 ? 1 : 0);
