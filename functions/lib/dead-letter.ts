// Knative's dead letters: an event its Broker could not deliver after the delivery spec's retries, sent to the
// dead-letter sink with the extensions knativeerrordest (where it failed), knativeerrorcode (the last status) and
// knativeerrordata (the start of the last answer, base64) — knative.dev/eventing pkg/kncloudevents/attributes/
// knative_error.go. Recognising one and saying what happened is pure; recording it is the action's.
import { z } from 'zod';
import { actionEventDataSchema, type Target } from './events.ts';

export const DEAD_LETTER_EXTENSIONS = {
  destination: 'knativeerrordest',
  code: 'knativeerrorcode',
  data: 'knativeerrordata',
} as const;

export type DeadLetter = {
  id: string;
  type: string;
  source: string;
  destination: string;
  code: string | undefined;
  /** The start of the last answer, decoded. */
  answer: string | undefined;
  /** The workload the event was about, when its data names one. */
  target: Target | undefined;
  alertname: string | undefined;
};

const anyData = z.looseObject({ target: actionEventDataSchema.shape.target.optional() });

function decode(base64: unknown): string | undefined {
  if (typeof base64 !== 'string' || base64 === '') return undefined;
  const text = Buffer.from(base64, 'base64').toString('utf8');
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** Whether a knativeerrordest value (an attribute, or a ce-knativeerrordest header) marks a dead letter. */
export function isDeadLetterDestination(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

/** The dead letter a CloudEvent is, or undefined when it carries no knativeerrordest. */
export function readDeadLetter(event: Record<string, unknown>): DeadLetter | undefined {
  const destination = event[DEAD_LETTER_EXTENSIONS.destination];
  if (!isDeadLetterDestination(destination)) return undefined;
  const data = typeof event.data === 'string' ? safeJson(event.data) : event.data;
  const parsed = anyData.safeParse(data);
  const alert = (data as { alert?: { name?: unknown } } | undefined)?.alert;
  const code = event[DEAD_LETTER_EXTENSIONS.code];
  return {
    id: String(event.id ?? ''),
    type: String(event.type ?? ''),
    source: String(event.source ?? ''),
    destination,
    code: code === undefined ? undefined : String(code),
    answer: decode(event[DEAD_LETTER_EXTENSIONS.data]),
    target: parsed.success ? parsed.data.target : undefined,
    alertname: typeof alert?.name === 'string' ? alert.name : undefined,
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** One sentence for the Kubernetes Event and the log line. */
export function describeDeadLetter(letter: DeadLetter): string {
  const answered = letter.code
    ? ` (last answer ${letter.code}${letter.answer ? `: ${letter.answer}` : ''})`
    : '';
  const alert = letter.alertname ? ` for alert ${letter.alertname}` : '';
  return `${letter.type} ${letter.id}${alert} was not delivered to ${letter.destination} after the Broker's retries${answered}; nothing acted on it`;
}
