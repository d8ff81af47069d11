// Delivering one planned CloudEvent (binary mode) to the configured sink with a timeout, and classifying the
// answer: accepted (2xx), rejected for good (4xx), or failed and worth a retry.
import { type CloudEvent, HTTP } from 'cloudevents';
import type { Sink } from '../lib/config.ts';
import { transportErrorCode } from '../lib/errors.ts';
import type { ActionName } from '../lib/events.ts';
import type { HttpResponse, OutgoingMessage } from '../lib/http.ts';

export type ActionAnswer = { outcome?: string; reason?: string; message?: string };

export type Delivery =
  | { outcome: 'accepted'; status: number; answer?: ActionAnswer }
  | { outcome: 'rejected'; status: number; reason: string; message: string; answer?: ActionAnswer }
  | { outcome: 'failed'; status?: number; reason: string; message: string };

export type Post = (
  url: string,
  message: OutgoingMessage,
  timeoutMs: number,
  signal?: AbortSignal,
) => Promise<HttpResponse>;

export function sinkUrl(sink: Sink, action: ActionName): string {
  switch (sink.kind) {
    case 'direct':
      return sink.urls[action];
    case 'openfaas':
      return `${sink.gateway.replace(/\/+$/, '')}/${sink.async ? 'async-function' : 'function'}/${action}`;
    case 'knative':
      return sink.broker;
  }
}

export function toMessage(event: CloudEvent<unknown>, token?: string): OutgoingMessage {
  const message = HTTP.binary(event);
  const headers = { ...(message.headers as Record<string, string>) };
  if (token) headers.authorization = `Bearer ${token}`;
  return { headers, body: typeof message.body === 'string' ? message.body : JSON.stringify(message.body) };
}

// What the action said: its result (outcome, reason, message) or its error ({ error, reason }).
export function readAnswer(response: HttpResponse): ActionAnswer | undefined {
  if (!response.body) return undefined;
  try {
    const body = JSON.parse(response.body) as Record<string, unknown>;
    const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
    const answer: ActionAnswer = {};
    const outcome = text(body.outcome);
    const reason = text(body.reason);
    const message = text(body.message) ?? text(body.error);
    if (outcome) answer.outcome = outcome;
    if (reason) answer.reason = reason;
    if (message) answer.message = message;
    return Object.keys(answer).length > 0 ? answer : undefined;
  } catch {
    return { message: response.body.slice(0, 300) };
  }
}

export function classify(response: HttpResponse): Delivery {
  const { status } = response;
  const answer = readAnswer(response);
  if (status >= 200 && status < 300) return { outcome: 'accepted', status, ...(answer ? { answer } : {}) };
  const message = answer?.message ?? `answered ${status}`;
  // 408 and 429 say "not now", not "never"; 401, 403 and 404 from a sink are set-up faults an operator fixes
  // (a token being rotated, a missing RoleBinding, a function being redeployed): retried, not dropped.
  if (status >= 400 && status < 500 && ![401, 403, 404, 408, 429].includes(status)) {
    return {
      outcome: 'rejected',
      status,
      reason: answer?.reason ?? `http-${status}`,
      message,
      ...(answer ? { answer } : {}),
    };
  }
  return { outcome: 'failed', status, reason: answer?.reason ?? `http-${status}`, message };
}

export function classifyError(err: unknown, timeoutMs: number): Delivery {
  const code = transportErrorCode(err);
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return { outcome: 'failed', reason: 'timeout', message: `no answer within ${timeoutMs} ms` };
  }
  if (code) return { outcome: 'failed', reason: 'unreachable', message: `cannot reach the action (${code})` };
  return { outcome: 'failed', reason: 'error', message: (err as Error)?.message ?? String(err) };
}

export async function deliver(
  post: Post,
  url: string,
  message: OutgoingMessage,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Delivery> {
  try {
    return classify(await post(url, message, timeoutMs, signal));
  } catch (err) {
    return classifyError(err, timeoutMs);
  }
}
