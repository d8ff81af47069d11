// Preloaded into a function's process (NODE_OPTIONS=--import) by the benchmarks that show where a remediation's time
// goes: one line per Kubernetes API call on stderr, `api-call <method> <path> <status> <ms>`, from the diagnostics
// channels of undici (client-node's HTTP client). Only in separate, traced runs: the measured ones run untouched.
import { subscribe } from 'node:diagnostics_channel';

type Request = { method: string; path: string };
const started = new WeakMap<Request, number>();
subscribe('undici:request:create', (message) => {
  started.set((message as { request: Request }).request, performance.now());
});
subscribe('undici:request:headers', (message) => {
  const { request, response } = message as { request: Request; response: { statusCode: number } };
  const ms = performance.now() - (started.get(request) ?? Number.NaN);
  const path = request.path.split('?')[0];
  process.stderr.write(`api-call ${request.method} ${path} ${response.statusCode} ${ms.toFixed(2)}\n`);
});
