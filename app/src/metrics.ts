// Prometheus metrics of one app instance, on its own registry (several apps can share a process, e.g. in tests).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { type Simulations, simulationNames } from './simulations/index.ts';

/** Label names are part of the contract with the alert rules and dashboards. */
export const httpLabels = ['method', 'route', 'status'] as const;
type HttpLabel = (typeof httpLabels)[number];

/** The `route` label of requests no route matched, so that scanners cannot blow up cardinality. */
export const unmatchedRoute = 'unmatched';

export interface AppMetrics {
  registry: Registry;
  httpRequests: Counter<HttpLabel>;
  httpDuration: Histogram<HttpLabel>;
}

export function createMetrics(simulations: Simulations, isReady: () => boolean): AppMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code.',
    labelNames: httpLabels,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer HTTP requests, by method, route pattern and status code.',
    labelNames: httpLabels,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  // Simulation gauges are read from the live state at scrape time.
  new Gauge({
    name: 'selfheal_app_simulation_active',
    help: 'Whether a failure simulation is active (1) or not (0).',
    labelNames: ['simulation'] as const,
    registers: [registry],
    collect() {
      const active = simulations.active();
      for (const name of simulationNames) this.set({ simulation: name }, active[name] ? 1 : 0);
    },
  });
  new Gauge({
    name: 'selfheal_app_leaked_bytes',
    help: 'Bytes retained on purpose by the memory-leak simulation.',
    registers: [registry],
    collect() {
      this.set(simulations.memoryLeak.state().leakedBytes);
    },
  });
  new Gauge({
    name: 'selfheal_app_error_ratio',
    help: 'Fraction of requests to / that the errors simulation fails (0 when off).',
    registers: [registry],
    collect() {
      this.set(simulations.errors.state().ratio);
    },
  });
  new Gauge({
    name: 'selfheal_app_cpu_burn_threads',
    help: 'Worker threads busy-looping for the cpu simulation.',
    registers: [registry],
    collect() {
      this.set(simulations.cpu.state().cores);
    },
  });
  new Gauge({
    name: 'selfheal_app_ready',
    help: 'Whether the app reports itself ready on /ready (1) or not (0).',
    registers: [registry],
    collect() {
      this.set(isReady() ? 1 : 0);
    },
  });

  return { registry, httpRequests, httpDuration };
}
