// bench/results.md from the results of a run: the headline figures side by side with their baselines and the
// machine and load they came from, then every area's table.
import { type Figure, type Side, targetText } from './figures.ts';
import { type AreaResult, type Load, misses, type Results } from './results.ts';

const load = (l: Load) => l.join(', ');
const cell = (text: string) => text.replaceAll('|', '\\|');
const verdictText = { pass: 'pass', MISS: '**MISS**', 'no value': '**no value**', shown: '–' } as const;
const number = (value: number | null) => (value === null ? '–' : String(value));

/** One side as "412 ms (398–450), p99 460, n 5". */
export function sideText(side: Side): string {
  const unit = side.unit === '' ? '' : ` ${side.unit}`;
  const spread = side.p25 === null || side.p75 === null ? '' : ` (${side.p25}–${side.p75})`;
  const tail = side.p99 === null ? '' : `, p99 ${side.p99}`;
  return `${number(side.median)}${unit}${spread}${tail}, n ${side.n}`;
}

/** A figure measured side by side as one line: "metric: 1.13 × (selfheal 412 ms (…); baseline 365 ms (…)) pass". */
export function sideBySideLine(f: Figure): string {
  const sides = (f.sides ?? []).map((s) => `${s.label} ${sideText(s)}`).join('; ');
  const value = f.value === null ? 'no value' : `${f.value}${f.unit === '' ? '' : ` ${f.unit}`}`;
  const target = f.target === null ? '' : `, target ${targetText(f.target, f.unit)}: ${f.verdict}`;
  return `${f.metric}: ${value} (${sides})${target}`;
}

function during(area: AreaResult): string {
  const l = area.loadAverageDuring;
  return l ? `${l.min}–${l.max} (mean ${l.mean})` : `${area.loadAverageAtStart[0]} at start`;
}

function figureRow(f: Figure, extra: string[] = []): string {
  const [product, baseline] = f.sides ?? [];
  const value = f.value === null ? '–' : `${f.value}${f.unit === '' ? '' : ` ${f.unit}`}`;
  return [
    '',
    cell(f.metric),
    product ? cell(sideText(product)) : '',
    baseline ? `${cell(baseline.label)}: ${cell(sideText(baseline))}` : '',
    `**${value}**`,
    cell(targetText(f.target, f.unit)),
    verdictText[f.verdict],
    ...extra,
    '',
  ]
    .join(' | ')
    .trim();
}

const SIDE_HEADER =
  '| figure | selfheal: median (p25–p75), p99 | baseline, same run | value | target | verdict |';

/** The headline figures of the areas, with the load each area ran under. */
export function headlineMarkdown(areas: readonly AreaResult[]): string[] {
  const rows = areas.flatMap((area) =>
    area.figures.filter((f) => f.headline).map((f) => figureRow(f, [`\`${area.name}\``, during(area)])),
  );
  if (rows.length === 0) return [];
  return [
    `${SIDE_HEADER} area | load average during the area |`,
    '|---|--:|---|--:|---|---|---|---|',
    ...rows,
    '',
  ];
}

function areaMarkdown(area: AreaResult, ranNow: boolean): string {
  const when = ranNow ? '' : ' (kept from an earlier run)';
  const lines = [
    `## ${area.title} (\`${area.name}\`)`,
    '',
    `Measured by \`${area.command}\`${area.quick ? ' (--quick)' : ''} · ${area.measuredAt}${when} · ` +
      `load average at start ${load(area.loadAverageAtStart)}` +
      (area.loadAverageDuring ? `, during ${during(area)}` : '') +
      ` · ${area.seconds.toFixed(0)} s`,
    '',
    `Targets: ${area.budgets}`,
    '',
  ];
  if (area.error) lines.push(`**Did not finish:** ${area.error}`, '');
  if (area.figures.some((f) => f.sides)) {
    lines.push(SIDE_HEADER, '|---|--:|---|--:|---|---|', ...area.figures.map((f) => figureRow(f)), '');
  } else if (area.figures.length > 0) {
    lines.push('| metric | value | unit | target | verdict |', '|---|--:|---|---|---|');
    for (const f of area.figures) {
      lines.push(
        `| ${cell(f.metric)} | ${number(f.value)} | ${f.unit} | ${cell(targetText(f.target, f.unit))} | ${verdictText[f.verdict]} |`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}

export function markdown(results: Results): string {
  const m = results.machine;
  const figures = results.areas.flatMap((area) => area.figures).filter((f) => f.verdict !== 'shown');
  const passed = figures.filter((f) => f.verdict === 'pass').length;
  const missed = misses(results.areas);
  const headline = headlineMarkdown(results.areas);
  return [
    '# selfheal benchmarks',
    '',
    '<!-- Written by `npm run bench`: edit bench/, not this file. -->',
    '',
    'Reproduce: `npm run bench` runs every benchmark but the time to recovery (about 25 minutes, most of it the alert',
    'storm) and rewrites this file and `bench/results.json`; `npm run bench -- cold warm` runs some (the other tables',
    'are kept from the previous run); `npm run bench -- recovery` measures the time to recovery with the production',
    'profile (about 25 minutes more); `--quick` takes fewer iterations. Each table names the script that measures',
    'its area on its own. A target is a budget a user cares about (bench/budgets.yaml says each and why);',
    '`npm run bench` exits non-zero when a figure misses it, and says which. A figure measured side by side is a',
    'ratio to a baseline measured in the same run, the two taken in turn (A, B, B, A, …) so that the load of this',
    'shared machine hits both alike; each side is given as median (p25–p75), p99 and the number of samples.',
    '',
    `Run of ${results.date}${results.quick ? ' (--quick)' : ''}: ${results.ran.join(', ')} · Node ${m.node} · ` +
      `${m.platform} · ${m.cpus} CPUs (${m.model}) · ${m.memoryGiB} GiB RAM, ${m.freeMemoryGiBAtStart} GiB free at start`,
    '',
    `Load average (1, 5, 15 min): ${load(m.loadAverageAtStart)} at start, ${load(m.loadAverageAtEnd)} at the end. ` +
      'The machine is shared (tests, builds and a playground run beside the benchmarks), so latencies on an idle ' +
      'machine are likely lower; each table gives the load while its area ran.',
    '',
    ...(headline.length > 0 ? ['## Headline figures, side by side', '', ...headline] : []),
    `**${passed} of ${figures.length} figures within target.**` +
      (missed.length > 0 ? ` Missed:\n\n${missed.map((x) => `- ${cell(x)}`).join('\n')}` : ''),
    '',
    ...results.areas.map((area) => areaMarkdown(area, results.ran.includes(area.name))),
  ].join('\n');
}
