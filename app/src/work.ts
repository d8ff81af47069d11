// The small piece of real work `GET /` does: a chain of SHA-256 hashes over a fixed payload.
import { createHash } from 'node:crypto';

const payload = Buffer.alloc(16 * 1024, 'selfheal');

/** Hashes the payload `rounds` times, each round chained to the previous digest; about a millisecond by default. */
export function hashWork(seed: string, rounds = 32): string {
  let digest = seed;
  for (let round = 0; round < rounds; round++) {
    digest = createHash('sha256').update(digest).update(payload).digest('hex');
  }
  return digest;
}
