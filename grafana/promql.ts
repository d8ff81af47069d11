// Pulls every PromQL query out of a dashboard and checks that Prometheus' own parser (promtool) accepts it.
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { stringify } from 'yaml';
import { BUILD_COMMAND, MissingBinariesError, resolveBinaries } from '../devkit/binaries.ts';

export interface PanelQuery {
  panel: string;
  refId: string;
  expr: string;
}

/** Grafana's built-in and dashboard variables, replaced by values of the same kind before parsing. */
const VARIABLE_VALUES: Record<string, string> = {
  __rate_interval: '1m',
  __interval: '15s',
  __range: '1h',
  namespace: 'demo',
  // The cluster variable's "All" value.
  cluster: '.*',
};

export function substituteVariables(expr: string): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => VARIABLE_VALUES[name] ?? whole);
}

/** Every PromQL expression of a dashboard: its panels' queries and its annotations'. */
export function panelQueries(dashboard: Dashboard): PanelQuery[] {
  const queries: PanelQuery[] = [];
  for (const annotation of dashboard.annotations?.list ?? []) {
    const expr = (annotation as { expr?: unknown }).expr;
    if (typeof expr === 'string')
      queries.push({ panel: `annotation ${annotation.name}`, refId: 'annotation', expr });
  }
  for (const panel of dashboard.panels ?? []) {
    if (!('targets' in panel)) continue;
    for (const target of panel.targets ?? []) {
      const expr = (target as { expr?: unknown }).expr;
      if (typeof expr !== 'string') continue;
      queries.push({
        panel: panel.title ?? `panel ${panel.id}`,
        refId: String((target as { refId?: unknown }).refId ?? '?'),
        expr,
      });
    }
  }
  return queries;
}

/** The newest promtool at hand: the one built from the Prometheus module, else the system's (Debian's). */
export function findPromtool(env: NodeJS.ProcessEnv = process.env): string {
  try {
    return resolveBinaries(['promtool'], env).promtool;
  } catch (err) {
    if (!(err instanceof MissingBinariesError)) throw err;
  }
  try {
    accessSync(SYSTEM_PROMTOOL, constants.X_OK);
    return SYSTEM_PROMTOOL;
  } catch {
    throw new Error(
      `promtool not found: neither built (${BUILD_COMMAND}) nor installed at ${SYSTEM_PROMTOOL}`,
    );
  }
}

const SYSTEM_PROMTOOL = '/usr/bin/promtool';

export interface ParseResult {
  ok: boolean;
  output: string;
}

/**
 * Parses the queries as recording rules with `promtool check rules`: the same parser Prometheus uses to
 * evaluate a panel's query. Returns promtool's verdict and its message naming any bad expression.
 */
export async function checkWithPromtool(
  queries: readonly PanelQuery[],
  promtool = findPromtool(),
): Promise<ParseResult> {
  const dir = mkdtempSync(join(tmpdir(), 'selfheal-promql-'));
  try {
    const rules = queries.map((q, i) => ({
      record: `grafana_panel_query_${i}`,
      expr: substituteVariables(q.expr),
    }));
    const file = join(dir, 'panel-queries.yml');
    writeFileSync(file, stringify({ groups: [{ name: 'grafana-panels', rules }] }));
    try {
      const { stdout, stderr } = await promisify(execFile)(promtool, ['check', 'rules', file]);
      return { ok: true, output: stdout + stderr };
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      return { ok: false, output: stdout + stderr };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
