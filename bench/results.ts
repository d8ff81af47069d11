// The results of a run: the machine it ran on, each area's figures and the load it ran under; read back, merged,
// written as JSON and (bench/markdown.ts) Markdown.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { figureSchema, targetText } from './figures.ts';
import { markdown } from './markdown.ts';

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
  /** The 1-minute load average sampled while the area ran (absent in results written before it was kept). */
  loadAverageDuring: z.object({ min: z.number(), mean: z.number(), max: z.number() }).optional(),
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
export type Load = z.infer<typeof loadSchema>;

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

/** Figures that missed their target or have no value, as "area: metric (value)". */
export function misses(areas: readonly AreaResult[]): string[] {
  return areas.flatMap((area) => [
    ...(area.error ? [`${area.name}: did not finish: ${area.error}`] : []),
    ...area.figures
      .filter((f) => f.verdict === 'MISS' || f.verdict === 'no value')
      .map(
        (f) =>
          `${area.name}: ${f.metric}: ${f.value ?? 'no value'}${f.value === null ? '' : ` ${f.unit}`}, target ${targetText(f.target, f.unit)}`,
      ),
  ]);
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
