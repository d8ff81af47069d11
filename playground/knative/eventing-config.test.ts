// The plan for installing Knative Eventing from its module's config: what runs, what is left out and why, and the
// changes a cluster without kube-proxy needs; read from the config the build script copies.
import test from 'ava';
import { resolveKnativeEventing } from '../../devkit/binaries.ts';
import {
  type ConfigFile,
  missingImageConfigMaps,
  planEventing,
  RUN_IMAGES,
  readConfig,
  WEBHOOK_SERVICES,
  webhookConfigurations,
} from './eventing-config.ts';

const placement = {
  nodeSelector: { 'kubernetes.io/hostname': 'knative-node' },
  tolerations: [{ key: 'selfheal.dev/process-node', operator: 'Exists', effect: 'NoSchedule' }],
};
const files: ConfigFile[] = readConfig(resolveKnativeEventing().configDir);

test('every Deployment a channel-based Broker needs runs, on the process node; the rest is left out with its reason', (t) => {
  const plan = planEventing(files, placement);
  const images = plan.deployments.map((d) => d.spec?.template.spec?.containers[0]?.image).sort();
  t.deepEqual(images, Object.keys(RUN_IMAGES).sort());
  for (const d of plan.deployments) t.like(d.spec?.template.spec, { nodeSelector: placement.nodeSelector });
  t.true(plan.leftOut.some((l) => l.startsWith('Deployment/job-sink: ')));
  t.true(plan.leftOut.some((l) => l.startsWith('HorizontalPodAutoscaler/')));
  t.is(plan.setup[0]?.kind, 'Namespace', 'the namespace before what lives in it');
  t.true(plan.crds.some((c) => c.metadata?.name === 'brokers.eventing.knative.dev'));
  t.true(
    plan.crds.some((c) => c.metadata?.name === 'services.serving.knative.dev'),
    "Serving's Service CRD",
  );
});

test('the webhook Services send the API server to this host, on the port each webhook configuration names', (t) => {
  const plan = planEventing(files, placement);
  for (const name of Object.keys(WEBHOOK_SERVICES)) {
    const service = plan.setup.find((o) => o.kind === 'Service' && o.metadata?.name === name);
    t.like(service, { spec: { type: 'ExternalName', externalName: 'localhost' } }, name);
  }
  const ports = { 'eventing-webhook': 41001, 'inmemorychannel-webhook': 41002 };
  const hooks = webhookConfigurations(plan.webhooks, ports) as {
    webhooks?: { clientConfig: { service: { name: string; port?: number } } }[];
  }[];
  t.true(hooks.length >= 5);
  for (const hook of hooks)
    for (const w of hook.webhooks ?? [])
      t.is(w.clientConfig.service.port, ports[w.clientConfig.service.name as keyof typeof ports]);
});

test("the release's image ConfigMaps the controller's env reads are created with those keys", (t) => {
  const plan = planEventing(files, placement);
  const made = missingImageConfigMaps(plan.deployments, new Set());
  const integrations = made.find((c) => c.metadata?.name === 'eventing-integrations-images') as
    | { data: Record<string, string> }
    | undefined;
  t.truthy(integrations?.data['log-sink'] !== undefined, 'one key per configMapKeyRef');
  t.true(plan.setup.some((o) => o.metadata?.name === 'eventing-transformations-images'));
});
