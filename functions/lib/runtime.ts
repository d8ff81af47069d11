// Starts a function under faas-js-runtime's start(), as in its container, and closes the runtime's gaps:
// the listen address (it always binds '::'), 4xx JSON errors for bad bodies and CloudEvents (it answers 500),
// authentication and the CloudEvents envelope checked before the SDK sees the request, a bound on invocations
// in flight, and selfheal's metrics on its /metrics.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { getHeapStatistics } from 'node:v8';
import {
  checkEnvelopeHeaders,
  checkStructuredBody,
  checkWithSdk,
  type EnvelopeMode,
  envelopeMode,
  INVALID_CLOUDEVENT,
  sdkRefusal,
} from './envelope.ts';
import { errorKindOf, isSelfhealError, SelfhealError } from './errors.ts';
import { attachPlatformHealth, type HealthHost, type PlatformHealth } from './health.ts';
import { DEFAULT_MAX_INFLIGHT, inflightLimiter, RETRY_AFTER_SECONDS } from './inflight.ts';
import type { Logger } from './log.ts';
import { registry } from './metrics.ts';

const require = createRequire(import.meta.url);

export type HealthCheck = (request: never, reply: never) => unknown;

// The module shape faas-js-runtime loads, plus an optional early authentication check.
export type FunctionModule = {
  handle: (context: never, body?: never) => unknown;
  init?: () => unknown;
  shutdown?: () => unknown;
  readiness?: HealthCheck;
  liveness?: HealthCheck;
  // Runs on the headers of each invocation before the body is read: a returned error is the answer (a promise of
  // one when the check asks someone, as a TokenReview does).
  authorize?: (
    headers: IncomingHttpHeaders,
  ) => SelfhealError | undefined | Promise<SelfhealError | undefined>;
};

export type StartOptions = {
  // The function's name, as faas_name on faas-js-runtime's metrics (else FAAS_NAME, K_SERVICE or 'anonymous').
  name?: string;
  host: string;
  port: number;
  bodyLimit: number;
  log: Logger;
  // faas-js-runtime's own (Fastify) log level; its request errors are re-logged by selfheal.
  runtimeLogLevel?: string;
  // faas-js-runtime merges a func.yaml from this folder over the options.
  configDir?: string;
  // Invocations worked on at once; more are answered 503 with Retry-After (default DEFAULT_MAX_INFLIGHT).
  maxInflight?: number;
  // The OpenFaaS watchdog's lock file, written once ready (health.ts); none when unset.
  lockFile?: string;
};

export type RunningFunction = { server: Server; url: string; close: () => Promise<void> };

type FastifyLike = {
  listen: (options: Record<string, unknown>, ...rest: unknown[]) => unknown;
  close: () => Promise<void>;
  setErrorHandler: (handler: (err: RuntimeError, request: RequestLike, reply: ReplyLike) => void) => void;
  addHook: (name: string, hook: (...args: never[]) => unknown) => void;
};
type RequestLike = {
  url: string;
  method: string;
  headers: IncomingHttpHeaders;
  body?: unknown;
  routeOptions?: { url?: string };
};
type ReplyLike = {
  statusCode: number;
  sent: boolean;
  raw: ServerResponse;
  code: (status: number) => ReplyLike;
  header: (name: string, value: string) => ReplyLike;
  removeHeader: (name: string) => ReplyLike;
  send: (body: unknown) => ReplyLike;
};
type RuntimeError = Error & { statusCode?: number; code?: unknown; errors?: unknown };

const FUNCTION_ROUTE = '/';
const METRICS_URL = process.env.METRICS_URL || '/metrics';

// The SelfhealError of an error raised inside the runtime (body parsing, CloudEvent parsing), so that it is answered
// like every other error: its status, and its JSON. `mode` is the request's: a body that cannot be read is a bad
// CloudEvent when it was to be one.
export function runtimeError(
  err: RuntimeError,
  bodyLimit: number,
  mode: EnvelopeMode = 'plain',
): SelfhealError {
  if (isSelfhealError(err)) return err;
  // cloudevents' ValidationError keeps TypeError's name; its class name tells it apart. The runtime's preHandler
  // asks the SDK first (envelope.ts checkWithSdk); this holds should faas-js-runtime's own copy of it differ.
  if (err.name === 'ValidationError' || err.constructor?.name === 'ValidationError') return sdkRefusal(err);
  const badBody = (message: string, problem: string) =>
    new SelfhealError('invalid', message, {
      problems: [problem],
      reason: mode === 'plain' ? 'invalid' : INVALID_CLOUDEVENT,
      cause: err,
    });
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new SelfhealError('too-large', `request body exceeds the limit of ${bodyLimit} bytes`, {
        cause: err,
      });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return badBody('empty body with content-type application/json', 'body: empty, expected JSON');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SelfhealError('unsupported-media-type', `unsupported media type: ${err.message}`, {
        cause: err,
      });
  }
  const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
  if (status === 400 && err instanceof SyntaxError)
    return badBody(`malformed JSON body: ${err.message}`, `body: not JSON (${err.message})`);
  if (status >= 400 && status < 500)
    return new SelfhealError(errorKindOf(status) ?? 'invalid', err.message, {
      reason: 'invalid',
      problems: [err.message],
      cause: err,
    });
  return new SelfhealError('internal', 'internal error', { cause: err });
}

function configure(instance: FastifyLike, mod: FunctionModule, options: StartOptions): void {
  const listen = instance.listen.bind(instance);
  instance.listen = (listenOptions, ...rest) =>
    listen({ ...listenOptions, host: options.host, port: options.port }, ...rest);

  instance.setErrorHandler((err, request, reply) => {
    const error = runtimeError(err, options.bodyLimit, envelopeMode(request.headers));
    const line = { method: request.method, url: request.url, status: error.code, error: error.message };
    if (error.code >= 500) options.log.error({ ...line, err }, 'request failed');
    else options.log.info(line, 'request rejected');
    reply.code(error.code).header('content-type', 'application/json; charset=utf-8').send(error.toJSON());
  });

  // Answers a request the function never sees, with the error as JSON.
  const refuse = (request: RequestLike, reply: ReplyLike, error: SelfhealError) => {
    options.log.info(
      {
        method: request.method,
        url: request.url,
        status: error.code,
        reason: error.reason,
        problems: error.problems,
      },
      error.message,
    );
    if (error.reason === 'overloaded') reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    reply.code(error.code).header('content-type', 'application/json; charset=utf-8').send(error.toJSON());
  };
  const invocation = (request: RequestLike) =>
    request.routeOptions?.url === FUNCTION_ROUTE && request.method !== 'OPTIONS';

  const limiter = inflightLimiter(options.maxInflight ?? DEFAULT_MAX_INFLIGHT);
  instance.addHook('onRequest', ((
    request: RequestLike & { execTimer?: unknown },
    reply: ReplyLike,
    done: () => void,
  ) => {
    // faas-js-runtime stops a timer in onResponse that only its preHandler starts; a request rejected
    // earlier (bad body) would log a TypeError. A no-op timer until the real one is set.
    request.execTimer = () => {};
    if (!invocation(request)) return done();
    // In this order, all before the body is read: who calls, what the headers say, whether there is room.
    const admit = (denied: SelfhealError | undefined) => {
      if (denied) return refuse(request, reply, denied);
      const malformed = checkEnvelopeHeaders(request.method, request.headers);
      if (malformed) return refuse(request, reply, malformed);
      const admission = limiter.admit();
      if ('shed' in admission) return refuse(request, reply, admission.shed);
      // 'close' follows every end of a response: sent, failed or abandoned by the client.
      reply.raw.once('close', admission.release);
      done();
    };
    const checked = mod.authorize?.(request.headers);
    if (!(checked instanceof Promise)) return admit(checked);
    checked.then(admit, (error: unknown) =>
      refuse(
        request,
        reply,
        new SelfhealError('unavailable', `cannot authenticate the caller: ${String(error)}`),
      ),
    );
  }) as never);

  // Added before faas-js-runtime adds its own preHandlers (it parses CloudEvents there), so this runs first:
  // a structured event is checked as sent, before the SDK fills in what is missing; then every event is built by
  // the SDK here, so that what it refuses is a 400 and not a plain request or a 500.
  instance.addHook('preHandler', ((request: RequestLike, reply: ReplyLike, done: (err?: Error) => void) => {
    if (!invocation(request)) return done();
    const mode = envelopeMode(request.headers);
    if (mode !== 'structured' && mode !== 'binary') return done();
    try {
      const malformed =
        (mode === 'structured' ? checkStructuredBody(request.body) : undefined) ??
        checkWithSdk(request.headers, request.body);
      if (malformed) return refuse(request, reply, malformed);
    } catch (err) {
      return done(err as Error);
    }
    done();
  }) as never);

  // faas-js-runtime's metrics handler sends without returning the reply, so an async onSend would race it:
  // render selfheal's metrics before the handler runs and append them synchronously.
  const rendered = new WeakMap<object, string>();
  instance.addHook('preHandler', (async (request: RequestLike) => {
    if (request.routeOptions?.url === METRICS_URL) rendered.set(request, await registry.metrics());
  }) as never);
  instance.addHook('onSend', ((
    request: RequestLike,
    reply: ReplyLike,
    payload: unknown,
    done: (e: null, p: unknown) => void,
  ) => {
    // faas-js-runtime allows every origin; selfheal's callers are Alertmanager, the router and platforms, never a
    // browser: without the header no web page can read an answer or pass a JSON preflight.
    reply.removeHeader('access-control-allow-origin');
    const extra = rendered.get(request);
    if (extra === undefined || reply.statusCode !== 200 || typeof payload !== 'string')
      return done(null, payload);
    done(null, `${payload.trimEnd()}\n${extra}`);
  }) as never);
}

// One start at a time: the diagnostics channel hands over whichever Fastify instance is created next.
let starting: Promise<unknown> = Promise.resolve();

export async function startFunction(mod: FunctionModule, options: StartOptions): Promise<RunningFunction> {
  const previous = starting;
  let release = () => {};
  starting = new Promise<void>((resolve) => {
    release = resolve;
  });
  await previous.catch(() => {});
  let instance: FastifyLike | undefined;
  let health: PlatformHealth | undefined;
  const onInit = (message: unknown) => {
    if (instance) return;
    instance = (message as { fastify: FastifyLike }).fastify;
    configure(instance, mod, options);
    health = attachPlatformHealth(instance as unknown as HealthHost, options.lockFile, (err) =>
      options.log.warn({ err }, `no lock file ${options.lockFile}: exec probes (cat /tmp/.lock) will fail`),
    );
  };
  subscribe('fastify.initialization', onInit);
  try {
    const { start } = require('faas-js-runtime') as {
      start: (fn: FunctionModule, options: Record<string, unknown>) => Promise<Server>;
    };
    const server = await start(mod, {
      ...(options.name ? { name: options.name } : {}),
      port: options.port,
      bodyLimit: options.bodyLimit,
      logLevel: options.runtimeLogLevel ?? 'error',
      ...(options.configDir ? { config: options.configDir } : {}),
    });
    const fastify = instance;
    if (!fastify) throw new Error('faas-js-runtime started without publishing its Fastify instance');
    options.log.info(
      {
        maxInflight: options.maxInflight ?? DEFAULT_MAX_INFLIGHT,
        heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 1_048_576),
      },
      'runtime limits',
    );
    health?.ready();
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return { server, url: `http://${host}:${address.port}`, close: () => fastify.close() };
  } finally {
    unsubscribe('fastify.initialization', onInit);
    release();
  }
}
