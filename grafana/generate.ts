// Writes the dashboards as JSON into grafana/dashboards/, where Grafana's file provisioning picks them up.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { selfhealDashboard } from './selfheal-dashboard.ts';

export const DASHBOARDS_DIR = join(import.meta.dirname, 'dashboards');

/** File name → file content of every generated dashboard. */
export function renderDashboards(): Map<string, string> {
  return new Map([['selfheal.json', `${JSON.stringify(selfhealDashboard(), null, 2)}\n`]]);
}

if (import.meta.main) {
  mkdirSync(DASHBOARDS_DIR, { recursive: true });
  for (const [name, content] of renderDashboards()) {
    writeFileSync(join(DASHBOARDS_DIR, name), content);
    console.log(`wrote ${join(DASHBOARDS_DIR, name)}`);
  }
}
