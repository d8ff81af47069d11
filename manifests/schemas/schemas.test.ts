// The custom-resource schemas reject what Knative's webhooks and the Kubernetes API would reject: each case
// mutates a real rendered object in one way.
import test from 'ava';
import { find, type K8sObject, render } from '../render.ts';
import { broker, knativeService, trigger } from './knative.ts';
import { quantityValue } from './kubernetes.ts';

// biome-ignore lint/suspicious/noExplicitAny: the cases reach into arbitrary paths of a parsed manifest
type Loose = any;
type Mutation = (o: Loose) => void;

async function knativeObject(kind: string, name: string): Promise<Loose> {
  const objects: K8sObject[] = await render('overlays/knative');
  return structuredClone(
    find(objects, kind, name, kind === 'Service' ? 'serving.knative.dev/v1' : undefined),
  );
}

const serviceCases: [string, Mutation][] = [
  [
    'a reserved environment variable (PORT)',
    (s) => s.spec.template.spec.containers[0].env.push({ name: 'PORT', value: '9000' }),
  ],
  ['a queue-proxy port', (s) => (s.spec.template.spec.containers[0].ports[0].containerPort = 8012)],
  ['a second container', (s) => s.spec.template.spec.containers.push({ image: 'x/y:1' })],
  ['a probe on another port', (s) => (s.spec.template.spec.containers[0].readinessProbe.httpGet.port = 9999)],
  ['a field Knative does not allow on a container', (s) => (s.spec.template.spec.containers[0].stdin = true)],
  [
    'a non-numeric min-scale',
    (s) => (s.spec.template.metadata.annotations['autoscaling.knative.dev/min-scale'] = 'zero'),
  ],
  ['a name that is not an RFC 1035 label', (s) => (s.metadata.name = '1router')],
  [
    'a mount of a volume that does not exist',
    (s) => (s.spec.template.spec.containers[0].volumeMounts[0].name = 'nope'),
  ],
];

test('the rendered router Service passes, and every single invalid change to it fails', async (t) => {
  const router = await knativeObject('Service', 'router');
  t.true(knativeService.safeParse(router).success);
  for (const [what, mutate] of serviceCases) {
    const changed = structuredClone(router);
    mutate(changed);
    t.false(knativeService.safeParse(changed).success, what);
  }
});

test('Trigger and Broker schemas reject a missing subscriber, a bad backoff delay and an unknown field', async (t) => {
  const restart = await knativeObject('Trigger', 'restart-pod');
  t.true(trigger.safeParse(restart).success);
  const noSubscriber = structuredClone(restart);
  noSubscriber.spec.subscriber = {};
  t.false(trigger.safeParse(noSubscriber).success, 'subscriber needs a ref or a uri');
  const filters = structuredClone(restart);
  filters.spec.filter.exact = { type: 'x' };
  t.false(trigger.safeParse(filters).success, 'unknown field in filter');

  const theBroker = await knativeObject('Broker', 'selfheal');
  t.true(broker.safeParse(theBroker).success);
  const badDelay = structuredClone(theBroker);
  badDelay.spec.delivery.backoffDelay = '500ms';
  t.false(broker.safeParse(badDelay).success, 'backoffDelay is an ISO 8601 duration');
});

test('quantities parse as the API server reads them', (t) => {
  t.is(quantityValue('500m'), 0.5);
  t.is(quantityValue('128Mi'), 128 * 1024 * 1024);
  t.is(quantityValue('1G'), 1e9);
  t.is(quantityValue('2'), 2);
  t.throws(() => quantityValue('12XB'));
});
