// Verifies the identity a platform sends with each delivery (Knative Eventing's OIDC): the bearer token is a
// ServiceAccount token, checked by the API server (TokenReview) for this action's audience, and accepted only from the
// identities configured (the Triggers' ServiceAccounts). Verified tokens are remembered briefly.
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { bearerToken } from './auth.ts';
import { SelfhealError } from './errors.ts';

/** What the API server says of a token presented for an audience. */
export type TokenReviewResult = {
  authenticated: boolean;
  username?: string | undefined;
  audiences?: string[] | undefined;
  error?: string | undefined;
};

export type TokenReviewer = (token: string, audiences: string[]) => Promise<TokenReviewResult>;

export type OidcSettings = {
  audience: string;
  /** The usernames accepted, e.g. system:serviceaccount:selfheal:restart-pod-oidc-eventing.knative.dev-trigger. */
  subjects: readonly string[];
};

const REMEMBER_MS = 60_000;
const REMEMBER_MAX = 1024;

const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

/** The seconds-since-epoch `exp` of a JWT, unverified (used only to forget a token no later than it expires). */
function expiresAt(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A check of a request's headers: undefined when its bearer token is a valid token of an accepted identity for the
 * audience; else 401 (no token, or one the API server does not accept for this audience), 403 (a valid token of
 * another identity) or 503 (the API server could not say: the platform retries).
 */
export function oidcAuthorizer(
  settings: OidcSettings,
  review: TokenReviewer,
  now: () => number = Date.now,
): (headers: IncomingHttpHeaders) => Promise<SelfhealError | undefined> {
  const accepted = new Set(settings.subjects);
  const remembered = new Map<string, number>();

  return async (headers) => {
    const token = bearerToken(headers);
    if (!token) {
      return new SelfhealError(
        'unauthorized',
        `missing bearer token: deliveries must carry a token for the audience ${settings.audience}`,
        { reason: 'missing-token' },
      );
    }
    const key = digest(token);
    const until = remembered.get(key);
    if (until !== undefined && until > now()) return undefined;
    remembered.delete(key);

    let result: TokenReviewResult;
    try {
      result = await review(token, [settings.audience]);
    } catch (error) {
      return new SelfhealError(
        'unavailable',
        `cannot verify the caller's token with the API server: ${(error as Error).message}`,
        { reason: 'token-review-failed' },
      );
    }
    if (!result.authenticated || !(result.audiences ?? []).includes(settings.audience)) {
      return new SelfhealError(
        'unauthorized',
        `invalid bearer token for the audience ${settings.audience}${result.error ? `: ${result.error}` : ''}`,
        { reason: 'invalid-token' },
      );
    }
    if (!result.username || !accepted.has(result.username)) {
      return new SelfhealError(
        'forbidden',
        `${result.username ?? 'an unnamed identity'} may not call this action (SELFHEAL_OIDC_SUBJECTS)`,
        { reason: 'subject-not-allowed' },
      );
    }
    if (remembered.size >= REMEMBER_MAX) remembered.clear();
    remembered.set(key, Math.min(now() + REMEMBER_MS, expiresAt(token) ?? Number.POSITIVE_INFINITY));
    return undefined;
  };
}
