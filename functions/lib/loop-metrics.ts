// The closed loop's metrics, on the same registry as the others (appended to faas-js-runtime's /metrics): time to
// recovery, escalations, the breaker.
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from './metrics.ts';

// From the alert's start (its first instance) to its resolution, once an action healed it.
export const timeToRecovery = new Histogram({
  name: 'selfheal_time_to_recovery_seconds',
  help: 'From the start of an alert to its resolution after selfheal acted, by alert name and the last action taken',
  labelNames: ['alertname', 'action'] as const,
  buckets: [15, 30, 60, 90, 120, 180, 240, 300, 450, 600, 900, 1800, 3600],
  registers: [registry],
});

export const escalations = new Counter({
  name: 'selfheal_escalations_total',
  help: 'Escalations from one step of the chain to the next (to="notify": the chain was spent), by alert name and reason',
  labelNames: ['alertname', 'from', 'to', 'reason'] as const,
  registers: [registry],
});

export const breakerTrips = new Counter({
  name: 'selfheal_breaker_trips_total',
  help: 'Breakers opened on a workload, by namespace, workload and reason',
  labelNames: ['namespace', 'workload', 'reason'] as const,
  registers: [registry],
});

// 1 while this function instance last saw the breaker of a workload open, 0 once it saw it closed.
export const breakerOpen = new Gauge({
  name: 'selfheal_breaker_open',
  help: 'Whether the breaker of a workload is open (1) or closed (0), as this function last saw it',
  labelNames: ['namespace', 'workload'] as const,
  registers: [registry],
});

export const notifications = new Counter({
  name: 'selfheal_notifications_total',
  help: 'Notifications of a human, by channel and outcome',
  labelNames: ['channel', 'outcome'] as const,
  registers: [registry],
});
