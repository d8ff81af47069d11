// Pulls every PromQL query out of a dashboard and checks that Prometheus' own parser (promtool) accepts it.
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { stringify } from 'yaml';

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
};

export function substituteVariables(expr: string): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => VARIABLE_VALUES[name] ?? whole);
}

export function panelQueries(dashboard: Dashboard): PanelQuery[] {
  const queries: PanelQuery[] = [];
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

/** The newest promtool at hand: the one built from the Prometheus module, else the system's. */
export function findPromtool(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.SELFHEAL_CACHE_DIR ?? join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'selfheal');
  const candidates: string[] = [];
  try {
    const line = readFileSync(join(cache, 'binaries.env'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('promtool='));
    if (line) candidates.push(line.slice('promtool='.length).trim());
  } catch {
    // No built binaries yet: fall back to the system promtool.
  }
  candidates.push('/usr/bin/promtool');
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {}
  }
  throw new Error(`promtool not found (looked at ${candidates.join(', ')}); run scripts/setup.sh`);
}

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
