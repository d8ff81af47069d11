// The overview's "Closed loop" row: did it heal, how long it took, what escalated, which breakers are open and who
// was told — from the actions' selfheal_time_to_recovery_seconds, selfheal_escalations_total, selfheal_breaker_*.
import { type DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { DATASOURCE, query, sel, thresholdLine, timeseries } from './panels.ts';

/** What the actions record about the closed loop (functions/lib/loop-metrics.ts). */
export const CLOSED_LOOP_METRICS = {
  timeToRecovery: 'selfheal_time_to_recovery_seconds',
  escalations: 'selfheal_escalations_total',
  breakerOpen: 'selfheal_breaker_open',
  breakerTrips: 'selfheal_breaker_trips_total',
  notifications: 'selfheal_notifications_total',
} as const;
const m = CLOSED_LOOP_METRICS;

function table(title: string, description: string, expr: string, legend: string): TablePanel {
  return new TablePanel()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .height(8)
    .span(8)
    .withTarget(query(expr, legend).instant().format(PromQueryFormat.Table));
}

// The series below are born at their first observation (the first heal, the first trip), which increase() reads as
// no change: the panels show totals since the functions started, which count that first one.
export function closedLoopRow(builder: DashboardBuilder): DashboardBuilder {
  return builder
    .withRow(new RowBuilder('Closed loop'))
    .withPanel(
      timeseries(
        'Time to recovery',
        'From the start of an alert to its resolution after selfheal acted and verified it (median and 95th percentile of the episodes healed since the functions started), by alert.',
        's',
      )
        .span(12)
        .withTarget(
          query(
            `histogram_quantile(0.5, sum by (alertname, le) (${m.timeToRecovery}_bucket${sel()}))`,
            '{{alertname}} p50',
          ),
        )
        .withTarget(
          query(
            `histogram_quantile(0.95, sum by (alertname, le) (${m.timeToRecovery}_bucket${sel()}))`,
            '{{alertname}} p95',
            'B',
          ),
        ),
    )
    .withPanel(
      timeseries(
        'Escalations',
        'Alerts that returned, kept firing, or whose action was not verified, handed on to the next step of the chain (to="notify": the chain was spent), since the functions started.',
        'short',
      )
        .span(12)
        .withTarget(
          query(`sum by (alertname, from, to) (${m.escalations}${sel()})`, '{{alertname}} {{from}} → {{to}}'),
        ),
    )
    .withPanel(
      table(
        'Healed',
        'Episodes healed since the functions started, by alert and the furthest action taken (redeploy or scale: it escalated).',
        `sum by (alertname, action) (${m.timeToRecovery}_count${sel()})`,
        '{{alertname}} {{action}}',
      ),
    )
    .withPanel(
      table(
        'Breakers',
        'Workloads whose breaker the functions last saw open (1) or closed (0); while open selfheal leaves the workload alone. Clear one with kubectl annotate <kind> <name> -n <namespace> selfheal.dev/breaker-',
        `max by (namespace, workload) (${m.breakerOpen}${sel()})`,
        '{{namespace}} {{workload}}',
      ).thresholds(thresholdLine(1)),
    )
    .withPanel(
      table(
        'Breaker trips and notifications',
        'Breakers opened (chain or budget spent), and the humans told by channel (SelfhealEscalation to Alertmanager, the webhook), since the functions started.',
        `sum by (namespace, workload, reason) (${m.breakerTrips}${sel()})`,
        '{{workload}} {{reason}}',
      ).withTarget(
        query(`sum by (channel, outcome) (${m.notifications}${sel()})`, '{{channel}} {{outcome}}', 'B')
          .instant()
          .format(PromQueryFormat.Table),
      ),
    );
}
