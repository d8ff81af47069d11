// The kustomize trees render with kubectl, the API server accepts every built-in object (server-side dry run,
// strict field validation), the custom resources match their published schemas, and the pieces fit together.
import test from 'ava';
import type { z } from 'zod';
import { type FunctionName, loadConfig } from '../functions/lib/config.ts';
import { testCluster, useNamespace } from '../test/helpers/cluster.ts';
import { dryRun, intoNamespace } from './dry-run.ts';
import { withLocalSecretFiles } from './function-env.ts';
import { describe, find, isBuiltIn, type K8sObject, render, TREES, type Tree } from './render.ts';
import { broker, knativeService, sinkBinding, trigger } from './schemas/knative.ts';
import { functionResource } from './schemas/openfaas.ts';

const FUNCTIONS = ['router', 'restart-pod', 'redeploy', 'scale'] as const;
const ACTIONS = ['restart-pod', 'redeploy', 'scale'] as const;

/** The schema of every custom resource kind the trees may hold. */
const CUSTOM_SCHEMAS: Record<string, z.ZodType> = {
  'serving.knative.dev/v1 Service': knativeService,
  'eventing.knative.dev/v1 Broker': broker,
  'eventing.knative.dev/v1 Trigger': trigger,
  'sources.knative.dev/v1 SinkBinding': sinkBinding,
  'openfaas.com/v1 Function': functionResource,
};

const rendered = new Map<Tree, Promise<K8sObject[]>>();
function objectsOf(tree: Tree): Promise<K8sObject[]> {
  let objects = rendered.get(tree);
  if (!objects) {
    objects = render(tree);
    rendered.set(tree, objects);
  }
  return objects;
}

for (const tree of TREES) {
  test(`${tree}: kubectl kustomize renders it`, async (t) => {
    const objects = await objectsOf(tree);
    t.true(objects.length > 0);
    const keys = objects.map(
      (o) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`,
    );
    t.deepEqual(
      keys.filter((k, i) => keys.indexOf(k) !== i),
      [],
      'no object twice',
    );
  });

  test(`${tree}: the API server accepts every built-in object (server-side dry run, strict fields)`, async (t) => {
    const objects = (await objectsOf(tree)).filter(isBuiltIn);
    if (objects.length === 0) {
      t.is(tree, 'overlays/openfaas/functions', 'only the Function resources hold no built-in kind');
      return;
    }
    const { name: namespace, cluster } = await useNamespace(t, `manifests-${tree.replaceAll('/', '-')}`);
    const result = await dryRun(intoNamespace(objects, namespace), cluster.kubeconfigPath);
    t.true(result.ok, result.errors);
    t.is(result.accepted.length, objects.length, `accepted: ${result.accepted.join(', ')}`);
  });

  test(`${tree}: every custom resource matches the schema of its kind`, async (t) => {
    const custom = (await objectsOf(tree)).filter((o) => !isBuiltIn(o));
    // The base applies to a cluster with neither OpenFaaS nor Knative installed; on OpenFaaS, faas-cli deploys the
    // functions from stack.yml, so that overlay needs no custom resource definition either.
    if (tree === 'base' || tree === 'overlays/openfaas') t.deepEqual(custom.map(describe), []);
    for (const object of custom) {
      const schema = CUSTOM_SCHEMAS[`${object.apiVersion} ${object.kind}`];
      if (!schema) {
        t.fail(`${describe(object)}: no schema for this kind`);
        continue;
      }
      const result = schema.safeParse(object);
      t.true(result.success, `${describe(object)}: ${result.error?.message}`);
    }
  });
}

test('the dry run rejects what the API server would reject', async (t) => {
  const { name: namespace } = await useNamespace(t, 'manifests-negative');
  const cluster = await testCluster();
  const bad: K8sObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'bad', namespace },
    spec: { ports: [{ port: 80, targetPorts: 8080 }] },
  };
  const result = await dryRun([bad], cluster.kubeconfigPath);
  t.false(result.ok);
  // Server-side apply names the unknown field in its own words.
  t.regex(result.errors, /targetPorts(: field not declared in schema|")/);
});

test('base: the sample app is opted in, limited, probed and scraped', async (t) => {
  const objects = await objectsOf('base');
  const app = find(objects, 'Deployment', 'demo-app') as K8sObject & { spec: DeploymentSpec };
  t.is(app.metadata.namespace, 'demo');
  t.is(app.metadata.labels?.['selfheal.dev/enabled'], 'true');
  t.is(app.spec.template.metadata.labels['selfheal.dev/enabled'], 'true');
  t.is(app.spec.replicas, 2);
  const container = app.spec.template.spec.containers[0];
  t.like(container?.resources, { limits: { cpu: '500m', memory: '512Mi' } });
  t.truthy(container?.livenessProbe && container.readinessProbe);
  t.is(app.spec.template.metadata.annotations['prometheus.io/scrape'], 'true');
  const pdb = find(objects, 'PodDisruptionBudget', 'demo-app') as K8sObject & {
    spec: { selector: { matchLabels: Record<string, string> } };
  };
  t.like(app.spec.template.metadata.labels, pdb.spec.selector.matchLabels, 'the PDB covers the app pods');
  const prometheus = find(objects, 'Deployment', 'prometheus') as K8sObject & { spec: DeploymentSpec };
  t.true(prometheus.spec.template.spec.containers[0]?.args?.includes('--storage.tsdb.retention.time=200h'));
});

test('knative: scale-to-zero Services, one Trigger per action type, the router sends to the Broker', async (t) => {
  const objects = await objectsOf('overlays/knative');
  const services = new Map(
    objects
      .filter((o) => o.apiVersion === 'serving.knative.dev/v1' && o.kind === 'Service')
      .map((o) => [o.metadata.name, knativeService.parse(o)]),
  );
  t.deepEqual([...services.keys()].sort(), [...FUNCTIONS].sort());
  for (const [name, service] of services) {
    t.is(service.spec.template.metadata?.annotations?.['autoscaling.knative.dev/min-scale'], '0', name);
    t.is(service.metadata.labels?.['networking.knative.dev/visibility'], 'cluster-local', name);
  }

  const brokers = objects.filter((o) => o.kind === 'Broker').map((o) => broker.parse(o));
  t.is(brokers.length, 1);
  const theBroker = brokers[0];
  // The router's K_SINK is bound to the Broker, not written into its Service.
  const routerEnv = services.get('router')?.spec.template.spec.containers[0]?.env ?? [];
  t.false(
    routerEnv.some((e) => e.name === 'K_SINK'),
    'K_SINK comes from the SinkBinding',
  );
  const bindings = objects.filter((o) => o.kind === 'SinkBinding') as (K8sObject & {
    spec: { subject: Record<string, string>; sink: { ref: Record<string, string> } };
  })[];
  t.is(bindings.length, 1);
  t.like(bindings[0]?.spec, {
    subject: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'router' },
    sink: { ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: theBroker?.metadata.name } },
  });
  t.like(theBroker?.spec.delivery?.deadLetterSink?.ref, { kind: 'Service', name: 'restart-pod' });

  const triggers = objects.filter((o) => o.kind === 'Trigger').map((o) => trigger.parse(o));
  for (const action of ACTIONS) {
    const matching = triggers.filter(
      (tr) => tr.spec.filter?.attributes.type === `dev.selfheal.action.${action}`,
    );
    t.is(matching.length, 1, `one Trigger for ${action}`);
    const [match] = matching;
    t.is(match?.spec.broker, theBroker?.metadata.name);
    t.like(match?.spec.subscriber.ref, {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      name: action,
    });
  }
  // Resolved alerts reach an action, retried by the Broker for longer than a step may take to be verified (600 s).
  const resolved = triggers.filter((tr) => tr.spec.filter?.attributes.type === 'dev.selfheal.resolved');
  t.is(resolved.length, 1);
  t.like(resolved[0]?.spec.subscriber.ref, { kind: 'Service', name: 'restart-pod' });
  const delivery = resolved[0]?.spec.delivery;
  const seconds = Number(/^PT(\d+)S$/.exec(delivery?.backoffDelay ?? '')?.[1]);
  const retry = delivery?.retry ?? 0;
  t.is(delivery?.backoffPolicy, 'exponential');
  t.true(seconds * (2 ** retry - 1) > 600, `${retry} retries from ${seconds} s span at least 600 s`);
});

test('knative: each function starts with the environment its Service gives it, secrets where they are mounted', async (t) => {
  const objects = await objectsOf('overlays/knative');
  for (const object of objects.filter((o) => o.apiVersion === 'serving.knative.dev/v1')) {
    const service = knativeService.parse(object);
    const { containers, volumes = [] } = service.spec.template.spec;
    const container = containers[0];
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value ?? '']));
    // A SinkBinding on the Service adds K_SINK: here a Broker's address, as Knative publishes it.
    const bound = objects
      .filter((o) => o.kind === 'SinkBinding')
      .map((o) => sinkBinding.parse(o))
      .find((b) => b.spec.subject.kind === 'Service' && b.spec.subject.name === service.metadata.name);
    const sinkRef = bound?.spec.sink.ref;
    const sink =
      sinkRef?.kind === 'Broker'
        ? {
            K_SINK: `http://broker-ingress.knative-eventing.svc.cluster.local/${bound?.metadata.namespace}/${sinkRef.name}`,
          }
        : {};
    // Knative sets PORT (the container port) itself.
    const local = withLocalSecretFiles({
      ...env,
      ...sink,
      PORT: String(container?.ports?.[0]?.containerPort ?? 8080),
    });
    t.teardown(local.cleanup);
    t.notThrows(() => loadConfig(service.metadata.name as FunctionName, local.env), service.metadata.name);
    for (const path of local.secretPaths) {
      const mount = container?.volumeMounts?.find((m) => path.startsWith(`${m.mountPath}/`));
      t.truthy(
        mount && volumes.find((v) => v.name === mount.name)?.secret,
        `${path} lies in a mounted Secret`,
      );
    }
  }
});

interface NetworkPolicy {
  metadata: { name: string; namespace?: string };
  spec: {
    podSelector: {
      matchLabels?: Record<string, string>;
      matchExpressions?: { key: string; values?: string[] }[];
    };
    ingress?: {
      from?: { podSelector?: { matchLabels?: Record<string, string> }; namespaceSelector?: unknown }[];
    }[];
  };
}

/** The pods a policy admits, as `label=value` of their pod selector (namespace selectors named apart). */
function admitted(policy: NetworkPolicy): string[] {
  return (policy.spec.ingress ?? []).flatMap((rule) =>
    (rule.from ?? []).map((peer) =>
      peer.namespaceSelector
        ? `namespace ${JSON.stringify(peer.namespaceSelector)}`
        : Object.entries(peer.podSelector?.matchLabels ?? {})
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
    ),
  );
}

test('base: only Alertmanager (and Prometheus scrapes) reach the router, only the router reaches the actions', async (t) => {
  const policies = (await objectsOf('base')).filter(
    (o) => o.kind === 'NetworkPolicy',
  ) as unknown as NetworkPolicy[];
  const selecting = (label: string) =>
    policies.filter(
      (p) =>
        p.spec.podSelector.matchLabels?.['selfheal.dev/function'] === label ||
        p.spec.podSelector.matchExpressions?.some(
          (e) => e.key === 'selfheal.dev/function' && e.values?.includes(label),
        ),
    );
  const denyAll = policies.find((p) => Object.keys(p.spec.podSelector).length === 0 && !p.spec.ingress);
  t.is(denyAll?.metadata.namespace, 'selfheal', 'everything else in selfheal is denied by default');
  t.deepEqual(selecting('router').flatMap(admitted).sort(), [
    'app.kubernetes.io/name=alertmanager',
    'app.kubernetes.io/name=prometheus',
  ]);
  for (const action of ACTIONS) {
    t.deepEqual(
      selecting(action).flatMap(admitted).sort(),
      ['app.kubernetes.io/name=prometheus', 'selfheal.dev/function=router'],
      action,
    );
  }
});

interface ContainerSpec {
  args?: string[];
  resources?: unknown;
  livenessProbe?: unknown;
  readinessProbe?: unknown;
}
interface DeploymentSpec {
  replicas: number;
  template: {
    metadata: { labels: Record<string, string>; annotations: Record<string, string> };
    spec: { containers: ContainerSpec[] };
  };
}
