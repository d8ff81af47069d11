// A storm through a real Alertmanager (Debian's 0.25 and a current build): 1,000 alerts in one group, actions too
// slow to take them all before the router's answer deadline. The router answers 503 in time, Alertmanager retries,
// and every alert reaches its action, none of them twice unless a deadline abandoned it in flight.

import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { startAlertmanager } from '../../devkit/alertmanager.ts';
import { resolveBinaries } from '../../devkit/binaries.ts';
import { eventually } from '../../test/helpers/wait.ts';
import { loadRouterConfig } from '../lib/config.ts';
import { createLogger } from '../lib/log.ts';
import { startFunction } from '../lib/runtime.ts';
import { routerFunction } from './index.ts';

const TOKEN = 'storm-alertmanager-token';
const DEADLINE_MS = 1500;
const ALERTS = 1000;
const silent = createLogger('router', 'silent');

function debianAlertmanager(): string {
  const path = '/usr/bin/prometheus-alertmanager';
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    throw new Error(`${path} is missing: apt-get install prometheus-alertmanager`);
  }
}

const alertmanagers: Array<[string, () => string]> = [
  ["Debian's Alertmanager 0.25", debianAlertmanager],
  ['Alertmanager built from its Go module', () => resolveBinaries(['alertmanager']).alertmanager],
];

// An action stand-in that takes 20 ms an event: 1,000 events need about 5 s at 4 in flight, more than the deadline.
async function startSlowAction(t: ExecutionContext): Promise<{ url: string; ids: string[] }> {
  const ids: string[] = [];
  const server: Server = createServer(async (req, res) => {
    for await (const _ of req);
    ids.push(String(req.headers['ce-id']));
    await new Promise((r) => setTimeout(r, 20));
    if (res.destroyed) return;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ outcome: 'applied', reason: 'restarted', message: 'acted' }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, ids };
}

type Answer = { statusCode: number; body: string };

for (const [label, binary] of alertmanagers) {
  test(`${label}: a 1,000-alert storm is answered within the deadline and delivered in full through retries`, async (t) => {
    const action = await startSlowAction(t);
    const config = loadRouterConfig({
      SELFHEAL_WEBHOOK_TOKEN: TOKEN,
      SELFHEAL_SINK: 'direct',
      SELFHEAL_ACTION_URLS: `restart-pod=${action.url},redeploy=${action.url},scale=${action.url}`,
      SELFHEAL_NAMESPACES: 'demo',
      SELFHEAL_ACTION_AUTH: 'platform',
      SELFHEAL_ANSWER_DEADLINE_MS: String(DEADLINE_MS),
    });
    const router = routerFunction({ config: () => config, log: silent });
    // Every answer the router gives Alertmanager, with how long it took.
    const answers: Array<{ status: number; ms: number; deadline?: { inFlight: number }; failed: string[] }> =
      [];
    const handle = async (...args: Parameters<typeof router.handle>) => {
      const started = performance.now();
      const answer = (await router.handle(...args)) as Answer;
      const body = JSON.parse(answer.body);
      const failed = (body.results as Array<{ outcome: string; reason?: string; message?: string }>)
        // Left for the retry by the deadline, or by another attempt still delivering them: not a failed action.
        .filter((r) => r.outcome === 'failed' && r.reason !== 'deadline' && r.reason !== 'concurrent')
        .map((r) => `${r.reason}: ${r.message}`);
      answers.push({
        status: answer.statusCode,
        ms: performance.now() - started,
        deadline: body.deadline,
        failed: [...new Set(failed)].slice(0, 3),
      });
      return answer;
    };
    const running = await startFunction(
      { ...router, handle },
      { name: 'router', host: '127.0.0.1', port: 0, bodyLimit: config.maxBodyBytes, log: silent },
    );
    t.teardown(async () => {
      await running.close();
      await router.shutdown();
    });

    // As the shipped configuration sends them, with a short group_interval: Alertmanager gives up on a call after
    // max(group_interval, 10 s) = 10 s.
    const am = await startAlertmanager(
      binary(),
      (dir) => `route:
  receiver: selfheal
  group_by: [alertname, namespace]
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
  - name: selfheal
    webhook_configs:
      - url: ${running.url}/
        send_resolved: true
        max_alerts: ${ALERTS}
        http_config:
          authorization: { type: Bearer, credentials_file: ${dir}/token }
`,
      { token: TOKEN },
    );
    t.teardown(() => am.stop());
    const startsAt = new Date().toISOString();
    await am.post(
      Array.from({ length: ALERTS }, (_, i) => ({
        labels: {
          alertname: 'HighMemoryUsage',
          action: 'restart-pod',
          severity: 'critical',
          namespace: 'demo',
          pod: `web-7d9f8b6c5-${i.toString(36).padStart(5, '0')}`,
          container: 'app',
        },
        annotations: { summary: `memory of pod ${i} above 200 MiB` },
        startsAt,
      })),
    );

    await eventually('a notification answered 200', () => answers.some((a) => a.status === 200), {
      timeoutMs: 150_000,
    });
    t.log(
      `${answers.length} calls: ${answers.map((a) => `${a.status} in ${(a.ms / 1000).toFixed(1)} s`).join(', ')}`,
    );
    t.is(answers[0]?.status, 503, 'the first call ran into the deadline');
    t.truthy(answers[0]?.deadline, 'and says so');
    for (const answer of answers) {
      if (answer.status === 503)
        t.deepEqual(
          answer.failed,
          [],
          'a 503 because of the deadline (or a concurrent attempt), not a failed action',
        );
      // The handler's own time: the deadline, plus a generous margin for validating and planning on a busy machine.
      t.true(answer.ms < DEADLINE_MS + 5000, `answered in ${answer.ms} ms`);
    }
    t.is(new Set(action.ids).size, ALERTS, 'every alert reached its action');
    // Only a delivery abandoned in flight at a deadline is sent again (the action's ledger makes it a no-op).
    const abandoned = answers.reduce((sum, a) => sum + (a.deadline?.inFlight ?? 0), 0);
    t.true(
      action.ids.length - ALERTS <= abandoned,
      `${action.ids.length - ALERTS} repeats, ${abandoned} abandoned`,
    );
  });
}
