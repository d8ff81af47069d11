// The whole chain of the functions with real parts only: Alertmanager (Debian's 0.25 and a current build) posts
// with its bearer token from a credentials file to the router, the router delivers a CloudEvent to restart-pod,
// restart-pod deletes the pod with its own ServiceAccount, and the ReplicaSet replaces it.
import { accessSync, constants } from 'node:fs';
import test from 'ava';
import { startAlertmanager } from '../devkit/alertmanager.ts';
import { resolveBinaries } from '../devkit/binaries.ts';
import { useNamespace } from '../test/helpers/cluster.ts';
import { eventually } from '../test/helpers/wait.ts';
import { loadRouterConfig } from './lib/config.ts';
import { createLogger } from './lib/log.ts';
import { startFunction } from './lib/runtime.ts';
import { restartPod } from './restart-pod/restart-pod.ts';
import { routerFunction } from './router/index.ts';
import {
  applyRbac,
  createDeployment,
  eventsAbout,
  podsOf,
  startAction,
  waitForPods,
} from './test-helpers.ts';

const TOKEN = 'chain-test-token';

function debianAlertmanager(): string {
  const path = '/usr/bin/prometheus-alertmanager';
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    throw new Error(
      `${path} is missing: install Debian's prometheus-alertmanager (npm test runs scripts/setup.sh)`,
    );
  }
}

const alertmanagers: Array<[string, () => string]> = [
  ['Alertmanager 0.25 (Debian)', debianAlertmanager],
  ['Alertmanager built from its Go module', () => resolveBinaries(['alertmanager']).alertmanager],
];

for (const [label, binary] of alertmanagers) {
  test(`${label} → router → restart-pod → a replaced pod`, async (t) => {
    const { name: ns, kc } = await useNamespace(t, 'chain');
    await applyRbac(kc, ns);
    await createDeployment(kc, ns, 'web', { replicas: 2 });
    const [victim] = await waitForPods(kc, ns, 'web', 2);
    const pod = victim?.metadata?.name as string;

    const actionUrl = await startAction(t, 'restart-pod', restartPod, ns);
    const config = loadRouterConfig({
      SELFHEAL_WEBHOOK_TOKEN: TOKEN,
      SELFHEAL_SINK: 'direct',
      SELFHEAL_ACTION_URLS: `restart-pod=${actionUrl},redeploy=${actionUrl},scale=${actionUrl}`,
      SELFHEAL_NAMESPACES: ns,
      SELFHEAL_ACTION_AUTH: 'platform',
    });
    const log = createLogger('router', 'silent');
    const router = routerFunction({ config: () => config, log });
    const running = await startFunction(router, {
      name: 'router',
      host: '127.0.0.1',
      port: 0,
      bodyLimit: config.maxBodyBytes,
      log,
    });
    t.teardown(async () => {
      await running.close();
      await router.shutdown();
    });

    const am = await startAlertmanager(
      binary(),
      (dir) => `route:
  receiver: selfheal
  group_by: [alertname]
  group_wait: 1s
  group_interval: 5s
receivers:
  - name: selfheal
    webhook_configs:
      - url: ${running.url}/
        send_resolved: true
        http_config:
          authorization: { type: Bearer, credentials_file: ${dir}/token }
`,
      { token: TOKEN },
    );
    t.teardown(() => am.stop());
    // As Prometheus would send it from the HighMemoryUsage rule: no action label, the routing table decides.
    await am.post([
      {
        labels: { alertname: 'HighMemoryUsage', severity: 'critical', namespace: ns, pod, container: 'app' },
        annotations: { summary: `memory of ${ns}/${pod} above 200 MiB` },
        startsAt: new Date().toISOString(),
      },
    ]);

    const replaced = await eventually(
      'the pod replaced by its ReplicaSet',
      async () => {
        const pods = await podsOf(kc, ns, 'web');
        return pods.length === 2 && !pods.some((p) => p.metadata?.name === pod) && pods;
      },
      { timeoutMs: 30_000 },
    );
    t.is(replaced.length, 2);
    // The Event follows the deletion (after the record is written).
    const [event] = await eventually('the Event on the pod', async () => {
      const events = await eventsAbout(kc, ns, pod);
      return events.length > 0 && events;
    });
    t.like(event, { reason: 'RestartedPod', reportingComponent: 'selfheal/restart-pod' });
    t.regex(event?.message ?? '', /alert HighMemoryUsage, fingerprint [0-9a-f]+/);
  });
}
