// The opt-in label as the alert rules see it: carried by the pod, exported by kube-state-metrics as kube_pod_labels.
import { OPT_IN_LABEL } from '../functions/lib/guards.ts';

export { OPT_IN_LABEL };

/** kube-state-metrics' name for a Kubernetes label: `label_` and the name with every other character made `_`. */
export function kubeStateMetricsLabelName(label: string): string {
  return `label_${label.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

/**
 * What kube-state-metrics must export (`--metric-labels-allowlist`, or the chart's `metricLabelsAllowlist`): the pods'
 * label for the rules, the Deployments' for the dashboards.
 */
export const KSM_LABELS_ALLOWLIST_ENTRIES = [
  `pods=[${OPT_IN_LABEL}]`,
  `deployments=[${OPT_IN_LABEL}]`,
] as const;
export const KSM_LABELS_ALLOWLIST = KSM_LABELS_ALLOWLIST_ENTRIES.join(',');
export const KSM_LABELS_ALLOWLIST_FLAG = `--metric-labels-allowlist=${KSM_LABELS_ALLOWLIST}`;

/** The clause every rule ends with: only pods that opted in raise an alert. */
export const OPT_IN_CLAUSE = `and on (namespace, pod) kube_pod_labels{${kubeStateMetricsLabelName(OPT_IN_LABEL)}="true"}`;
