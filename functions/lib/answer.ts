// How an action's outcome goes back over HTTP: in the form of its request (a binary-mode result CloudEvent or a
// JSON body; the next step's event when it escalated), with the status that tells the caller whether to retry.
import { type CloudEvent, HTTP } from 'cloudevents';
import type { SelfhealError } from './errors.ts';
import { type ActionEventData, buildResultEvent, type ResultData } from './events.ts';
import type { ActionRequest } from './request.ts';

// `next`: the next step of the escalation chain, answered instead of the result to a CloudEvent request.
export type ActionOutcome = {
  status: number;
  result: ResultData;
  next?: CloudEvent<ActionEventData> | undefined;
};

export type HttpAnswer = { statusCode: number; headers: Record<string, string>; body: string };

export function answer(outcome: ActionOutcome, format: ActionRequest['format']): HttpAnswer {
  if (format === 'cloudevent' && outcome.next) {
    // Structured mode: whoever reads the body alone (the router, a Broker) sees the type and routes it on.
    const message = HTTP.structured(outcome.next);
    return {
      statusCode: outcome.status,
      headers: message.headers as Record<string, string>,
      body: typeof message.body === 'string' ? message.body : JSON.stringify(message.body),
    };
  }
  if (format === 'cloudevent') {
    const message = HTTP.binary(buildResultEvent(outcome.result));
    return {
      statusCode: outcome.status,
      headers: message.headers as Record<string, string>,
      body: typeof message.body === 'string' ? message.body : JSON.stringify(message.body),
    };
  }
  return {
    statusCode: outcome.status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(outcome.result),
  };
}

export function errorAnswer(error: SelfhealError): HttpAnswer {
  return {
    statusCode: error.code,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(error.toJSON()),
  };
}
