// Writes the dashboards as JSON into grafana/dashboards/, where Grafana's file provisioning picks them up.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DASHBOARDS } from './dashboards.ts';

export const DASHBOARDS_DIR = join(import.meta.dirname, 'dashboards');

/** File name → file content of every generated dashboard. */
export function renderDashboards(): Map<string, string> {
  return new Map(
    Object.entries(DASHBOARDS).map(([name, build]) => [
      `${name}.json`,
      `${JSON.stringify(build(), null, 2)}\n`,
    ]),
  );
}

if (import.meta.main) {
  mkdirSync(DASHBOARDS_DIR, { recursive: true });
  const rendered = renderDashboards();
  for (const stale of readdirSync(DASHBOARDS_DIR).filter((name) => !rendered.has(name))) {
    rmSync(join(DASHBOARDS_DIR, stale));
    console.log(`removed ${join(DASHBOARDS_DIR, stale)}`);
  }
  for (const [name, content] of rendered) {
    writeFileSync(join(DASHBOARDS_DIR, name), content);
    console.log(`wrote ${join(DASHBOARDS_DIR, name)}`);
  }
}
