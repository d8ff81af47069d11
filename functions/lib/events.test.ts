// Event ids are the idempotency key: deterministic, distinct per (fingerprint, start, action), format-proof.
import test from 'ava';
import fc from 'fast-check';
import {
  ACTIONS,
  actionEventType,
  actionFromEventType,
  buildActionEvent,
  canonicalInstant,
  eventId,
  subjectOf,
} from './events.ts';

const fingerprint = fc.stringMatching(/^[0-9a-f]{16}$/);
const instant = fc.date({
  min: new Date('2000-01-01T00:00:00Z'),
  max: new Date('2100-01-01T00:00:00Z'),
  noInvalidDate: true,
});
const action = fc.constantFrom(...ACTIONS);

test('the same alert occurrence and action always give the same id, from any copy of the alert', (t) => {
  fc.assert(
    fc.property(fingerprint, instant, action, (fp, at, a) => {
      const alert = { fingerprint: fp, startsAt: at.toISOString() };
      const copy = JSON.parse(JSON.stringify(alert)) as typeof alert;
      const id = eventId(alert.fingerprint, alert.startsAt, a);
      return id === eventId(copy.fingerprint, copy.startsAt, a) && /^[0-9a-f]{32}$/.test(id);
    }),
  );
  t.pass();
});

test('a different fingerprint, start or action gives a different id', (t) => {
  fc.assert(
    fc.property(fingerprint, fingerprint, instant, instant, action, action, (fp1, fp2, at1, at2, a1, a2) => {
      fc.pre(fp1 !== fp2 || at1.getTime() !== at2.getTime() || a1 !== a2);
      return eventId(fp1, at1.toISOString(), a1) !== eventId(fp2, at2.toISOString(), a2);
    }),
  );
  t.pass();
});

test('the same instant written with another offset or precision gives the same id', (t) => {
  const id = eventId('28df17c4d8ca3a0d', '2026-11-26T09:47:08.653Z', 'restart-pod');
  t.is(eventId('28df17c4d8ca3a0d', '2026-11-26T11:47:08.653+02:00', 'restart-pod'), id);
  t.is(eventId('28df17c4d8ca3a0d', '2026-11-26T09:47:08.653000000Z', 'restart-pod'), id);
  t.not(eventId('28df17c4d8ca3a0d', '2026-11-26T09:47:08.653000001Z', 'restart-pod'), id);
});

test('canonicalInstant keeps nanoseconds and normalises to UTC', (t) => {
  t.is(canonicalInstant('2026-11-26T10:00:00.123456789+01:00'), '2026-11-26T09:00:00.123456789Z');
  t.is(canonicalInstant('2026-11-26T09:00:00Z'), '2026-11-26T09:00:00.000000000Z');
  t.throws(() => canonicalInstant('not a time'), { instanceOf: RangeError });
});

test('action event types round-trip and unknown ones are refused', (t) => {
  for (const a of ACTIONS) t.is(actionFromEventType(actionEventType(a)), a);
  t.is(actionFromEventType('dev.selfheal.action.reboot-node'), undefined);
  t.is(actionFromEventType('com.example.other'), undefined);
});

test('an action event carries the deterministic id, the subject and the alert start as time', (t) => {
  const event = buildActionEvent({
    action: 'scale',
    alert: {
      name: 'HighCPUUsage',
      fingerprint: '5cd95df9a7cd55d0',
      startsAt: '2026-11-26T09:46:08.653Z',
      labels: {},
      annotations: {},
    },
    target: { namespace: 'demo', kind: 'Deployment', name: 'api-a' },
  });
  t.is(event.id, eventId('5cd95df9a7cd55d0', '2026-11-26T09:46:08.653Z', 'scale'));
  t.is(event.type, 'dev.selfheal.action.scale');
  t.is(event.subject, subjectOf({ namespace: 'demo', kind: 'Deployment', name: 'api-a' }));
  t.is(event.subject, 'demo/Deployment/api-a');
  t.is(event.time, '2026-11-26T09:46:08.653Z');
  t.deepEqual(event.data?.params, {});
});
