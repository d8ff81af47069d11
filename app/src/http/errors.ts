// One error type for everything a request can get wrong, plus the translation of zod issues into readable problems.
import type { z } from 'zod';

/** An error that becomes an HTTP response: its status and a JSON body `{ error, problems }`. */
export class HttpError extends Error {
  readonly status: number;
  readonly problems: string[];

  constructor(status: number, message: string, problems: string[] = []) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.problems = problems;
  }
}

/** Turns zod issues into `field: message` lines; `where` names the root (e.g. `body`, `query`). */
export function describeIssues(issues: readonly z.core.$ZodIssue[], where: string): string[] {
  return issues.flatMap((issue) => {
    const field = issue.path.length > 0 ? issue.path.map(String).join('.') : where;
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => `${[...issue.path.map(String), key].join('.')}: unknown field`);
    }
    return [`${field}: ${describeIssue(issue)}`];
  });
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${article(issue.expected)} (got ${typeOf(issue.input)})`;
    case 'too_big':
      return `must be ${issue.inclusive ? 'at most' : 'less than'} ${String(issue.maximum)}`;
    case 'too_small':
      return `must be ${issue.inclusive ? 'at least' : 'greater than'} ${String(issue.minimum)}`;
    default:
      return issue.message;
  }
}

function article(expected: string): string {
  if (expected === 'int') return 'an integer';
  if (expected === 'object') return 'a JSON object';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return String(value);
  return `a ${typeof value}`;
}

/** Validates `input` with `schema`, or throws a 400 HttpError that lists every problem. */
export function parseOr400<S extends z.ZodType>(schema: S, input: unknown, where: string): z.output<S> {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  return badInput(`invalid ${where}`, describeIssues(result.error.issues, where));
}

function badInput(message: string, problems: string[]): never {
  throw new HttpError(400, message, problems);
}
