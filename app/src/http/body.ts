// Reads a small JSON request body without a body-parser dependency; an empty body counts as `{}`.
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.ts';

/** Bodies of the simulation endpoints are a few fields; anything bigger is a mistake. */
export const maxBodyBytes = 16 * 1024;

/** Parses the request body as JSON whatever its content type (so `curl -d '{...}'` works too). */
export async function readJsonBody(req: IncomingMessage, limit = maxBodyBytes): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const bytes = chunk as Buffer;
    size += bytes.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(bytes);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new HttpError(400, 'malformed JSON body', [`body: ${reason}`]);
  }
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, 'request body too large', [`body: must be at most ${limit} bytes`]);
}
