// "selfheal / Self-Healing Overview", for the person on call: is anything failing, what did selfheal do about it, did
// it work (the closed loop: healed, escalated, breakers open); every action and firing alert marked on the time axis,
// the other dashboards one click away.

import * as common from '@grafana/grafana-foundation-sdk/common';
import { type Dashboard, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StateTimelinePanel } from '@grafana/grafana-foundation-sdk/statetimeline';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { closedLoopRow } from './closed-loop-row.ts';
import {
  DATASOURCE,
  dashboard,
  METRICS,
  numberPanels,
  query,
  sel,
  stat,
  thresholdLine,
  timeseries,
} from './panels.ts';

export const OVERVIEW_UID = 'selfheal-overview';

export function overviewDashboard(): Dashboard {
  const builder = dashboard({
    uid: OVERVIEW_UID,
    title: 'selfheal / Self-Healing Overview',
    description:
      'For the person on call: selfheal alerts firing now, the actions taken, what was refused or failed, whether the workloads recovered, and what escalated to a human.',
  })
    .withRow(new RowBuilder('Now'))
    .withPanel(
      stat(
        'Alerts firing',
        'selfheal alerts firing now (each names its action).',
        `count(ALERTS${sel('action!=""', 'alertstate="firing"')}) or vector(0)`,
        'firing',
      ),
    )
    .withPanel(
      stat(
        'Actions applied',
        'Pods restarted, rollouts restarted and Deployments scaled over the selected range.',
        `sum(increase(${METRICS.decisions}${sel('outcome="applied"')}[$__range])) or vector(0)`,
        'applied',
      ),
    )
    .withPanel(
      stat(
        'Refused or failed',
        'Decisions that need a human: refused (not opted in, namespace not allowed, budget) or failed.',
        `sum(increase(${METRICS.decisions}${sel('outcome=~"refused|failed"')}[$__range])) or vector(0)`,
        'refused or failed',
      ).thresholds(thresholdLine(1)),
    )
    .withPanel(
      stat(
        'Unready opted-in pods',
        'Opted-in pods that are running but not Ready, across namespaces.',
        `count((kube_pod_status_ready${sel('condition="false"')} == 1) and on (namespace, pod) kube_pod_labels${sel('label_selfheal_dev_enabled="true"')}) or vector(0)`,
        'unready',
      ),
    )
    .withRow(new RowBuilder('What happened'))
    .withPanel(
      new StateTimelinePanel()
        .title('Alerts')
        .description(
          'Pending and firing selfheal alerts, one lane per alert and target (details: Alert History).',
        )
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
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
      timeseries('Actions', 'Decisions per action and outcome over time.', 'short')
        .span(12)
        .withTarget(
          query(
            `sum by (action, outcome) (increase(${METRICS.decisions}${sel()}[$__rate_interval]))`,
            '{{action}} {{outcome}}',
          ),
        ),
    )
    .withPanel(
      new TablePanel()
        .title('Decisions in range')
        .description(
          'Every action, outcome and reason over the selected range; `kubectl get events -A -o wide | grep selfheal/` names the targets.',
        )
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .withTarget(
          query(
            `sum by (action, outcome, reason) (increase(${METRICS.decisions}${sel()}[$__range])) > 0`,
            '{{action}} {{outcome}} {{reason}}',
          )
            .instant()
            .format(PromQueryFormat.Table),
        ),
    )
    .withPanel(
      timeseries(
        'Ready replicas of opted-in Deployments',
        'Available replicas against the desired count: the recovery an action should bring.',
        'short',
      )
        .span(12)
        .withTarget(
          query(
            `sum by (namespace, deployment) (kube_deployment_status_replicas_available${sel()})\n` +
              `  and on (namespace, deployment) kube_deployment_labels${sel('label_selfheal_dev_enabled="true"')}`,
            '{{namespace}}/{{deployment}} available',
          ),
        )
        .withTarget(
          query(
            `sum by (namespace, deployment) (kube_deployment_spec_replicas${sel()})\n` +
              `  and on (namespace, deployment) kube_deployment_labels${sel('label_selfheal_dev_enabled="true"')}`,
            '{{namespace}}/{{deployment}} desired',
            'B',
          ),
        ),
    );
  return numberPanels(closedLoopRow(builder).build());
}
