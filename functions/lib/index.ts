// The shared library of the selfheal functions, in one import. Nothing here loads @kubernetes/client-node
// until createKube() is called.
export type {
  ActionDeps,
  ActionLogic,
  ActionOutcome,
  ActionRequest,
  Decision,
  HttpAnswer,
} from './action.ts';
export { answer, errorAnswer, parseCloudEventRequest, parsePlainRequest, runAction } from './action.ts';
export type { ActionFunctionOptions, InvocationContext } from './action-function.ts';
export { actionFunction } from './action-function.ts';
export type { Alert, Webhook } from './alertmanager.ts';
export { alertSchema, parseWebhook, webhookSchema } from './alertmanager.ts';
export { checkBearer, tokenMatches } from './auth.ts';
export type { ActionConfig, Env, FunctionConfig, FunctionName, RouterConfig, Sink } from './config.ts';
export {
  DEFAULT_ROUTES,
  FUNCTION_NAMES,
  isFunctionName,
  loadActionConfig,
  loadConfig,
  loadRouterConfig,
} from './config.ts';
export type { ErrorKind, KubeOperation } from './errors.ts';
export {
  describeIssues,
  fromKubernetesError,
  isSelfhealError,
  SelfhealError,
  transportErrorCode,
} from './errors.ts';
export type {
  ActionEventData,
  ActionName,
  ActionParams,
  AlertRef,
  Outcome,
  ResultData,
  Target,
} from './events.ts';
export {
  ACTION_EVENT_PREFIX,
  ACTIONS,
  actionEventDataSchema,
  actionEventType,
  actionFromEventType,
  buildActionEvent,
  buildResultEvent,
  canonicalInstant,
  eventId,
  isAction,
  RESULT_EVENT_TYPE,
  ROUTER_SOURCE,
  resultDataSchema,
  subjectOf,
  targetSchema,
} from './events.ts';
export type { Refusal, ScalePlan } from './guards.ts';
export {
  COOLDOWN_ANNOTATION,
  checkNamespace,
  checkOptIn,
  checkRestartBudget,
  countAvailable,
  MAX_REPLICAS_ANNOTATION,
  OPT_IN_LABEL,
  planScale,
  resolveIntOrPercent,
  selectorString,
} from './guards.ts';
export type { HttpResponse, HttpSender, OutgoingMessage } from './http.ts';
export { createHttpSender } from './http.ts';
export type { KubeOps, KubeSource, WriteOptions } from './kube.ts';
export { createKube, loadKubeConfig } from './kube.ts';
export type { EventInput, ObjectRef } from './kube-events.ts';
export { buildEvent } from './kube-events.ts';
export type { ActionRecord, HistoryEntry, Ledger, LedgerDecision, LedgerPolicy } from './ledger.ts';
export { checkLedger, HISTORY_ANNOTATION, LAST_ACTION_ANNOTATION, readLedger } from './ledger.ts';
export type { Logger, LogLevel } from './log.ts';
export { createLogger } from './log.ts';
export { registry as metricsRegistry } from './metrics.ts';
export type { FunctionModule, RunningFunction, StartOptions } from './runtime.ts';
export { startFunction } from './runtime.ts';
