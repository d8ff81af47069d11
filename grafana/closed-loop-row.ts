// The dashboard's "Closed loop" row: how long alerts took to heal, what escalated, which breakers are open and who
// was told — from the actions' selfheal_time_to_recovery_seconds, selfheal_escalations_total, selfheal_breaker_*.
import * as common from '@grafana/grafana-foundation-sdk/common';
import { type DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana variable reference
const datasource = { type: 'prometheus', uid: '${datasource}' };

export const CLOSED_LOOP_METRICS = {
  timeToRecovery: 'selfheal_time_to_recovery_seconds',
  escalations: 'selfheal_escalations_total',
  breakerOpen: 'selfheal_breaker_open',
  breakerTrips: 'selfheal_breaker_trips_total',
  notifications: 'selfheal_notifications_total',
} as const;
const m = CLOSED_LOOP_METRICS;

function query(expr: string, legend: string, refId = 'A'): DataqueryBuilder {
  return new DataqueryBuilder().expr(expr).legendFormat(legend).refId(refId).datasource(datasource);
}

function timeseries(title: string, description: string, unit: string): TimeseriesPanel {
  return new TimeseriesPanel()
    .title(title)
    .description(description)
    .datasource(datasource)
    .unit(unit)
    .height(8)
    .span(12)
    .lineWidth(1)
    .fillOpacity(10)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom),
    );
}

function table(title: string, description: string, expr: string, legend: string): TablePanel {
  return new TablePanel()
    .title(title)
    .description(description)
    .datasource(datasource)
    .height(8)
    .span(12)
    .withTarget(query(expr, legend).instant().format(PromQueryFormat.Table));
}

export function closedLoopRow(builder: DashboardBuilder): void {
  builder
    .withRow(new RowBuilder('Closed loop'))
    .withPanel(
      timeseries(
        'Time to recovery',
        'From the start of an alert to its resolution after selfheal acted (median and 95th percentile over the range), by alert.',
        's',
      )
        .withTarget(
          query(
            `histogram_quantile(0.5, sum by (alertname, le) (increase(${m.timeToRecovery}_bucket[$__range])))`,
            '{{alertname}} p50',
          ),
        )
        .withTarget(
          query(
            `histogram_quantile(0.95, sum by (alertname, le) (increase(${m.timeToRecovery}_bucket[$__range])))`,
            '{{alertname}} p95',
            'B',
          ),
        ),
    )
    .withPanel(
      // Totals, not increase(): these series are born at 1 (the first heal, the first trip), which increase() reads as 0.
      table(
        'Healed',
        'Episodes healed since the functions started, by alert and the furthest action taken (redeploy or scale: it escalated).',
        `sum by (alertname, action) (${m.timeToRecovery}_count)`,
        '{{alertname}} {{action}}',
      ),
    )
    .withPanel(
      timeseries(
        'Escalations',
        'An alert that returned, kept firing, or whose action was not verified, handed on to the next step (to="notify": the chain was spent).',
        'short',
      ).withTarget(
        query(
          `sum by (alertname, from, to) (increase(${m.escalations}[$__rate_interval]))`,
          '{{alertname}} {{from}} → {{to}}',
        ),
      ),
    )
    .withPanel(
      table(
        'Breakers',
        'Workloads whose breaker the functions last saw open (1) or closed (0); clear one with kubectl annotate <kind> <name> selfheal.dev/breaker-.',
        `max by (namespace, workload) (${m.breakerOpen})`,
        '{{namespace}} {{workload}}',
      ),
    )
    .withPanel(
      table(
        'Breaker trips and notifications',
        'Breakers opened (chain or budget spent) and the humans told, by channel, since the functions started.',
        `sum by (namespace, workload, reason) (${m.breakerTrips})`,
        '{{workload}} {{reason}}',
      ).withTarget(
        query(`sum by (channel, outcome) (${m.notifications})`, '{{channel}} {{outcome}}', 'B')
          .instant()
          .format(PromQueryFormat.Table),
      ),
    );
}
