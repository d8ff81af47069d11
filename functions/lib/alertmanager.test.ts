// The webhook schema against real payloads captured from Alertmanager (0.25 and current), and bad ones.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { parseWebhook } from './alertmanager.ts';
import { SelfhealError } from './errors.ts';

const fixtures = join(import.meta.dirname, 'fixtures');
const versions = readdirSync(fixtures).filter((d) => /^alertmanager-\d/.test(d));
const payload = (version: string, name: string) =>
  JSON.parse(readFileSync(join(fixtures, version, `${name}.json`), 'utf8')) as Record<string, unknown>;

test('fixtures exist for Alertmanager 0.25 and a current version', (t) => {
  t.true(versions.includes('alertmanager-0.25.0'));
  t.true(versions.some((v) => v !== 'alertmanager-0.25.0'));
});

for (const version of versions) {
  for (const file of readdirSync(join(fixtures, version)).filter(
    (f) => f.endsWith('.json') && !f.includes('.headers'),
  )) {
    const name = file.replace(/\.json$/, '');
    test(`${version}/${name} parses and keeps the fields acted on`, (t) => {
      const raw = payload(version, name);
      const webhook = parseWebhook(raw);
      t.is(webhook.version, '4');
      t.is(webhook.alerts.length, (raw.alerts as unknown[]).length);
      for (const [i, alert] of webhook.alerts.entries()) {
        const source = (
          raw.alerts as Array<{ fingerprint: string; startsAt: string; status: string; labels: unknown }>
        )[i];
        t.is<string | undefined, string | undefined>(alert.fingerprint, source?.fingerprint);
        t.is<string | undefined, string | undefined>(alert.startsAt, source?.startsAt);
        t.deepEqual(alert.labels, source?.labels);
        t.is<string | undefined, string | undefined>(alert.status, source?.status);
      }
    });
  }
}

test('the truncated payload counts the alerts left out', (t) => {
  for (const version of versions) {
    const webhook = parseWebhook(payload(version, 'truncated'));
    t.true(webhook.truncatedAlerts > 0, version);
  }
});

test('firing alerts carry the zero endsAt and are accepted', (t) => {
  const webhook = parseWebhook(payload(versions[0] as string, 'firing'));
  t.is(webhook.alerts[0]?.endsAt, '0001-01-01T00:00:00Z');
});

test('fields Alertmanager adds later are tolerated and kept', (t) => {
  const raw = payload(versions[0] as string, 'firing');
  const alerts = raw.alerts as Array<Record<string, unknown>>;
  const newer = {
    ...raw,
    notification_reason: 'repeat',
    routeLabels: { receiver: 'selfheal' },
    alerts: alerts.map((a) => ({ ...a, generatorURL: '', someFutureField: { x: 1 } })),
  };
  const webhook = parseWebhook(newer) as Record<string, unknown>;
  t.is(webhook.notification_reason, 'repeat');
});

const broken: Array<[string, (raw: Record<string, unknown>) => void, RegExp]> = [
  [
    'a bad alert status',
    (r) => (((r.alerts as Array<Record<string, unknown>>)[0] as Record<string, unknown>).status = 'pending'),
    /alerts\.0\.status/,
  ],
  [
    'a startsAt that is no timestamp',
    (r) =>
      (((r.alerts as Array<Record<string, unknown>>)[0] as Record<string, unknown>).startsAt = 'yesterday'),
    /alerts\.0\.startsAt/,
  ],
  [
    'a fingerprint that is not hexadecimal',
    (r) => (((r.alerts as Array<Record<string, unknown>>)[0] as Record<string, unknown>).fingerprint = 'zz'),
    /alerts\.0\.fingerprint/,
  ],
  [
    'labels that are not strings',
    (r) =>
      (((r.alerts as Array<Record<string, unknown>>)[0] as Record<string, unknown>).labels = {
        alertname: 5,
      }),
    /alerts\.0\.labels\.alertname/,
  ],
  ['no alerts list', (r) => delete r.alerts, /alerts/],
  ['a webhook format other than version 4', (r) => (r.version = '5'), /^version: must be "4"/],
  ['no webhook version', (r) => delete r.version, /^version: must be "4"/],
];
for (const [what, breakIt, problem] of broken) {
  test(`rejects ${what} with a 400 naming the field`, (t) => {
    const raw = structuredClone(payload(versions[0] as string, 'firing'));
    breakIt(raw);
    const error = t.throws(() => parseWebhook(raw), { instanceOf: SelfhealError });
    t.is(error?.code, 400);
    t.true(
      error?.problems.some((p) => problem.test(p)),
      error?.problems.join('\n'),
    );
  });
}
