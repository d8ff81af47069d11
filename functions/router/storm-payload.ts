// A storm notification for tests and measurements: a captured Alertmanager payload whose one alert is cloned as
// many distinct pods, each as the production rule and Prometheus would send it (about 1.1 KB of JSON an alert).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventId } from '../lib/events.ts';

const FIRING = join(import.meta.dirname, '..', 'lib', 'fixtures', 'alertmanager-0.35.0', 'firing.json');

// As the production rule renders it (stack/prometheus/rules/selfheal.rules.yml) and Prometheus links it.
const EXPR =
  'max by (namespace, pod, container) (\n  container_memory_working_set_bytes{container!="", container!="POD"}\n) > 200 * 1024 * 1024\n';

const EXTERNAL_LABELS = {
  cluster: 'prod-eu-west-1',
  prometheus: 'monitoring/prometheus',
  prometheus_replica: 'prometheus-0',
};

export type StormAlert = {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  fingerprint: string;
  startsAt: string;
};

// A captured notification whose one alert is cloned `count` times as distinct pods (distinct fingerprints),
// with the annotations and generator URL the production rule gives a real alert.
export function stormPayload(count: number): { body: string; alerts: StormAlert[] } {
  const payload = JSON.parse(readFileSync(FIRING, 'utf8'));
  const [alert] = payload.alerts as StormAlert[];
  if (!alert) throw new Error('the captured firing payload has no alert');
  const alerts = Array.from({ length: count }, (_, i) => {
    const pod = `web-7d9f8b6c5-${i.toString(36).padStart(5, '0')}`;
    return {
      ...alert,
      // Prometheus adds its external labels to every alert it sends.
      labels: { ...alert.labels, pod, ...EXTERNAL_LABELS },
      annotations: {
        summary: `Container app of pod demo/${pod} uses 212.4MiB of memory`,
        description: `The working-set memory of container app in pod demo/${pod} has stayed above 200 MiB for more than 1 minute (now 212.4MiB). selfheal restarts the pod.`,
        runbook_url: 'https://runbooks.example.com/selfheal/highmemoryusage',
        dashboard: `https://grafana.example.com/d/selfheal-overview/selfheal?var-namespace=demo&var-pod=${pod}&from=now-1h&to=now`,
      },
      generatorURL: `http://prometheus-0.monitoring.svc:9090/graph?g0.expr=${encodeURIComponent(EXPR)}&g0.tab=1`,
      fingerprint: (0x1000000000 + i).toString(16).padStart(16, '0'),
    };
  });
  payload.alerts = alerts;
  payload.groupKey = `{}/{action=~".+"}:{alertname="HighMemoryUsage", namespace="demo"}#${count}`;
  return { body: JSON.stringify(payload), alerts };
}

// The id of the event the router sends for a storm alert (all of them ask for restart-pod).
export const idOf = (alert: StormAlert) => eventId(alert.fingerprint, alert.startsAt, 'restart-pod');
