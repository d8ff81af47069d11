// Builds one app instance: Koa app, HTTP server, simulations, metrics, and its listen/shutdown/close lifecycle.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Router } from '@koa/router';
import Koa from 'koa';
import { type AppState, requestContext } from './http/request-context.ts';
import type { Logger } from './log.ts';
import { type AppMetrics, createMetrics } from './metrics.ts';
import { coreRoutes, type Readiness } from './routes.ts';
import { createSimulations, type Simulations } from './simulations/index.ts';
import { simulationRoutes } from './simulations/routes.ts';

export interface AppOptions {
  logger: Logger;
  stateDir: string;
  podName?: string | undefined;
  /** How the crash simulation ends the process; defaults to process.exit (tests pass a recorder). */
  exit?: (code: number) => void;
}

export type ShutdownResult = 'drained' | 'timed-out';

export interface App {
  app: Koa<AppState>;
  server: Server;
  simulations: Simulations;
  metrics: AppMetrics;
  readiness(): Readiness;
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Graceful: readiness 503, wait `delayMs`, stop accepting, drain in-flight requests until `timeoutMs` in total. */
  shutdown(options: { delayMs: number; timeoutMs: number }): Promise<ShutdownResult>;
  /** Immediate: stop everything and drop open connections (tests). */
  close(): Promise<void>;
}

export function createApp(options: AppOptions): App {
  const { logger } = options;
  const lifecycle = { listening: false, shuttingDown: false };
  const simulations = createSimulations({ logger, stateDir: options.stateDir });

  function readiness(): Readiness {
    const reasons: string[] = [];
    if (!lifecycle.listening) reasons.push('starting');
    if (lifecycle.shuttingDown) reasons.push('shutting down');
    if (simulations.notReady.state().active) reasons.push('not-ready simulation is active');
    return { ready: reasons.length === 0, reasons };
  }

  const metrics = createMetrics(simulations, () => readiness().ready);
  const app = new Koa<AppState>();
  // Errors Koa meets outside the middleware chain (e.g. a client gone mid-response) go to the log, not stderr.
  app.on('error', (error: unknown) => logger.warn({ err: error }, 'http error outside a request handler'));
  const router = new Router<AppState>();
  coreRoutes(router, { simulations, metrics, readiness, podName: options.podName });
  simulationRoutes(router, {
    simulations,
    podName: options.podName,
    logger,
    exit: options.exit ?? ((code) => process.exit(code)),
  });
  app.use(requestContext({ logger, metrics, isShuttingDown: () => lifecycle.shuttingDown }));
  app.use(router.routes());
  app.use(router.allowedMethods());

  const server = createServer(app.callback());

  return {
    app,
    server,
    simulations,
    metrics,
    readiness,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          lifecycle.listening = true;
          resolve(server.address() as AddressInfo);
        });
      });
    },
    async shutdown({ delayMs, timeoutMs }) {
      const deadline = Date.now() + timeoutMs;
      lifecycle.shuttingDown = true;
      logger.info({ delayMs, timeoutMs }, 'shutting down: readiness is now 503');
      if (delayMs > 0) await sleep(Math.min(delayMs, timeoutMs));
      const closed = new Promise<ShutdownResult>((resolve) => server.close(() => resolve('drained')));
      server.closeIdleConnections();
      const timer = new AbortController();
      const result = await Promise.race([
        closed,
        sleep(Math.max(0, deadline - Date.now()), 'timed-out' as const, { signal: timer.signal }).catch(
          () => 'drained' as const,
        ),
      ]);
      timer.abort();
      simulations.stop();
      if (result === 'timed-out') server.closeAllConnections();
      return result;
    },
    async close() {
      lifecycle.shuttingDown = true;
      simulations.stop();
      const wasListening = server.listening;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      if (wasListening) await closed;
    },
  };
}
