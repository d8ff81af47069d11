// The router's HTTP client (node:http and node:https, connections kept and bounded): posts one message with a
// deadline and reports the status it got, since cloudevents' own transport resolves even on 5xx. Node's own client
// rather than undici: its parser is native, and the router's bundle carries a megabyte less.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export type OutgoingMessage = { headers: Record<string, string>; body: string };
export type HttpResponse = { status: number; contentType: string | undefined; body: string };

export interface HttpSender {
  // `signal` abandons the call early (the router's answer deadline); `timeoutMs` bounds it in any case.
  post(url: string, message: OutgoingMessage, timeoutMs: number, signal?: AbortSignal): Promise<HttpResponse>;
  close(): Promise<void>;
}

// Enough to read an action's result; a longer answer is cut, not buffered whole.
const MAX_RESPONSE_BYTES = 256 * 1024;

// Reads the answer, keeping at most MAX_RESPONSE_BYTES of it (the rest is read and dropped).
function readAnswer(res: IncomingMessage): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      if (size < MAX_RESPONSE_BYTES) chunks.push(chunk.subarray(0, MAX_RESPONSE_BYTES - size));
      size += chunk.length;
    });
    res.on('error', reject);
    res.on('end', () => {
      const contentType = res.headers['content-type'];
      resolve({ status: res.statusCode ?? 0, contentType, body: Buffer.concat(chunks).toString('utf8') });
    });
  });
}

// The error of a request on a reused kept-alive connection that the server had closed meanwhile.
function isStaleSocket(err: unknown): boolean {
  const { code, staleSocket } = err as { code?: string; staleSocket?: boolean };
  return staleSocket === true && (code === 'ECONNRESET' || code === 'EPIPE');
}

export function createHttpSender({ connections = 16 }: { connections?: number } = {}): HttpSender {
  const options = { keepAlive: true, maxSockets: connections, maxFreeSockets: connections };
  const agents = { http: new HttpAgent(options), https: new HttpsAgent(options) };
  return {
    async post(url, message, timeoutMs, signal) {
      // One controller per call, its timer and its link to `signal` undone when the call ends: a storm's
      // thousands of calls leave no timers or listeners behind (AbortSignal.timeout/any would keep them).
      const controller = new AbortController();
      const timer = setTimeout(
        () => controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')),
        timeoutMs,
      );
      const abandon = () => controller.abort(signal?.reason);
      if (signal?.aborted) abandon();
      else signal?.addEventListener('abort', abandon, { once: true });
      try {
        const target = new URL(url);
        const https = target.protocol === 'https:';
        const send = () =>
          new Promise<HttpResponse>((resolve, reject) => {
            const req = (https ? httpsRequest : httpRequest)(target, {
              method: 'POST',
              headers: { ...message.headers, 'content-length': String(Buffer.byteLength(message.body)) },
              agent: https ? agents.https : agents.http,
              signal: controller.signal,
            });
            req.on('response', (res) => readAnswer(res).then(resolve, reject));
            req.on('error', (err) => reject(Object.assign(err, { staleSocket: req.reusedSocket })));
            req.end(message.body);
          });
        try {
          return await send();
        } catch (err) {
          // A kept connection the server closed as it was reused fails before any answer: sent again once, on a new
          // connection (Node's documented remedy). Safe: a delivery is an event whose id makes a repeat a no-op.
          if (!isStaleSocket(err) || controller.signal.aborted) throw err;
          return await send();
        }
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', abandon);
      }
    },
    async close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}
