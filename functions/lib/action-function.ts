// Builds an action's faas-js-runtime module (init, handle, shutdown, readiness, liveness, authorize):
// parse the request → run the logic → answer; the Kubernetes client is created once in init().
import type { IncomingHttpHeaders } from 'node:http';
import { hostname } from 'node:os';
import { answer, errorAnswer, type HttpAnswer } from './answer.ts';
import { checkBearer } from './auth.ts';
import { type ActionConfig, loadActionConfig } from './config.ts';
import { readDeadLetter } from './dead-letter.ts';
import type { ActionDeps, ActionLogic } from './decision.ts';
import { attributeProblems, INVALID_CLOUDEVENT } from './envelope.ts';
import { SelfhealError } from './errors.ts';
import type { ActionName } from './events.ts';
import { createKube, type KubeConfig, type KubeOps } from './kube.ts';
import { createLogger, type Logger } from './log.ts';
import { oidcAuthorizer } from './oidc.ts';
import { recordDeadLetter, runAction } from './report.ts';
import { type ActionRequest, parseCloudEventRequest, parsePlainRequest } from './request.ts';

export type InvocationContext = {
  headers: IncomingHttpHeaders;
  method?: string;
  cloudevent?:
    | { specversion?: string; id: string; source?: string; type: string; data?: unknown }
    | undefined;
};

export type ActionFunctionOptions = {
  // Defaults: configuration from process.env, the client from KUBECONFIG or the pod's service account.
  config?: () => ActionConfig;
  kubeConfig?: KubeConfig;
  kube?: KubeOps;
  log?: Logger;
  now?: () => Date;
  beforeWrite?: (stage: string) => Promise<void>;
};

type Reply = { code: (status: number) => Reply; send: (body: unknown) => unknown };

function looksLikeCloudEvent(headers: IncomingHttpHeaders): boolean {
  return (
    Object.keys(headers).some((h) => h.startsWith('ce-')) ||
    /cloudevents/i.test(String(headers['content-type'] ?? ''))
  );
}

export function actionFunction(name: ActionName, logic: ActionLogic, options: ActionFunctionOptions = {}) {
  let deps: ActionDeps | undefined;
  // With SELFHEAL_ACTION_AUTH=oidc, the platform's token on each delivery, verified with the API server.
  let verifyOidc: ((headers: IncomingHttpHeaders) => Promise<SelfhealError | undefined>) | undefined;

  async function init(): Promise<void> {
    const config = options.config ? options.config() : loadActionConfig(name, process.env);
    const log = options.log ?? createLogger(name, config.logLevel);
    const kube =
      options.kube ??
      (await createKube(
        {
          kubeconfig: config.kubeconfig,
          tokenFile: config.kubeTokenFile,
          ...(options.kubeConfig ? { kubeConfig: options.kubeConfig } : {}),
        },
        { timeoutMs: config.kubeTimeoutMs },
      ));
    deps = {
      kube,
      config,
      log,
      now: options.now ?? (() => new Date()),
      instance: hostname(),
      ...(options.beforeWrite ? { beforeWrite: options.beforeWrite } : {}),
    };
    verifyOidc = config.oidc
      ? oidcAuthorizer(config.oidc, (token, audiences) => kube.reviewToken(token, audiences))
      : undefined;
    log.info({ namespaces: config.namespaces, dryRun: config.dryRun }, `${name} ready`);
  }

  function authorize(
    headers: IncomingHttpHeaders,
  ): SelfhealError | undefined | Promise<SelfhealError | undefined> {
    if (!deps) return undefined;
    if (verifyOidc) return verifyOidc(headers);
    const token = deps.config.actionToken;
    return token ? checkBearer(headers, token) : undefined;
  }

  async function handle(context: InvocationContext, body?: unknown): Promise<HttpAnswer> {
    if (!deps) return errorAnswer(new SelfhealError('unavailable', `${name} is not initialised yet`));
    const denied = await authorize(context.headers);
    if (denied) return errorAnswer(denied);
    let request: ActionRequest;
    try {
      const forceDryRun = deps.config.dryRun;
      if (context.cloudevent) {
        // The runtime checked the envelope as sent (the SDK invents a missing id); this holds for any caller.
        // A dead letter (knativeerrordest) passes whatever its type.
        const problems = attributeProblems(context.cloudevent);
        if (problems.length > 0) {
          throw new SelfhealError('invalid', `invalid CloudEvent: ${problems.join('; ')}`, {
            problems,
            reason: INVALID_CLOUDEVENT,
          });
        }
        // The Broker's dead-letter sink: an event it could not deliver, of any type, is recorded, not acted on.
        const letter = readDeadLetter(context.cloudevent as unknown as Record<string, unknown>);
        if (letter) return recordDeadLetter(name, letter, deps);
        request = parseCloudEventRequest(name, context.cloudevent, forceDryRun);
      } else if (looksLikeCloudEvent(context.headers)) {
        throw new SelfhealError(
          'invalid',
          'incomplete or malformed CloudEvent: binary mode needs the ce-specversion, ce-id, ce-type and ce-source headers, structured mode a JSON body with them',
          {
            problems: ['headers: ce-specversion, ce-id, ce-type and ce-source are required'],
            reason: INVALID_CLOUDEVENT,
          },
        );
      } else {
        request = parsePlainRequest(name, body, forceDryRun);
      }
    } catch (err) {
      // Parsing throws a SelfhealError for every bad request; anything else is a fault of the code.
      const error =
        err instanceof SelfhealError ? err : new SelfhealError('internal', 'internal error', { cause: err });
      if (error.code >= 500) deps.log.error({ err }, `${name} could not read its request`);
      else deps.log.info({ status: error.code, problems: error.problems }, error.message);
      return errorAnswer(error);
    }
    return answer(await runAction(logic, request, deps), request.format);
  }

  function readiness(_request: unknown, reply: Reply): unknown {
    return deps ? 'OK' : reply.code(503).send('not ready');
  }

  function liveness(): string {
    return 'OK';
  }

  function shutdown(): void {
    deps?.log.flush();
  }

  return { init, handle, authorize, readiness, liveness, shutdown };
}
