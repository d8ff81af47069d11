// HTTP endpoints that start, inspect and reset the failure simulations.
import type { Router } from '@koa/router';
import { z } from 'zod';
import { readJsonBody } from '../http/body.ts';
import { HttpError, parseOr400 } from '../http/errors.ts';
import type { AppState } from '../http/request-context.ts';
import type { Logger } from '../log.ts';
import { cpuParams } from './cpu.ts';
import { crashParams, writeCrashLoopMarker } from './crash.ts';
import { errorsParams } from './errors.ts';
import type { Simulations } from './index.ts';
import { memoryLeakParams } from './memory-leak.ts';
import { notReadyParams } from './not-ready.ts';

const resetParams = z.strictObject({});

export interface SimulationRouteDeps {
  simulations: Simulations;
  podName: string | undefined;
  logger: Logger;
  /** Ends the process (process.exit in production). */
  exit: (code: number) => void;
}

export function simulationRoutes(router: Router<AppState>, deps: SimulationRouteDeps): void {
  const { simulations } = deps;

  router.get('/simulate', (ctx) => {
    ctx.body = simulations.state();
  });

  router.post('/simulate/memory-leak', async (ctx) => {
    const params = parseOr400(memoryLeakParams, await readJsonBody(ctx.req), 'body');
    simulations.memoryLeak.start(params);
    ctx.state.log.warn({ simulation: 'memory-leak', params }, 'simulation started');
    ctx.body = { simulation: 'memory-leak', params, state: simulations.memoryLeak.state() };
  });

  router.post('/simulate/errors', async (ctx) => {
    const params = parseOr400(errorsParams, await readJsonBody(ctx.req), 'body');
    simulations.errors.start(params);
    ctx.state.log.warn({ simulation: 'errors', params }, 'simulation started');
    ctx.body = { simulation: 'errors', params, state: simulations.errors.state() };
  });

  router.post('/simulate/not-ready', async (ctx) => {
    const params = parseOr400(notReadyParams, await readJsonBody(ctx.req), 'body');
    simulations.notReady.start(params);
    ctx.state.log.warn({ simulation: 'not-ready', params }, 'simulation started');
    ctx.body = { simulation: 'not-ready', params, state: simulations.notReady.state() };
  });

  router.post('/simulate/cpu', async (ctx) => {
    const params = parseOr400(cpuParams, await readJsonBody(ctx.req), 'body');
    simulations.cpu.start(params);
    ctx.state.log.warn({ simulation: 'cpu', params }, 'simulation started');
    ctx.body = { simulation: 'cpu', params, state: simulations.cpu.state() };
  });

  router.post('/simulate/crash', async (ctx) => {
    const params = parseOr400(crashParams, await readJsonBody(ctx.req), 'body');
    let marker: string | null = null;
    if (params.loop) {
      try {
        marker = writeCrashLoopMarker(simulations.stateDir, {
          exitCode: params.exitCode,
          createdAt: new Date().toISOString(),
          pod: deps.podName ?? null,
        });
      } catch (error) {
        throw new HttpError(500, 'cannot arm the crash loop', [
          `STATE_DIR: ${error instanceof Error ? error.message : String(error)}`,
        ]);
      }
    }
    ctx.state.log.warn({ simulation: 'crash', params, marker }, 'simulation started: exiting soon');
    // Exit only once the 202 has been written, then after the requested delay.
    ctx.res.once('close', () => {
      setTimeout(() => {
        deps.logger.fatal({ simulation: 'crash', exitCode: params.exitCode }, 'crashing on request');
        deps.exit(params.exitCode);
      }, params.delayMs);
    });
    ctx.status = 202;
    ctx.body = { simulation: 'crash', params, marker };
  });

  router.post('/simulate/reset', async (ctx) => {
    parseOr400(resetParams, await readJsonBody(ctx.req), 'body');
    const ended = simulations.reset();
    ctx.state.log.warn({ ended }, 'simulations reset');
    ctx.body = { ended, state: simulations.state() };
  });
}
