// The results of a run: the machine it ran on, each area's figures; read back, merged, written as JSON and Markdown.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { figureSchema, targetText } from './figures.ts';

const loadSchema = z.tuple([z.number(), z.number(), z.number()]);

export const areaSchema = z.object({
  name: z.string(),
  title: z.string(),
  /** The command that measured this area on its own. */
  command: z.string(),
  budgets: z.string(),
  measuredAt: z.string(),
  /** 1, 5 and 15 minute load average when the area started. */
  loadAverageAtStart: loadSchema,
  seconds: z.number(),
  quick: z.boolean(),
  error: z.string().optional(),
  figures: z.array(figureSchema),
});

export const resultsSchema = z.object({
  date: z.string(),
  quick: z.boolean(),
  ran: z.array(z.string()),
  machine: z.object({
    cpus: z.number(),
    model: z.string(),
    memoryGiB: z.number(),
    freeMemoryGiBAtStart: z.number(),
    node: z.string(),
    platform: z.string(),
    loadAverageAtStart: loadSchema,
    loadAverageAtEnd: loadSchema,
  }),
  areas: z.array(areaSchema),
});

export type AreaResult = z.infer<typeof areaSchema>;
export type Results = z.infer<typeof resultsSchema>;
type Load = z.infer<typeof loadSchema>;

const GiB = 1024 ** 3;

export function loadAverage(): Load {
  const [one = 0, five = 0, fifteen = 0] = loadavg().map((x) => Number(x.toFixed(2)));
  return [one, five, fifteen];
}

export function machine(): Omit<Results['machine'], 'loadAverageAtEnd'> {
  const cores = cpus();
  return {
    cpus: cores.length,
    model: cores[0]?.model.trim() ?? 'unknown',
    memoryGiB: Number((totalmem() / GiB).toFixed(1)),
    freeMemoryGiBAtStart: Number((freemem() / GiB).toFixed(1)),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverageAtStart: loadAverage(),
  };
}

/** The areas of an earlier results file that this run did not measure again (none when there is no valid file). */
export function earlierAreas(path: string, ranNow: readonly string[]): AreaResult[] {
  if (!existsSync(path)) return [];
  const parsed = resultsSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  return parsed.success ? parsed.data.areas.filter((area) => !ranNow.includes(area.name)) : [];
}

const load = (l: Load) => l.join(', ');
const cell = (text: string) => text.replaceAll('|', '\\|');
const verdictText = { pass: 'pass', MISS: '**MISS**', 'no value': '**no value**' } as const;

function areaMarkdown(area: AreaResult, ranNow: boolean): string {
  const when = ranNow ? '' : ' (kept from an earlier run)';
  const lines = [
    `## ${area.title} (\`${area.name}\`)`,
    '',
    `Measured by \`${area.command}\`${area.quick ? ' (--quick)' : ''} · ${area.measuredAt}${when} · ` +
      `load average at start ${load(area.loadAverageAtStart)} · ${area.seconds.toFixed(0)} s`,
    '',
    `Targets: ${area.budgets}`,
    '',
  ];
  if (area.error) lines.push(`**Did not finish:** ${area.error}`, '');
  if (area.figures.length > 0) {
    lines.push('| metric | value | unit | target | verdict |', '|---|--:|---|---|---|');
    for (const f of area.figures) {
      const value = f.value === null ? '–' : String(f.value);
      lines.push(
        `| ${cell(f.metric)} | ${value} | ${f.unit} | ${cell(targetText(f.target, f.unit))} | ${verdictText[f.verdict]} |`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** Figures that missed their target or have no value, as "area: metric (value)". */
export function misses(areas: readonly AreaResult[]): string[] {
  return areas.flatMap((area) => [
    ...(area.error ? [`${area.name}: did not finish: ${area.error}`] : []),
    ...area.figures
      .filter((f) => f.verdict !== 'pass')
      .map(
        (f) =>
          `${area.name}: ${f.metric}: ${f.value ?? 'no value'}${f.value === null ? '' : ` ${f.unit}`}, target ${targetText(f.target, f.unit)}`,
      ),
  ]);
}

export function markdown(results: Results): string {
  const m = results.machine;
  const figures = results.areas.flatMap((area) => area.figures);
  const passed = figures.filter((f) => f.verdict === 'pass').length;
  const missed = misses(results.areas);
  return [
    '# selfheal benchmarks',
    '',
    '<!-- Written by `npm run bench`: edit bench/, not this file. -->',
    '',
    'Reproduce: `npm run bench` runs every benchmark (about 15 minutes, most of it the alert storm) and rewrites this file and',
    '`bench/results.json`; `npm run bench -- router functions` runs some (the other tables are kept from the',
    'previous run); `npm run bench -- --quick` takes fewer iterations. Each table names the script that measures',
    'its area on its own. A target is a budget a user cares about (bench/budgets.yaml says each and why);',
    '`npm run bench` exits non-zero when a figure misses it, and says which.',
    '',
    `Run of ${results.date}${results.quick ? ' (--quick)' : ''}: ${results.ran.join(', ')} · Node ${m.node} · ` +
      `${m.platform} · ${m.cpus} CPUs (${m.model}) · ${m.memoryGiB} GiB RAM, ${m.freeMemoryGiBAtStart} GiB free at start`,
    '',
    `Load average (1, 5, 15 min): ${load(m.loadAverageAtStart)} at start, ${load(m.loadAverageAtEnd)} at the end. ` +
      'The machine is shared (tests, builds and a playground run beside the benchmarks), so latencies on an idle ' +
      'machine are likely lower; each table gives the load when its area started.',
    '',
    `**${passed} of ${figures.length} figures within target.**` +
      (missed.length > 0 ? ` Missed:\n\n${missed.map((x) => `- ${cell(x)}`).join('\n')}` : ''),
    '',
    ...results.areas.map((area) => areaMarkdown(area, results.ran.includes(area.name))),
  ].join('\n');
}

const BIOME = join(import.meta.dirname, '..', 'node_modules', '.bin', 'biome');

/** Writes both files, laid out by the repository's formatter so that `npm run lint` stays clean. */
export function writeResults(results: Results, jsonPath: string, markdownPath: string): void {
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(markdownPath, markdown(results));
  const formatted = spawnSync(BIOME, ['format', '--write', jsonPath, markdownPath], { encoding: 'utf8' });
  if (formatted.status !== 0) {
    process.stderr.write(
      `bench: could not format the results (${formatted.error?.message ?? formatted.stderr})\n`,
    );
  }
}
