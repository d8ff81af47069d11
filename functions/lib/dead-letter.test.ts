// Knative's dead letters recognised by their extensions, and said in one sentence a person can act on.
import test from 'ava';
import { describeDeadLetter, isDeadLetterDestination, readDeadLetter } from './dead-letter.ts';
import { deadLetterLabels } from './report.ts';

const event = {
  specversion: '1.0',
  id: 'e1',
  type: 'dev.selfheal.action.scale',
  source: 'selfheal/router',
  data: {
    alert: { name: 'HighCPUUsage', fingerprint: 'f', startsAt: '2026-11-26T10:00:00Z' },
    target: { namespace: 'demo', kind: 'Deployment', name: 'web' },
    params: {},
  },
};

test('an event without knativeerrordest is no dead letter', (t) => {
  t.is(readDeadLetter(event), undefined);
  t.is(readDeadLetter({ ...event, knativeerrordest: '' }), undefined);
});

test('a dead letter names where it failed, the last answer and the workload it was about', (t) => {
  const letter = readDeadLetter({
    ...event,
    knativeerrordest: 'http://scale.selfheal.svc.cluster.local',
    knativeerrorcode: '503',
    knativeerrordata: Buffer.from('{"error":"busy"}').toString('base64'),
  });
  t.deepEqual(letter, {
    id: 'e1',
    type: 'dev.selfheal.action.scale',
    source: 'selfheal/router',
    destination: 'http://scale.selfheal.svc.cluster.local',
    code: '503',
    answer: '{"error":"busy"}',
    target: { namespace: 'demo', kind: 'Deployment', name: 'web' },
    alertname: 'HighCPUUsage',
  });
  t.is(
    describeDeadLetter(letter as NonNullable<typeof letter>),
    'dev.selfheal.action.scale e1 for alert HighCPUUsage was not delivered to http://scale.selfheal.svc.cluster.local after the Broker\'s retries (last answer 503: {"error":"busy"}); nothing acted on it',
  );
});

test('data as a JSON string, or about no workload, still makes a dead letter', (t) => {
  const letter = readDeadLetter({
    ...event,
    type: 'dev.selfheal.result',
    data: JSON.stringify({ outcome: 'applied' }),
    knativeerrordest: 'http://x',
  });
  t.like(letter, { type: 'dev.selfheal.result', target: undefined, code: undefined, answer: undefined });
});

// Someone else's event (a Knative PingSource's) reaches the dead-letter sink with whatever data it carried.
const ping = {
  specversion: '1.0',
  id: 'a4b9a5c0-5d3b-4e0e-9a55-4c1c5a3ad1f2',
  type: 'dev.knative.sources.ping',
  source: '/apis/v1/namespaces/default/pingsources/test-ping-source',
  knativeerrordest: 'http://event-display.default.svc.cluster.local',
  knativeerrorcode: '500',
};

test('a foreign dead letter names no workload whatever its data, and is still described', (t) => {
  for (const data of [
    { message: 'Hello world!' },
    { target: 'http://event-display', alert: 'x' },
    { target: { namespace: 'demo', kind: 'CronJob', name: 'backup' } },
    'Hello world!',
    42,
    null,
    undefined,
    [1, 2],
    new Uint32Array([1, 2]),
  ]) {
    const letter = readDeadLetter({ ...ping, data });
    t.like(
      letter,
      { type: 'dev.knative.sources.ping', target: undefined, alertname: undefined, code: '500' },
      String(data),
    );
    t.regex(
      describeDeadLetter(letter as NonNullable<typeof letter>),
      /^dev\.knative\.sources\.ping a4b9a5c0-\S+ was not delivered to http:\/\/event-display\.default\.svc\.cluster\.local after the Broker's retries \(last answer 500\); nothing acted on it$/,
    );
  }
});

test('only a non-empty knativeerrordest marks a dead letter', (t) => {
  t.true(isDeadLetterDestination('http://x'));
  for (const value of ['', undefined, null, 5, ['http://x']]) t.false(isDeadLetterDestination(value));
});

test("the dead-letter metric keeps selfheal's types and HTTP codes; anything else a sender chose is other", (t) => {
  t.deepEqual(deadLetterLabels({ type: 'dev.selfheal.action.scale', code: '503' }), {
    type: 'dev.selfheal.action.scale',
    code: '503',
  });
  t.deepEqual(deadLetterLabels({ type: 'dev.selfheal.result', code: undefined }), {
    type: 'dev.selfheal.result',
    code: 'none',
  });
  t.deepEqual(deadLetterLabels({ type: `com.example.${'x'.repeat(200)}`, code: '99999' }), {
    type: 'other',
    code: 'other',
  });
});
