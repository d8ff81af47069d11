// Outermost middleware: request id, JSON error answers, the request log line and the HTTP metrics.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Middleware } from 'koa';
import type { Logger } from '../log.ts';
import { type AppMetrics, unmatchedRoute } from '../metrics.ts';
import { HttpError } from './errors.ts';

export interface AppState {
  requestId: string;
  log: Logger;
}

// Probes and scrapes arrive every few seconds: log them only at debug level.
const quietPaths = new Set(['/health', '/ready', '/metrics']);

/** Printable ASCII without spaces, of a sane length: anything else is replaced rather than echoed. */
export function pickRequestId(incoming: string | undefined): string {
  return incoming !== undefined && /^[\x21-\x7e]{1,200}$/.test(incoming) ? incoming : randomUUID();
}

export function requestContext(options: {
  logger: Logger;
  metrics: AppMetrics;
  isShuttingDown: () => boolean;
}): Middleware<AppState> {
  const { logger, metrics } = options;
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const requestId = pickRequestId(ctx.get('x-request-id') || undefined);
    ctx.set('x-request-id', requestId);
    ctx.state.requestId = requestId;
    ctx.state.log = logger.child({ requestId });
    let failure: unknown;
    try {
      await next();
      if (ctx.status >= 400 && ctx.body == null) {
        const status = ctx.status;
        ctx.body = { error: `${STATUS_CODES[status] ?? 'error'}: ${ctx.method} ${ctx.path}`, problems: [] };
        ctx.status = status; // Koa turns an implicit 404 into 200 once a body is set
      }
    } catch (error) {
      failure = error;
      answerError(ctx, error);
    }
    // Draining: tell keep-alive clients to reconnect elsewhere, so the connection can close after this answer.
    if (options.isShuttingDown()) ctx.set('connection', 'close');

    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const matched = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
    const labels = {
      method: ctx.method,
      route: typeof matched === 'string' ? matched : unmatchedRoute,
      status: String(ctx.status),
    };
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, seconds);

    const line = {
      req: { method: ctx.method, url: ctx.url, remoteAddress: ctx.request.ip },
      res: { statusCode: ctx.status },
      route: labels.route,
      durationMs: Math.round(seconds * 1e6) / 1e3,
    };
    if (failure !== undefined && !(failure instanceof HttpError)) {
      ctx.state.log.error({ ...line, err: failure }, 'request failed');
    } else if (ctx.status >= 500) {
      ctx.state.log.warn(line, 'request answered with a server error');
    } else if (quietPaths.has(ctx.path)) {
      ctx.state.log.debug(line, 'request');
    } else {
      ctx.state.log.info(line, 'request');
    }
  };
}

function answerError(ctx: Parameters<Middleware<AppState>>[0], error: unknown): void {
  if (error instanceof HttpError) {
    ctx.status = error.status;
    ctx.body = { error: error.message, problems: error.problems };
    return;
  }
  // Koa's own errors (ctx.throw, http-errors) carry a status; only client errors expose their message.
  const status =
    typeof error === 'object' && error !== null && 'status' in error ? Number(error.status) : 500;
  const valid = Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500;
  const expose = valid < 500 && error instanceof Error;
  ctx.status = valid;
  ctx.body = { error: expose ? error.message : 'internal error', problems: [] };
}
