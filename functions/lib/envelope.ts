// The CloudEvents envelope a function accepts, checked on the raw request before any SDK builds an event from it:
// the cloudevents SDK invents an id for a structured event without one and skips validation for a specversion it
// does not know, which would defeat exactly-once. Then what the SDK itself refuses, asked of the SDK. Pure:
// headers and body in, a SelfhealError (400) or nothing out.
import type { IncomingHttpHeaders } from 'node:http';
import { type CloudEvent, HTTP } from 'cloudevents';
import { DEAD_LETTER_EXTENSIONS, isDeadLetterDestination } from './dead-letter.ts';
import { SelfhealError } from './errors.ts';
import { ACTIONS, actionEventType, RESOLVED_EVENT_TYPE } from './events.ts';

export const SPEC_VERSION = '1.0';
// The reason of every 400 about a CloudEvent, its envelope or its content.
export const INVALID_CLOUDEVENT = 'invalid-cloudevent';
// Every type a selfheal function handles (an action, or an alert's resolution); each action then insists on its own.
export const KNOWN_EVENT_TYPES: readonly string[] = [...ACTIONS.map(actionEventType), RESOLVED_EVENT_TYPE];

export type EnvelopeMode = 'plain' | 'binary' | 'structured' | 'batch';

// What a CloudEvent's required attributes look like, wherever they came from (ce-* headers or a JSON body), with
// the two others the check reads: 0.3's schemaurl, and the Broker's mark on a dead letter.
export type Attributes = {
  specversion?: unknown;
  id?: unknown;
  source?: unknown;
  type?: unknown;
  schemaurl?: unknown;
  knativeerrordest?: unknown;
};

const CE_HEADER = /^ce-/i;

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function mediaType(headers: IncomingHttpHeaders): string {
  return (header(headers, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

// The mode the cloudevents HTTP binding gives a request: the content type decides structured and batch, then any
// ce-* header makes it binary (the SDK needs ce-id for that; a request with only some ce-* headers is an
// incomplete binary event here, not a plain request).
export function envelopeMode(headers: IncomingHttpHeaders): EnvelopeMode {
  const type = mediaType(headers);
  if (type.startsWith('application/cloudevents-batch')) return 'batch';
  if (type.startsWith('application/cloudevents')) return 'structured';
  return Object.keys(headers).some((name) => CE_HEADER.test(name)) ? 'binary' : 'plain';
}

const present = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';

// The idempotency key is kept on the workload and in Events: short, printable, one value (two ce-id headers arrive
// joined by ", ", so a comma or a space never passes).
const EVENT_ID = /^[!-+\--~]{1,128}$/;
const EVENT_ID_RULE = 'must be 1-128 printable ASCII characters without spaces or commas';

// What a request body may be: JSON (an action request, an Alertmanager webhook, a binary CloudEvent's data) or a
// structured CloudEvent. Anything else (a form post, text) is refused before it is read.
const ACCEPTED_MEDIA_TYPES = new Set(['application/json', 'application/cloudevents+json']);

// The problems with a CloudEvent's required attributes; `prefix` names where they were read (`ce-` for headers).
export function attributeProblems(
  attributes: Attributes,
  knownTypes: readonly string[] = KNOWN_EVENT_TYPES,
  prefix = '',
): string[] {
  const problems: string[] = [];
  const { specversion, id, source, type, schemaurl } = attributes;
  if (specversion === undefined || specversion === '') {
    problems.push(`${prefix}specversion: required (${SPEC_VERSION})`);
  } else if (specversion !== SPEC_VERSION) {
    problems.push(`${prefix}specversion: ${String(specversion)} is not supported, only ${SPEC_VERSION}`);
  }
  if (!present(id)) problems.push(`${prefix}id: required, a non-empty string (the idempotency key)`);
  else if (!EVENT_ID.test(id)) problems.push(`${prefix}id: ${EVENT_ID_RULE}`);
  if (!present(source)) problems.push(`${prefix}source: required, a non-empty string`);
  // A Broker's dead letter is of whatever type could not be delivered (a result, a user's own event): the action
  // records it without acting, so its type need not be one the function handles.
  const deadLetter = isDeadLetterDestination(attributes[DEAD_LETTER_EXTENSIONS.destination]);
  if (!present(type)) {
    problems.push(`${prefix}type: required, one of ${knownTypes.join(', ')}`);
  } else if (!deadLetter && !knownTypes.includes(type)) {
    problems.push(`${prefix}type: unknown type ${type}, expected one of ${knownTypes.join(', ')}`);
  }
  // The SDK throws a bare TypeError at it; say what a 1.0 event sends instead.
  if (schemaurl !== undefined) {
    problems.push(`${prefix}schemaurl: a CloudEvents 0.3 attribute; 1.0 uses ${prefix}dataschema`);
  }
  return problems;
}

function invalidEvent(mode: string, problems: string[]): SelfhealError {
  return new SelfhealError('invalid', `invalid ${mode} CloudEvent: ${problems.join('; ')}`, {
    problems,
    reason: INVALID_CLOUDEVENT,
  });
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

// Checks what the headers alone can tell, before the body is read: a request that carries a body (or a
// CloudEvent) says its content type, batches are refused, and a binary event has every required attribute.
export function checkEnvelopeHeaders(
  method: string,
  headers: IncomingHttpHeaders,
  knownTypes: readonly string[] = KNOWN_EVENT_TYPES,
): SelfhealError | undefined {
  const mode = envelopeMode(headers);
  if ((BODY_METHODS.has(method.toUpperCase()) || mode !== 'plain') && mediaType(headers) === '') {
    const hint =
      mode === 'binary'
        ? 'a binary-mode CloudEvent says its data content type in content-type (application/json)'
        : 'send application/json (an action request or an Alertmanager webhook) or application/cloudevents+json';
    return new SelfhealError('invalid', `missing or empty content-type: ${hint}`, {
      problems: ['content-type: required'],
      // A plain request (an Alertmanager webhook, an action request) is not a bad CloudEvent.
      reason: mode === 'plain' ? 'invalid' : INVALID_CLOUDEVENT,
    });
  }
  if (
    BODY_METHODS.has(method.toUpperCase()) &&
    mode !== 'batch' &&
    !ACCEPTED_MEDIA_TYPES.has(mediaType(headers))
  ) {
    return new SelfhealError(
      'unsupported-media-type',
      `content-type ${mediaType(headers)} is not accepted: send application/json or application/cloudevents+json`,
      { problems: [`content-type: ${mediaType(headers)} is not accepted`] },
    );
  }
  if (mode === 'batch') {
    return new SelfhealError('invalid', 'batched CloudEvents are not accepted: send one event per request', {
      problems: ['content-type: application/cloudevents-batch+json is not accepted'],
      reason: INVALID_CLOUDEVENT,
    });
  }
  if (mode !== 'binary') return undefined;
  const problems = attributeProblems(
    {
      specversion: header(headers, 'ce-specversion'),
      id: header(headers, 'ce-id'),
      source: header(headers, 'ce-source'),
      type: header(headers, 'ce-type'),
      schemaurl: header(headers, 'ce-schemaurl'),
      knativeerrordest: header(headers, `ce-${DEAD_LETTER_EXTENSIONS.destination}`),
    },
    knownTypes,
    'ce-',
  );
  return problems.length > 0 ? invalidEvent('binary-mode', problems) : undefined;
}

// Checks a structured-mode body (the raw JSON text, as read) before the SDK parses it into an event.
export function checkStructuredBody(
  body: unknown,
  knownTypes: readonly string[] = KNOWN_EVENT_TYPES,
): SelfhealError | undefined {
  let event: unknown = body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    try {
      event = JSON.parse(body.toString());
    } catch (err) {
      return invalidEvent('structured-mode', [`body: not JSON (${(err as Error).message})`]);
    }
  }
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    return invalidEvent('structured-mode', ['body: expected one JSON object with the event attributes']);
  }
  const problems = attributeProblems(event as Attributes, knownTypes);
  return problems.length > 0 ? invalidEvent('structured-mode', problems) : undefined;
}

// The SelfhealError (400) of what the cloudevents SDK threw while building or validating an event from a request:
// its ValidationError lists the schema's errors; a plain TypeError (0.3's schemaurl on a 1.0 event) only says why.
export function sdkRefusal(err: Error & { errors?: unknown }): SelfhealError {
  const problems =
    Array.isArray(err.errors) && err.errors.length > 0
      ? err.errors.map(
          (e: { message?: string; instancePath?: string }) =>
            `${e.instancePath ? `${e.instancePath}: ` : ''}${e.message ?? String(e)}`,
        )
      : [err.message.split('\n')[0] || String(err)];
  return new SelfhealError('invalid', `invalid CloudEvent: ${problems.join('; ')}`, {
    reason: INVALID_CLOUDEVENT,
    problems,
    cause: err,
  });
}

// Builds and validates the event as faas-js-runtime is about to, so that what the SDK refuses is answered 400: its
// detector swallows an error (the request would reach the function as a plain one) and its parser's errors come
// without a status. Only the SDK runs here, on the request alone: any TypeError (ValidationError is one) or
// SyntaxError it throws is about the request; anything else is rethrown, a 500 as any fault of the code.
export function checkWithSdk(headers: IncomingHttpHeaders, body: unknown): SelfhealError | undefined {
  try {
    const event = HTTP.toEvent({ headers, body });
    // The binding is typed as returning plain attributes; it builds CloudEvent instances.
    for (const one of Array.isArray(event) ? event : [event]) (one as CloudEvent<unknown>).validate();
    return undefined;
  } catch (err) {
    if (err instanceof TypeError || err instanceof SyntaxError) return sdkRefusal(err);
    throw err;
  }
}
