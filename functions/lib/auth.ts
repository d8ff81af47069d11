// Bearer-token checks in constant time (sha256 digests of equal length, compared with timingSafeEqual).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { SelfhealError } from './errors.ts';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

export function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

// The token of an `Authorization: Bearer <token>` header; undefined when there is none or it has another form.
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const header = headers.authorization;
  return (header && /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1]) || undefined;
}

// undefined when the request carries `Authorization: Bearer <expected>`, else a 401 error saying what is wrong.
export function checkBearer(headers: IncomingHttpHeaders, expected: string): SelfhealError | undefined {
  if (!headers.authorization) {
    return new SelfhealError('unauthorized', 'missing bearer token: send Authorization: Bearer <token>', {
      reason: 'missing-token',
    });
  }
  const token = bearerToken(headers);
  if (!token || !tokenMatches(token, expected)) {
    return new SelfhealError('unauthorized', 'invalid bearer token', { reason: 'invalid-token' });
  }
  return undefined;
}
