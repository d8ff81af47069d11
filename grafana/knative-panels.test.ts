// Each Knative panel of the functions dashboard, evaluated by promtool against series shaped exactly as each Knative
// version exports them (knative-series.ts, from knative/serving's source): every panel returns the requests of
// selfheal's Knative Service on the versions it is for, so none is empty by design.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { stringify } from 'yaml';
import { functionsDashboard } from './functions-dashboard.ts';
import { KNATIVE_VERSIONS } from './knative-series.ts';
import { findPromtool, panelQueries, substituteVariables } from './promql.ts';

type Sample = { labels: Record<string, string>; value: number };
const OTEL = ['1.19', '1.20', '1.21+'];

// What each panel shows for one queue-proxy serving 2 requests/s answered 200 and 0.5/s answered 500, all under
// 0.25 s: its versions, and the samples there (on the others it is empty).
const EXPECTED: Record<string, { versions: string[]; samples: Sample[] }> = {
  'Knative requests': {
    versions: OTEL,
    samples: [
      { labels: { kn_service_name: 'restart-pod', http_response_status_code: '200' }, value: 2 },
      { labels: { kn_service_name: 'restart-pod', http_response_status_code: '500' }, value: 0.5 },
    ],
  },
  'Knative request latency p95': {
    versions: OTEL,
    // 95 % of 2.5 requests/s fall in the bucket (0.1, 0.25]: 0.1 + 0.15 × 0.95.
    samples: [{ labels: { kn_service_name: 'restart-pod' }, value: 0.2425 }],
  },
  'Knative requests (up to 1.18)': {
    versions: ['1.18'],
    samples: [
      { labels: { service_name: 'restart-pod', response_code_class: '2xx' }, value: 2 },
      { labels: { service_name: 'restart-pod', response_code_class: '5xx' }, value: 0.5 },
    ],
  },
};

const labelSet = (labels: Record<string, string>) =>
  `{${Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ')}}`;

const knativePanels = panelQueries(functionsDashboard()).filter((q) => q.panel.startsWith('Knative'));

test('every Knative panel is checked, and each shows data on at least one Knative version', (t) => {
  t.deepEqual([...new Set(knativePanels.map((q) => q.panel))].sort(), Object.keys(EXPECTED).sort());
  for (const [panel, { versions, samples }] of Object.entries(EXPECTED)) {
    t.true(versions.length > 0 && samples.length > 0, `${panel} shows data somewhere`);
  }
  t.deepEqual(
    KNATIVE_VERSIONS.map((v) => v.name),
    ['1.18', '1.19', '1.20', '1.21+'],
  );
});

test('promtool evaluates every Knative panel against each version: data where it applies, nothing elsewhere', async (t) => {
  const tests = KNATIVE_VERSIONS.map((version) => ({
    name: `Knative ${version.name}`,
    interval: '15s',
    input_series: version.series,
    promql_expr_test: knativePanels.map((q) => {
      const expected = EXPECTED[q.panel];
      const applies = expected?.versions.includes(version.name) ?? false;
      return {
        expr: substituteVariables(q.expr),
        eval_time: '10m',
        exp_samples: applies
          ? (expected?.samples ?? []).map((s) => ({ labels: labelSet(s.labels), value: s.value }))
          : [],
      };
    }),
  }));
  const dir = mkdtempSync(join(tmpdir(), 'selfheal-knative-panels-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'knative-panels.yml');
  // fuzzy_compare: rates come out as 1.9999999999999998, not 2.
  writeFileSync(
    file,
    stringify({ evaluation_interval: '15s', fuzzy_compare: true, tests }, { lineWidth: 0 }),
  );
  try {
    const { stdout } = await promisify(execFile)(findPromtool(), ['test', 'rules', file]);
    t.regex(stdout, /SUCCESS/);
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    t.fail(`${stdout}${stderr}`);
  }
});
