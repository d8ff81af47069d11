// The CloudEvents envelope check as a table: which requests reach the SDK and which are refused with 400, and why.
import test from 'ava';
import {
  attributeProblems,
  checkEnvelopeHeaders,
  checkStructuredBody,
  checkWithSdk,
  type EnvelopeMode,
  envelopeMode,
  KNOWN_EVENT_TYPES,
} from './envelope.ts';

const TYPE = 'dev.selfheal.action.scale';
const binary = {
  'content-type': 'application/json',
  'ce-specversion': '1.0',
  'ce-id': 'a1',
  'ce-source': 'selfheal/router',
  'ce-type': TYPE,
};
const structured = { specversion: '1.0', id: 'a1', source: 'selfheal/router', type: TYPE, data: {} };
// What Knative's Broker adds to an event it gives up on (knative.dev/eventing pkg/kncloudevents/attributes/
// knative_error.go), here a result nobody's Trigger took, as restart-pod answers it.
const deadLetterHeaders = {
  ...binary,
  'ce-type': 'dev.selfheal.result',
  'ce-source': 'selfheal/restart-pod',
  'ce-knativeerrordest': 'http://results.selfheal.svc.cluster.local',
  'ce-knativeerrorcode': '503',
};
const deadLetterBody = {
  ...structured,
  type: 'dev.selfheal.result',
  source: 'selfheal/restart-pod',
  knativeerrordest: 'http://results.selfheal.svc.cluster.local',
  knativeerrorcode: '503',
};

test('the known types are the three action types and the resolution of an alert', (t) => {
  t.deepEqual(KNOWN_EVENT_TYPES, [
    'dev.selfheal.action.restart-pod',
    'dev.selfheal.action.redeploy',
    'dev.selfheal.action.scale',
    'dev.selfheal.resolved',
  ]);
});

const modes: Array<[string, Record<string, string>, EnvelopeMode]> = [
  ['Alertmanager JSON', { 'content-type': 'application/json' }, 'plain'],
  ['structured', { 'content-type': 'application/cloudevents+json; charset=utf-8' }, 'structured'],
  [
    'structured wins over ce-* headers',
    { 'content-type': 'application/cloudevents+json', 'ce-id': 'x' },
    'structured',
  ],
  ['batch', { 'content-type': 'application/cloudevents-batch+json' }, 'batch'],
  ['complete binary', binary, 'binary'],
  ['one ce-* header is a binary attempt', { 'content-type': 'application/json', 'ce-type': TYPE }, 'binary'],
  ['header names in any case', { 'Content-Type': 'application/json', 'CE-Id': 'x' }, 'binary'],
];
for (const [name, headers, mode] of modes) {
  test(`mode: ${name} → ${mode}`, (t) => {
    t.is(envelopeMode(headers), mode);
  });
}

const { 'ce-id': _id, ...binaryWithoutId } = binary;
const { 'ce-source': _source, ...binaryWithoutSource } = binary;
const { 'content-type': _ct, ...binaryWithoutContentType } = binary;
const headerCases: Array<[string, string, Record<string, string>, RegExp | undefined]> = [
  ['a complete binary event', 'POST', binary, undefined],
  [
    'plain JSON (an Alertmanager webhook, an operator request)',
    'POST',
    { 'content-type': 'application/json' },
    undefined,
  ],
  [
    'a structured event (its body is checked later)',
    'POST',
    { 'content-type': 'application/cloudevents+json' },
    undefined,
  ],
  ['a GET without a body', 'GET', {}, undefined],
  [
    'ce-specversion 9.9',
    'POST',
    { ...binary, 'ce-specversion': '9.9' },
    /ce-specversion: 9\.9 is not supported, only 1\.0/,
  ],
  [
    'ce-specversion 0.3',
    'POST',
    { ...binary, 'ce-specversion': '0.3' },
    /ce-specversion: 0\.3 is not supported/,
  ],
  ['no ce-specversion', 'POST', { ...binary, 'ce-specversion': '' }, /ce-specversion: required/],
  ['no ce-id', 'POST', binaryWithoutId, /ce-id: required/],
  ['a blank ce-id', 'POST', { ...binary, 'ce-id': '  ' }, /ce-id: required/],
  ['no ce-source', 'POST', binaryWithoutSource, /ce-source: required/],
  [
    'an unknown ce-type',
    'POST',
    { ...binary, 'ce-type': 'com.example.delete-everything' },
    /ce-type: unknown type com\.example\.delete-everything/,
  ],
  ['a binary event without content-type', 'POST', binaryWithoutContentType, /missing or empty content-type/],
  [
    'a binary event with an empty content-type',
    'POST',
    { ...binary, 'content-type': '' },
    /missing or empty content-type/,
  ],
  ['a POST without content-type', 'POST', {}, /missing or empty content-type/],
  [
    'a POST with a blank content-type',
    'POST',
    { 'content-type': ' ; charset=utf-8' },
    /missing or empty content-type/,
  ],
  [
    'a batch',
    'POST',
    { 'content-type': 'application/cloudevents-batch+json' },
    /batched CloudEvents are not accepted/,
  ],
  [
    "0.3's ce-schemaurl (the SDK would throw a bare TypeError)",
    'POST',
    { ...binary, 'ce-schemaurl': 'https://example.com/schema.json' },
    /ce-schemaurl: a CloudEvents 0\.3 attribute; 1\.0 uses ce-dataschema/,
  ],
  ['a dead letter of a type no function handles', 'POST', deadLetterHeaders, undefined],
  ['a dead letter without a type', 'POST', { ...deadLetterHeaders, 'ce-type': '' }, /ce-type: required/],
  [
    'a dead letter with an id of two values',
    'POST',
    { ...deadLetterHeaders, 'ce-id': 'e1, e2' },
    /ce-id: must be 1-128/,
  ],
  [
    'a dead letter of specversion 0.3',
    'POST',
    { ...deadLetterHeaders, 'ce-specversion': '0.3' },
    /ce-specversion: 0\.3 is not supported/,
  ],
  [
    'an empty ce-knativeerrordest marks no dead letter',
    'POST',
    { ...deadLetterHeaders, 'ce-knativeerrordest': '' },
    /ce-type: unknown type dev\.selfheal\.result/,
  ],
];
for (const [name, method, headers, expected] of headerCases) {
  test(`headers: ${name} → ${expected ? '400' : 'passes'}`, (t) => {
    const error = checkEnvelopeHeaders(method, headers);
    if (!expected) return t.is(error, undefined);
    t.is(error?.code, 400);
    t.regex(error?.message ?? '', expected);
    t.true((error?.problems.length ?? 0) > 0, 'the problems are listed');
    // A plain request without a content type is not a bad CloudEvent.
    const reason = envelopeMode(headers) === 'plain' ? 'invalid' : 'invalid-cloudevent';
    t.like(error?.toJSON(), { kind: 'invalid', reason });
  });
}

test('every missing attribute of a binary event is named at once', (t) => {
  const error = checkEnvelopeHeaders('POST', { 'content-type': 'application/json', 'ce-foo': 'bar' });
  t.deepEqual(
    error?.problems.map((p) => p.split(':')[0]),
    ['ce-specversion', 'ce-id', 'ce-source', 'ce-type'],
  );
  t.is(error?.reason, 'invalid-cloudevent');
});

const { id: _sid, ...structuredWithoutId } = structured;
const { source: _ssource, ...structuredWithoutSource } = structured;
const bodyCases: Array<[string, unknown, RegExp | undefined]> = [
  ['a complete event as text', JSON.stringify(structured), undefined],
  ['a complete event as a buffer', Buffer.from(JSON.stringify(structured)), undefined],
  ['a complete event already parsed', structured, undefined],
  ['no id (the SDK would invent one)', JSON.stringify(structuredWithoutId), /id: required/],
  ['a numeric id', JSON.stringify({ ...structured, id: 7 }), /id: required, a non-empty string/],
  ['no source', JSON.stringify(structuredWithoutSource), /source: required/],
  [
    'specversion 9.9',
    JSON.stringify({ ...structured, specversion: '9.9' }),
    /specversion: 9\.9 is not supported/,
  ],
  [
    'specversion as a number',
    JSON.stringify({ ...structured, specversion: 1.0 }),
    /specversion: 1 is not supported/,
  ],
  [
    'an unknown type',
    JSON.stringify({ ...structured, type: 'dev.selfheal.result' }),
    /type: unknown type dev\.selfheal\.result/,
  ],
  ['malformed JSON', '{"specversion":', /body: not JSON/],
  ['an array', JSON.stringify([structured]), /expected one JSON object/],
  ['an empty body', '', /body: not JSON/],
  [
    "0.3's schemaurl",
    JSON.stringify({ ...structured, schemaurl: 'https://example.com/schema.json' }),
    /schemaurl: a CloudEvents 0\.3 attribute; 1\.0 uses dataschema/,
  ],
  ['a dead letter of a type no function handles', JSON.stringify(deadLetterBody), undefined],
  ['a dead letter without a source', JSON.stringify({ ...deadLetterBody, source: '' }), /source: required/],
];
for (const [name, body, expected] of bodyCases) {
  test(`structured body: ${name} → ${expected ? '400' : 'passes'}`, (t) => {
    const error = checkStructuredBody(body);
    if (!expected) return t.is(error, undefined);
    t.is(error?.code, 400);
    t.regex(error?.message ?? '', /^invalid structured-mode CloudEvent: /);
    t.regex(error?.message ?? '', expected);
    t.like(error?.toJSON(), { kind: 'invalid', reason: 'invalid-cloudevent' });
  });
}

test('attributes are checked against the types given', (t) => {
  const attributes = { specversion: '1.0', id: 'x', source: 's', type: 'a.b' };
  t.deepEqual(attributeProblems(attributes, ['a.b']), []);
  t.deepEqual(attributeProblems(attributes, ['c.d']), ['type: unknown type a.b, expected one of c.d']);
});

test('a dead letter passes whatever its type; every other attribute is still checked', (t) => {
  const letter = { specversion: '1.0', id: 'x', source: 's', type: 'com.example.order' };
  t.deepEqual(attributeProblems({ ...letter, knativeerrordest: 'http://shop.default.svc' }), []);
  t.deepEqual(attributeProblems(letter, ['a.b']), [
    'type: unknown type com.example.order, expected one of a.b',
  ]);
  t.deepEqual(attributeProblems({ ...letter, id: '', knativeerrordest: 'http://shop.default.svc' }), [
    'id: required, a non-empty string (the idempotency key)',
  ]);
});

// The SDK builds and validates the event faas-js-runtime is about to build; what it throws is a 400 naming why.
const sdkCases: Array<[string, Record<string, string>, unknown, RegExp | undefined]> = [
  ['a complete binary event', binary, {}, undefined],
  [
    'a complete structured event',
    { 'content-type': 'application/cloudevents+json' },
    JSON.stringify(structured),
    undefined,
  ],
  ['a dead letter of another type', deadLetterHeaders, {}, undefined],
  [
    'an extension name the SDK does not allow',
    { ...binary, 'ce-bad_ext': 'x' },
    {},
    /^invalid CloudEvent: invalid attribute name: "bad_ext"$/,
  ],
  [
    'a dataschema that is no URI',
    { 'content-type': 'application/cloudevents+json' },
    JSON.stringify({ ...structured, dataschema: 'not a uri' }),
    /dataschema: must match format "uri"/,
  ],
  [
    "0.3's schemaurl (a TypeError)",
    { ...binary, 'ce-schemaurl': 'https://example.com/schema.json' },
    {},
    /^invalid CloudEvent: cannot set schemaurl on version 1\.0 event$/,
  ],
  [
    'a data_base64 that is no string (a TypeError)',
    { 'content-type': 'application/cloudevents+json' },
    JSON.stringify({ ...structured, data: undefined, data_base64: 5 }),
    /^invalid CloudEvent: /,
  ],
];
for (const [name, headers, body, expected] of sdkCases) {
  test(`sdk: ${name} → ${expected ? '400' : 'passes'}`, (t) => {
    const error = checkWithSdk(headers, body);
    if (!expected) return t.is(error, undefined);
    t.regex(error?.message ?? '', expected);
    t.like(error?.toJSON(), { kind: 'invalid', reason: 'invalid-cloudevent' });
    t.true((error?.problems.length ?? 0) > 0, 'the problems are listed');
  });
}
