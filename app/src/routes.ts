// The app's own endpoints: the work endpoint `/`, liveness, readiness and the metrics exposition.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Router } from '@koa/router';
import { z } from 'zod';
import { parseOr400 } from './http/errors.ts';
import type { AppState } from './http/request-context.ts';
import type { AppMetrics } from './metrics.ts';
import type { Simulations } from './simulations/index.ts';
import { hashWork } from './work.ts';

export interface Readiness {
  ready: boolean;
  reasons: string[];
}

const rootQuery = z.object({
  /** Answer this much later: a slow request on demand (latency tests, graceful shutdown). */
  delayMs: z.coerce.number().int().min(0).max(60_000).optional(),
});

export function coreRoutes(
  router: Router<AppState>,
  deps: {
    simulations: Simulations;
    metrics: AppMetrics;
    readiness: () => Readiness;
    podName: string | undefined;
  },
): void {
  const { simulations, metrics, readiness, podName } = deps;

  router.get('/', async (ctx) => {
    const { delayMs } = parseOr400(rootQuery, ctx.query, 'query');
    // Decided up front so that the failure pattern follows the order requests arrive in.
    const fail = simulations.errors.shouldFail();
    if (delayMs) await sleep(delayMs);
    const digest = hashWork(ctx.state.requestId);
    if (fail) {
      ctx.status = 500;
      ctx.body = { error: 'simulated failure (errors simulation is active)', problems: [] };
      return;
    }
    ctx.body = { message: 'hello from selfheal-app', pod: podName ?? null, digest };
  });

  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/ready', (ctx) => {
    const now = readiness();
    ctx.status = now.ready ? 200 : 503;
    ctx.body = now;
  });

  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
}
