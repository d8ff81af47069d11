// "selfheal / Alert History": which selfheal alerts were pending and firing, when, for which target, and what the
// router did with them.

import * as common from '@grafana/grafana-foundation-sdk/common';
import { type Dashboard, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StateTimelinePanel } from '@grafana/grafana-foundation-sdk/statetimeline';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { DATASOURCE, dashboard, METRICS, numberPanels, query, sel, timeseries } from './panels.ts';

export const ALERTS_UID = 'selfheal-alerts';

export function alertsDashboard(): Dashboard {
  const builder = dashboard({
    uid: ALERTS_UID,
    title: 'selfheal / Alert History',
    description:
      'Every selfheal alert over time: pending, firing, resolved; and what the router did with each.',
  })
    .withRow(new RowBuilder('Alerts'))
    .withPanel(
      new StateTimelinePanel()
        .title('Alert history')
        .description('Pending and firing selfheal alerts over time, one lane per alert and target.')
        .datasource(DATASOURCE)
        .height(10)
        .span(24)
        .mergeValues(true)
        .showValue(common.VisibilityMode.Never)
        .withTarget(
          query(
            `max by (alertname, namespace, pod, alertstate) (ALERTS${sel('action!=""', 'alertstate=~"pending|firing"')})`,
            '{{alertname}} {{namespace}}/{{pod}} ({{alertstate}})',
          ),
        ),
    )
    .withPanel(
      new TablePanel()
        .title('Active alerts')
        .description(
          'Alerts active now and how long ago they started (ALERTS_FOR_STATE holds the start time).',
        )
        .datasource(DATASOURCE)
        .unit('s')
        .height(8)
        .span(12)
        .withTarget(
          query(
            `time() - max by (alertname, namespace, pod, action) (ALERTS_FOR_STATE${sel('action!=""')})`,
            '{{alertname}} {{namespace}}/{{pod}}',
          )
            .instant()
            .format(PromQueryFormat.Table),
        ),
    )
    .withPanel(
      timeseries('Firing alerts by name', 'How many targets each selfheal alert fires for.', 'short')
        .span(12)
        .withTarget(
          query(`count by (alertname) (ALERTS${sel('action!=""', 'alertstate="firing"')})`, '{{alertname}}'),
        ),
    )
    .withRow(new RowBuilder('Router'))
    .withPanel(
      timeseries(
        'Alerts received by the router',
        'Alerts per status (firing, resolved) and routing outcome (routed, rejected, failed).',
        'short',
      )
        .span(12)
        .withTarget(
          query(
            `sum by (status, outcome) (increase(${METRICS.routerAlerts}${sel()}[$__rate_interval]))`,
            '{{status}} {{outcome}}',
          ),
        ),
    )
    .withPanel(
      new TablePanel()
        .title('Alerts in range')
        .description('Firing alerts the router received over the selected range, by outcome.')
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .withTarget(
          query(
            `sum by (status, outcome) (increase(${METRICS.routerAlerts}${sel()}[$__range])) > 0`,
            '{{status}} {{outcome}}',
          )
            .instant()
            .format(PromQueryFormat.Table),
        ),
    );
  return numberPanels(builder.build());
}
