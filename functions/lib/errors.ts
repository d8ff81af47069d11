// The one error type of selfheal: a kind, the HTTP status the runtime answers with, and the list of problems.
import type { z } from 'zod';

export type ErrorKind =
  | 'invalid'
  | 'unauthorized'
  | 'forbidden'
  | 'gone'
  | 'conflict'
  | 'too-large'
  | 'unsupported-media-type'
  | 'refused'
  | 'unavailable'
  | 'internal';

const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  gone: 404,
  conflict: 409,
  'too-large': 413,
  'unsupported-media-type': 415,
  refused: 422,
  unavailable: 503,
  internal: 500,
};

// The kind answered with `status`, if one is.
export function errorKindOf(status: number): ErrorKind | undefined {
  return (Object.keys(STATUS) as ErrorKind[]).find((kind) => STATUS[kind] === status);
}

// `eventReason`: the reason of the Kubernetes Event an action records for this failure, when it is more than a
// failure (a breaker opened whose human could not be told).
export type SelfhealErrorOptions = {
  problems?: string[];
  reason?: string;
  cause?: unknown;
  eventReason?: string;
};

// faas-js-runtime turns a thrown error's numeric `code` into the response status, so `code` is the HTTP status.
export class SelfhealError extends Error {
  override readonly name = 'SelfhealError';
  readonly kind: ErrorKind;
  readonly code: number;
  readonly problems: string[];
  // A short machine-readable reason (e.g. `not-opted-in`), when the kind alone is too coarse.
  readonly reason: string;
  readonly eventReason: string | undefined;

  constructor(kind: ErrorKind, message: string, options: SelfhealErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.code = STATUS[kind];
    this.problems = options.problems ?? [];
    this.reason = options.reason ?? kind;
    this.eventReason = options.eventReason;
  }

  // Whether a caller may succeed by trying again later (Alertmanager retries 5xx only).
  get retryable(): boolean {
    return this.code >= 500;
  }

  toJSON(): { error: string; kind: ErrorKind; reason: string; problems?: string[] } {
    return {
      error: this.message,
      kind: this.kind,
      reason: this.reason,
      ...(this.problems.length > 0 ? { problems: this.problems } : {}),
    };
  }
}

export function isSelfhealError(err: unknown): err is SelfhealError {
  return err instanceof SelfhealError;
}

// Lists zod's issues as `path: message` lines a human can act on.
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return path ? `${path}: ${issue.message}` : issue.message;
  });
}

export function invalid(what: string, error: z.ZodError): SelfhealError {
  const problems = describeIssues(error);
  return new SelfhealError('invalid', `invalid ${what}: ${problems.join('; ')}`, { problems });
}

// What a Kubernetes call was trying to do, to name it in the error.
export type KubeOperation = { verb: string; resource: string; namespace?: string; name?: string };

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_ABORTED',
]);

// Finds a transport error code (ECONNREFUSED, UND_ERR_*, a timeout) anywhere in an error's cause chain.
export function transportErrorCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const { code, name, cause } = current as { code?: unknown; name?: unknown; cause?: unknown };
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return code;
    if (name === 'TimeoutError' || name === 'AbortError') return 'ETIMEDOUT';
    // undici's fetch reports every network-level failure as TypeError('fetch failed'), the detail in `cause`.
    if (
      current instanceof TypeError &&
      current.message === 'fetch failed' &&
      !(cause as { code?: unknown })?.code
    ) {
      const detail = (cause as Error | undefined)?.message;
      return detail ? `fetch failed: ${detail}` : 'fetch failed';
    }
    if (Array.isArray((current as { errors?: unknown }).errors)) {
      const inner = (current as { errors: unknown[] }).errors.map(transportErrorCode).find(Boolean);
      if (inner) return inner;
    }
    current = cause;
  }
  return undefined;
}

type StatusCause = { reason?: unknown; message?: unknown };

// The causes a Status object lists (details.causes), e.g. DisruptionBudget for a refused eviction.
function statusCauses(body: unknown): StatusCause[] {
  if (typeof body !== 'string') return [];
  try {
    const causes = (JSON.parse(body) as { details?: { causes?: unknown } }).details?.causes;
    return Array.isArray(causes) ? (causes as StatusCause[]) : [];
  } catch {
    return [];
  }
}

function statusMessage(body: unknown): string | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    return typeof parsed.message === 'string' ? parsed.message : undefined;
  } catch {
    return body.slice(0, 300) || undefined;
  }
}

function describe(op: KubeOperation): string {
  const where = op.namespace ? ` in namespace ${op.namespace}` : '';
  return `${op.verb} ${op.resource}${op.name ? ` ${op.name}` : ''}${where}`;
}

// Maps a @kubernetes/client-node ApiException (duck-typed, so this module never imports the client)
// or a transport error to a SelfhealError that names the operation.
export function fromKubernetesError(err: unknown, op: KubeOperation): SelfhealError {
  if (err instanceof SelfhealError) return err;
  // An ApiException carries the HTTP status in `code` and the Status object in `body` (a DOMException also
  // has a numeric `code`, so the body decides).
  const status = (err as { code?: unknown })?.code;
  if (typeof status === 'number' && err && typeof err === 'object' && 'body' in err && 'headers' in err) {
    const detail = statusMessage((err as { body?: unknown }).body);
    const suffix = detail ? `: ${detail}` : '';
    if (status === 403) {
      return new SelfhealError('forbidden', `forbidden: the function may not ${describe(op)}${suffix}`, {
        reason: 'forbidden',
        cause: err,
      });
    }
    if (status === 404)
      return new SelfhealError('gone', `not found: ${describe(op)}${suffix}`, { cause: err });
    if (status === 409) {
      return new SelfhealError('conflict', `conflict: ${describe(op)}${suffix}`, { cause: err });
    }
    if (status === 400 || status === 422) {
      return new SelfhealError('invalid', `the API server rejected ${describe(op)}${suffix}`, {
        problems: [`${describe(op)}: ${detail ?? `rejected with ${status}`}`],
        cause: err,
      });
    }
    if (status === 401) {
      return new SelfhealError(
        'unavailable',
        `the API server did not accept the function's credentials (${describe(op)})${suffix}`,
        { reason: 'unauthenticated', cause: err },
      );
    }
    if (status === 429) {
      // An eviction a PodDisruptionBudget allows no disruption now names it among the causes; any other 429 is
      // the API server throttling (priority and fairness). Both: not now, not never.
      const budget = statusCauses((err as { body?: unknown }).body).find(
        (c) => c.reason === 'DisruptionBudget',
      );
      if (budget) {
        const why = typeof budget.message === 'string' ? ` ${budget.message}` : '';
        return new SelfhealError(
          'unavailable',
          `${detail ?? 'a disruption budget refused the eviction'}${why}`,
          {
            reason: 'disruption-budget',
            cause: err,
          },
        );
      }
      return new SelfhealError('unavailable', `too many requests (429) for ${describe(op)}${suffix}`, {
        reason: 'too-many-requests',
        cause: err,
      });
    }
    if (status >= 500) {
      return new SelfhealError(
        'unavailable',
        `API server unavailable (${status}) for ${describe(op)}${suffix}`,
        {
          cause: err,
        },
      );
    }
    return new SelfhealError('internal', `unexpected status ${status} for ${describe(op)}${suffix}`, {
      cause: err,
    });
  }
  const transport = transportErrorCode(err);
  if (transport) {
    return new SelfhealError('unavailable', `API server unreachable (${transport}) for ${describe(op)}`, {
      reason: 'unreachable',
      cause: err,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new SelfhealError('internal', `${describe(op)} failed: ${message}`, { cause: err });
}
