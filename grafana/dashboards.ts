// The selfheal dashboards, each in its own file, linked to each other through their shared tag.
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { alertsDashboard } from './alerts-dashboard.ts';
import { applicationDashboard } from './application-dashboard.ts';
import { functionsDashboard } from './functions-dashboard.ts';
import { overviewDashboard } from './overview-dashboard.ts';

/** File name (without .json) → dashboard, in the order a reader meets them. */
export const DASHBOARDS: Record<string, () => Dashboard> = {
  overview: overviewDashboard,
  application: applicationDashboard,
  alerts: alertsDashboard,
  functions: functionsDashboard,
};
