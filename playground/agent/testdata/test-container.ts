// A tiny container for the node agent's tests: serves HTTP on HOST:PORT with switchable health, exits or allocates
// memory on demand, counts its starts in SCRATCH_DIR, and logs the signals it gets.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 8080);
const scratch = process.env.SCRATCH_DIR;
const say = (line: string) => process.stdout.write(`${line}\n`);

let live = true;
let ready = process.env.START_UNREADY !== 'true';
const hoard: Buffer[] = [];

let starts = 1;
if (scratch) {
  mkdirSync(scratch, { recursive: true });
  const file = join(scratch, 'starts');
  try {
    starts = Number(readFileSync(file, 'utf8')) + 1;
  } catch {
    starts = 1;
  }
  writeFileSync(file, String(starts));
}

if (process.env.EXIT_AFTER_MS) {
  setTimeout(() => process.exit(Number(process.env.EXIT_CODE ?? 1)), Number(process.env.EXIT_AFTER_MS));
}

process.on('SIGTERM', () => {
  say('SIGTERM received');
  if (process.env.IGNORE_SIGTERM === 'true') return;
  setTimeout(() => {
    say('exiting after SIGTERM');
    process.exit(0);
  }, 100);
});

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  switch (url.pathname) {
    case '/livez':
      return reply(live ? 200 : 500, { live });
    case '/readyz':
      return reply(ready ? 200 : 503, { ready });
    case '/set':
      if (url.searchParams.has('live')) live = url.searchParams.get('live') === 'true';
      if (url.searchParams.has('ready')) ready = url.searchParams.get('ready') === 'true';
      return reply(200, { live, ready });
    case '/exit':
      reply(200, { exiting: true });
      setTimeout(() => process.exit(Number(url.searchParams.get('code') ?? 1)), 50);
      return;
    case '/alloc': {
      const mb = Number(url.searchParams.get('mb') ?? 10);
      for (let i = 0; i < mb; i++) hoard.push(Buffer.alloc(1024 * 1024, 1));
      return reply(200, { heldMb: hoard.length });
    }
    case '/spin': {
      const before = process.cpuUsage();
      const until = Date.now() + Number(url.searchParams.get('ms') ?? 500);
      while (Date.now() < until) {
        // burn CPU
      }
      const used = process.cpuUsage(before);
      return reply(200, { cpuSeconds: (used.user + used.system) / 1e6 });
    }
    case '/echo':
      res.writeHead(200, { 'Content-Type': req.headers['content-type'] ?? 'application/octet-stream' });
      req.pipe(res);
      return;
    case '/whoami':
      // Talks to the API server the way an in-cluster client does (client-node's default loading).
      void (async () => {
        try {
          const k8s = await import('@kubernetes/client-node');
          const kc = new k8s.KubeConfig();
          kc.loadFromDefault();
          const api = kc.makeApiClient(k8s.AuthenticationV1Api);
          const review = await api.createSelfSubjectReview({ body: {} });
          reply(200, {
            username: review.status?.userInfo?.username,
            namespace: kc.getContextObject(kc.currentContext)?.namespace,
          });
        } catch (err) {
          reply(500, { error: (err as Error).message });
        }
      })();
      return;
    case '/info':
      return reply(200, { pid: process.pid, starts, env: process.env, cwd: process.cwd() });
    default:
      return reply(200, { hello: process.env.HOSTNAME ?? '' });
  }
});

server.listen(port, host, () => say(`listening on ${host}:${port} (start ${starts})`));
