// selfheal's own Prometheus metrics, appended to faas-js-runtime's /metrics by the runtime wrapper.
import { Counter, Histogram, Registry } from 'prom-client';

export const registry = new Registry();

export const decisions = new Counter({
  name: 'selfheal_action_decisions_total',
  help: 'Decisions taken by the action functions, by action and outcome',
  labelNames: ['action', 'outcome', 'reason'] as const,
  registers: [registry],
});

export const alertsReceived = new Counter({
  name: 'selfheal_router_alerts_total',
  help: 'Alerts received by the router, by alert status and routing outcome',
  labelNames: ['status', 'outcome'] as const,
  registers: [registry],
});

export const deliveryDuration = new Histogram({
  name: 'selfheal_router_delivery_duration_seconds',
  help: 'Time to deliver one CloudEvent to its action, by action and outcome',
  labelNames: ['action', 'outcome'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export const deadlineAlerts = new Counter({
  name: 'selfheal_router_deadline_alerts_total',
  help: 'Alerts the router had not delivered when its answer deadline came (in flight and abandoned, or not attempted); its 503 makes Alertmanager retry them',
  labelNames: ['stage'] as const,
  registers: [registry],
});

export const truncatedAlerts = new Counter({
  name: 'selfheal_router_truncated_alerts_total',
  help: 'Alerts Alertmanager left out of notifications to the router (webhook max_alerts), by receiver',
  labelNames: ['receiver'] as const,
  registers: [registry],
});

export const deadLetters = new Counter({
  name: 'selfheal_dead_letters_total',
  help: 'Events a Knative Broker could not deliver after its retries and sent to the dead-letter sink, by event type and last status',
  labelNames: ['type', 'code'] as const,
  registers: [registry],
});
