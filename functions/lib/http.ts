// The router's HTTP client (undici): posts one message with a deadline and reports the status it got,
// since cloudevents' own transport resolves even on 5xx.
import { Agent, request } from 'undici';

export type OutgoingMessage = { headers: Record<string, string>; body: string };
export type HttpResponse = { status: number; contentType: string | undefined; body: string };

export interface HttpSender {
  // `signal` abandons the call early (the router's answer deadline); `timeoutMs` bounds it in any case.
  post(url: string, message: OutgoingMessage, timeoutMs: number, signal?: AbortSignal): Promise<HttpResponse>;
  close(): Promise<void>;
}

// Enough to read an action's result; a longer answer is cut, not buffered whole.
const MAX_RESPONSE_BYTES = 256 * 1024;

export function createHttpSender({ connections = 16 }: { connections?: number } = {}): HttpSender {
  const agent = new Agent({ connections, keepAliveTimeout: 4_000, connectTimeout: 5_000 });
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
        const res = await request(url, {
          method: 'POST',
          headers: message.headers,
          body: message.body,
          dispatcher: agent,
          signal: controller.signal,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        let body = '';
        let size = 0;
        for await (const chunk of res.body) {
          size += (chunk as Buffer).length;
          if (size <= MAX_RESPONSE_BYTES) body += (chunk as Buffer).toString('utf8');
        }
        const contentType = res.headers['content-type'];
        return {
          status: res.statusCode,
          contentType: Array.isArray(contentType) ? contentType[0] : contentType,
          body,
        };
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', abandon);
      }
    },
    close: () => agent.close(),
  };
}
