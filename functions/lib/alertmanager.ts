// The Alertmanager webhook payload (version 4, Alertmanager 0.25 to current): tolerant of fields upstream adds,
// strict about the ones selfheal acts on (status, labels, startsAt, fingerprint).
import { z } from 'zod';
import { invalid } from './errors.ts';

const labelSet = z.record(z.string(), z.string());

// Alertmanager writes RFC 3339 times with up to nanosecond precision and, for firing alerts, the zero time
// `0001-01-01T00:00:00Z` as endsAt.
const timestamp = z.iso.datetime({ offset: true, message: 'must be an RFC 3339 timestamp' });

export const alertSchema = z.looseObject({
  status: z.enum(['firing', 'resolved']),
  labels: labelSet,
  annotations: labelSet.default({}),
  startsAt: timestamp,
  endsAt: z.string().optional(),
  generatorURL: z.string().optional(),
  fingerprint: z
    .string()
    .regex(/^[0-9a-f]{1,16}$/, 'must be the hexadecimal fingerprint Alertmanager computes'),
});

// The payload's format, not Alertmanager's release: "4" from 0.x on. Another would be a format this schema was not
// written for.
export const WEBHOOK_VERSION = '4';

export const webhookSchema = z.looseObject({
  version: z.literal(WEBHOOK_VERSION, {
    error: (issue) =>
      `must be "${WEBHOOK_VERSION}", the webhook format selfheal reads${issue.input === undefined ? '' : `, not ${JSON.stringify(issue.input)}`}`,
  }),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupKey: z.string().optional(),
  truncatedAlerts: z.number().int().nonnegative().default(0),
  groupLabels: labelSet.default({}),
  commonLabels: labelSet.default({}),
  commonAnnotations: labelSet.default({}),
  externalURL: z.string().optional(),
  alerts: z.array(alertSchema),
});

export type Alert = z.infer<typeof alertSchema>;
export type Webhook = z.infer<typeof webhookSchema>;

// Parses a webhook body, throwing a 400 SelfhealError that lists every problem.
export function parseWebhook(body: unknown): Webhook {
  const result = webhookSchema.safeParse(body);
  if (!result.success) throw invalid('Alertmanager webhook', result.error);
  return result.data;
}
