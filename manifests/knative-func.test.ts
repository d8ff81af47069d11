// Each function's func.yaml describes the same Knative Service and Triggers as the Knative overlay: what `func deploy`
// would make of it (knative-func.ts, after func's own deployer) is compared field by field with the rendered overlay.
import test from 'ava';
import { FUNCTION_NAMES } from '../functions/lib/config.ts';
import { FUNC_ANNOTATIONS, FUNC_LABELS, funcService, funcTriggers, readFuncYaml } from './knative-func.ts';
import { type K8sObject, render } from './render.ts';

type Container = {
  image: string;
  env?: { name: string; value?: string }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe?: { httpGet?: { path?: string } };
  readinessProbe?: { httpGet?: { path?: string } };
  volumeMounts?: { name: string; mountPath: string }[];
};
type KnativeService = K8sObject & {
  spec: {
    template: {
      metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec: {
        serviceAccountName?: string;
        containerConcurrency?: number;
        containers: Container[];
        volumes?: { name: string; secret?: { secretName: string } }[];
      };
    };
  };
};
type Trigger = K8sObject & {
  spec: {
    broker: string;
    filter?: { attributes?: Record<string, string> };
    subscriber: { ref?: { kind: string; name: string } };
  };
};

const overlay = render('overlays/knative');
const without = (o: Record<string, string> | undefined, keys: readonly string[]) =>
  Object.fromEntries(Object.entries(o ?? {}).filter(([k]) => !keys.includes(k)));

for (const name of FUNCTION_NAMES) {
  test(`${name}: func.yaml deploys the overlay's Knative Service`, async (t) => {
    const f = readFuncYaml(name);
    const fromFunc = funcService(f);
    const service = (await overlay).find(
      (o) => o.kind === 'Service' && o.apiVersion === 'serving.knative.dev/v1' && o.metadata.name === name,
    ) as KnativeService | undefined;
    if (!service) return t.fail(`the overlay has no Knative Service ${name}`);
    const template = service.spec.template;
    const container = template.spec.containers[0] as Container;
    t.is(fromFunc.namespace, service.metadata.namespace);
    t.is(fromFunc.template.image, container.image);
    t.is(fromFunc.template.serviceAccountName, template.spec.serviceAccountName);
    t.is(fromFunc.template.containerConcurrency, template.spec.containerConcurrency);
    t.deepEqual(
      without(fromFunc.template.annotations, FUNC_ANNOTATIONS),
      template.metadata.annotations ?? {},
      'revision annotations (scale, scraping)',
    );
    t.like(fromFunc.template.labels, template.metadata.labels ?? {}, 'the revision labels');
    t.like(fromFunc.labels, service.metadata.labels ?? {}, 'the Service labels');
    t.deepEqual(
      without(fromFunc.labels, FUNC_LABELS),
      { ...service.metadata.labels, ...template.metadata.labels },
      'no label beyond the overlay',
    );
    const sortByName = (e: { name: string }[]) => [...e].sort((a, b) => a.name.localeCompare(b.name));
    t.deepEqual(
      sortByName(fromFunc.template.env),
      sortByName((container.env ?? []).map((e) => ({ name: e.name, value: e.value ?? '' }))),
      'environment',
    );
    t.deepEqual(fromFunc.template.resources, {
      requests: container.resources?.requests ?? {},
      limits: container.resources?.limits ?? {},
    });
    t.is(fromFunc.template.livenessPath, container.livenessProbe?.httpGet?.path);
    t.is(fromFunc.template.readinessPath, container.readinessProbe?.httpGet?.path);
    const volumes = (container.volumeMounts ?? []).map((m) => ({
      secretName: template.spec.volumes?.find((v) => v.name === m.name)?.secret?.secretName,
      mountPath: m.mountPath,
    }));
    t.deepEqual(fromFunc.template.volumes, volumes, 'secret volumes');
  });

  test(`${name}: func.yaml subscribes to exactly the overlay's Triggers`, async (t) => {
    const triggers = (await overlay).filter(
      (o): o is Trigger =>
        o.kind === 'Trigger' &&
        (o as Trigger).spec.subscriber.ref?.kind === 'Service' &&
        (o as Trigger).spec.subscriber.ref?.name === name,
    );
    const fromFunc = funcTriggers(readFuncYaml(name));
    const shape = (broker: string, attributes: Record<string, string> | undefined) =>
      JSON.stringify({ broker, attributes });
    t.deepEqual(
      fromFunc.map((s) => shape(s.broker, s.attributes)).sort(),
      triggers.map((tr) => shape(tr.spec.broker, tr.spec.filter?.attributes)).sort(),
    );
  });
}

test('with func deploying the functions, the overlay leaves out exactly what func creates, and keeps the rest', async (t) => {
  const overlay = await render('overlays/knative');
  const withFunc = await render('examples/knative-func');
  const key = (o: K8sObject) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  const kept = new Set(withFunc.map(key));
  const left = overlay.filter((o) => !kept.has(key(o)));
  t.deepEqual(
    left.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
    [
      ...FUNCTION_NAMES.map((name) => `Service/${name}`),
      ...overlay.filter((o) => o.kind === 'Trigger').map((o) => `Trigger/${o.metadata.name}`),
    ].sort(),
    'only the Knative Services and their Triggers',
  );
  t.true(withFunc.some((o) => o.kind === 'Broker'));
  t.true(withFunc.some((o) => o.kind === 'SinkBinding'));
  // What func creates in their place: one Trigger per subscription, as many as the overlay's.
  const fromFunc = FUNCTION_NAMES.flatMap((name) => funcTriggers(readFuncYaml(name)));
  t.is(fromFunc.length, overlay.filter((o) => o.kind === 'Trigger').length);
});
