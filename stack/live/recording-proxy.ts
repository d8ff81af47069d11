// A pass-through HTTP proxy for the live checks: records every exchange, and can answer 503 in the upstream's place.
import { createServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What the proxy does with one request, in order of arrival (requests past the list pass): `pass` forwards it;
 * `unavailable` answers 503 without forwarding (the upstream is down); `answer-lost` forwards it and answers 503
 * anyway (the upstream did the work, its answer never arrived).
 */
export type Fault = 'pass' | 'unavailable' | 'answer-lost';

export interface Exchange {
  fault: Fault;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The upstream's answer; missing when the request was not forwarded. */
  upstream?: { status: number; body: string };
  /** The status the caller got. */
  status: number;
}

export interface RecordingProxy {
  url: string;
  /** Completed exchanges, in the order they completed. */
  readonly exchanges: readonly Exchange[];
  /** What to do with requests past the planned faults from now on (initially `pass`): a path going down or up. */
  setFallback(fault: Fault): void;
  close(): Promise<void>;
}

// Connection-level headers are the proxy's own business on each side.
const HOP_BY_HOP = new Set([
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'content-encoding',
]);

function endToEnd(headers: Iterable<[string, string | string[] | undefined]>): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of headers) {
    if (value !== undefined && !HOP_BY_HOP.has(name.toLowerCase()))
      kept[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return kept;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Listens on 127.0.0.1 (a free port) and forwards to `upstream` (a base URL; the request path is kept). */
export async function startRecordingProxy(upstream: string, faults: Fault[] = []): Promise<RecordingProxy> {
  const plan = [...faults];
  let fallback: Fault = 'pass';
  const exchanges: Exchange[] = [];
  const server = createServer(async (req, res) => {
    const fault = plan.shift() ?? fallback;
    const body = await readBody(req);
    const seen = { fault, method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body };
    const answer = (
      status: number,
      headers: Record<string, string>,
      text: string,
      up?: Exchange['upstream'],
    ) => {
      exchanges.push({ ...seen, ...(up ? { upstream: up } : {}), status });
      res.writeHead(status, headers).end(text);
    };
    const unavailable = { 'content-type': 'text/plain' };
    if (fault === 'unavailable') return answer(503, unavailable, 'unavailable (injected)');
    let response: Response;
    let text: string;
    try {
      response = await fetch(new URL(seen.path, upstream), {
        method: seen.method,
        headers: endToEnd(Object.entries(req.headers)),
        ...(seen.method === 'GET' || seen.method === 'HEAD' ? {} : { body }),
      });
      text = await response.text();
    } catch (err) {
      return answer(502, unavailable, `upstream ${upstream} failed: ${(err as Error).message}`);
    }
    const up = { status: response.status, body: text };
    if (fault === 'answer-lost') return answer(503, unavailable, 'answer lost (injected)', up);
    answer(response.status, endToEnd(response.headers), text, up);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    setFallback: (fault) => {
      fallback = fault;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
