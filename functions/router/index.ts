// The router function (faas-js-runtime module): Alertmanager's webhook in (bearer token), one CloudEvent per
// firing alert out to its action, a per-alert result list back. It never loads the Kubernetes client.
import type { IncomingHttpHeaders } from 'node:http';
import { parseWebhook } from '../lib/alertmanager.ts';
import { checkBearer } from '../lib/auth.ts';
import { loadRouterConfig, type RouterConfig } from '../lib/config.ts';
import { SelfhealError } from '../lib/errors.ts';
import { createHttpSender, type HttpSender } from '../lib/http.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { createProgress, type Progress } from './progress.ts';
import { routeWebhook } from './router.ts';

export type RouterOptions = { config?: () => RouterConfig; log?: Logger; sender?: HttpSender };

type Answer = { statusCode: number; headers: Record<string, string>; body: string };
type Reply = { code: (status: number) => Reply; send: (body: unknown) => unknown };

const json = (statusCode: number, body: unknown): Answer => ({
  statusCode,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body: JSON.stringify(body),
});

export function routerFunction(options: RouterOptions = {}) {
  let state: { config: RouterConfig; log: Logger; sender: HttpSender; progress: Progress } | undefined;

  function init(): void {
    const config = options.config ? options.config() : loadRouterConfig(process.env);
    const log = options.log ?? createLogger('router', config.logLevel);
    const sender = options.sender ?? createHttpSender({ connections: config.deliveryConcurrency * 2 });
    state = { config, log, sender, progress: createProgress() };
    log.info(
      {
        sink: config.sink.kind,
        routes: config.routes,
        namespaces: config.namespaces,
        answerDeadlineMs: config.answerDeadlineMs,
        maxBodyBytes: config.maxBodyBytes,
        dryRun: config.dryRun,
      },
      'router ready',
    );
  }

  function authorize(headers: IncomingHttpHeaders): SelfhealError | undefined {
    return state ? checkBearer(headers, state.config.webhookToken) : undefined;
  }

  async function handle(
    context: { headers: IncomingHttpHeaders; method?: string },
    body?: unknown,
  ): Promise<Answer> {
    if (!state)
      return json(503, new SelfhealError('unavailable', 'the router is not initialised yet').toJSON());
    // The clock starts before the webhook is validated and planned: all of it counts against Alertmanager's wait.
    const receivedAt = performance.now();
    const deadline = AbortSignal.timeout(state.config.answerDeadlineMs);
    const denied = authorize(context.headers);
    if (denied) return json(denied.code, denied.toJSON());
    if (context.method && context.method !== 'POST') {
      return json(405, {
        error: 'POST an Alertmanager webhook (version 4) to this URL',
        kind: 'invalid',
        reason: 'method',
      });
    }
    try {
      if (body === undefined || typeof body !== 'object' || Buffer.isBuffer(body)) {
        throw new SelfhealError(
          'invalid',
          'send the Alertmanager webhook as JSON (content-type application/json)',
          {
            problems: ['body: expected a JSON object'],
          },
        );
      }
      const webhook = parseWebhook(body);
      const { statusCode, body: result } = await routeWebhook(webhook, {
        config: state.config,
        post: state.sender.post,
        log: state.log,
        deadline,
        progress: state.progress,
        receivedAt,
      });
      return json(statusCode, result);
    } catch (err) {
      const error =
        err instanceof SelfhealError ? err : new SelfhealError('internal', 'internal error', { cause: err });
      state.log[error.code >= 500 ? 'error' : 'info'](
        { status: error.code, problems: error.problems, err: error.cause },
        error.message,
      );
      return json(error.code, error.toJSON());
    }
  }

  function readiness(_request: unknown, reply: Reply): unknown {
    return state ? 'OK' : reply.code(503).send('not ready');
  }

  function liveness(): string {
    return 'OK';
  }

  async function shutdown(): Promise<void> {
    await state?.sender.close();
    state?.log.flush();
  }

  return { init, handle, authorize, readiness, liveness, shutdown };
}

export const { init, handle, authorize, readiness, liveness, shutdown } = routerFunction();
