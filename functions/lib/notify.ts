// Telling a human that selfheal stopped acting on a workload: an alert posted to Alertmanager's API
// (SelfhealEscalation, so a team's existing routing pages them) and/or a Slack-compatible webhook message.
import type { Breaker } from './breaker.ts';
import type { LoopConfig } from './loop-config.ts';

export const ESCALATION_ALERTNAME = 'SelfhealEscalation';

export type EscalationSubject = {
  kind: string;
  namespace: string;
  name: string;
  breaker: Breaker;
  clearCommand: string;
};

function summary(s: EscalationSubject): string {
  const taken = s.breaker.steps.map((step) => step.action).join(' → ') || 'no action';
  const why =
    s.breaker.reason === 'budget-exhausted'
      ? 'it needs more actions than its budget allows'
      : `the escalation chain is spent (${taken})`;
  return `selfheal stopped acting on ${s.kind} ${s.namespace}/${s.name} for ${s.breaker.alertname}: ${why}`;
}

function history(s: EscalationSubject): string[] {
  return s.breaker.steps.map((step) => `${step.at} ${step.action} (${step.result})`);
}

// One Alertmanager API v2 alert. No `action` label: it must never be routed back to selfheal. It ends `holdSeconds`
// after each post; every later alert the breaker holds back posts it again, so it fires while the problem does.
export function escalationAlert(s: EscalationSubject, now: Date, holdSeconds: number) {
  const kindLabel = s.kind.toLowerCase();
  return {
    labels: {
      alertname: ESCALATION_ALERTNAME,
      severity: 'critical',
      namespace: s.namespace,
      [kindLabel]: s.name,
      workload: `${s.kind}/${s.name}`,
      source_alertname: s.breaker.alertname,
      reason: s.breaker.reason,
    },
    annotations: {
      summary: summary(s),
      description: [s.breaker.message, ...history(s)].join('\n'),
      clear_command: s.clearCommand,
    },
    startsAt: s.breaker.openedAt || now.toISOString(),
    endsAt: new Date(now.getTime() + holdSeconds * 1000).toISOString(),
  };
}

// A message any Slack-compatible incoming webhook takes (Slack, Mattermost, Rocket.Chat, Teams connectors via a
// bridge): `text` with the same facts as the alert.
export function webhookMessage(s: EscalationSubject): { text: string } {
  return {
    text: [
      `:rotating_light: *${summary(s)}*`,
      s.breaker.message,
      ...history(s).map((line) => `• ${line}`),
      `When it is fixed, re-arm selfheal: \`${s.clearCommand}\``,
    ].join('\n'),
  };
}

export type Channel = 'alertmanager' | 'webhook';
export type Delivery = { channel: Channel; ok: boolean; detail: string };

async function post(url: string, body: unknown, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = (await res.text()).slice(0, 200);
    return { ok: res.ok, detail: `${res.status}${text ? ` ${text}` : ''}` };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}

// The channels configured, of those asked for.
export function channels(loop: LoopConfig): Channel[] {
  return [
    ...(loop.alertmanagerUrl ? (['alertmanager'] as const) : []),
    ...(loop.webhookUrl ? (['webhook'] as const) : []),
  ];
}

// Posts to each channel in `which` (Alertmanager's /api/v2/alerts, the webhook), each within the timeout.
export async function notify(
  loop: LoopConfig,
  subject: EscalationSubject,
  which: readonly Channel[],
  now: Date,
): Promise<Delivery[]> {
  const sends = which.map(async (channel): Promise<Delivery> => {
    if (channel === 'alertmanager' && loop.alertmanagerUrl) {
      const url = `${loop.alertmanagerUrl.replace(/\/+$/, '')}/api/v2/alerts`;
      const body = [escalationAlert(subject, now, loop.holdSeconds)];
      return { channel, ...(await post(url, body, loop.notifyTimeoutMs)) };
    }
    if (channel === 'webhook' && loop.webhookUrl) {
      return { channel, ...(await post(loop.webhookUrl, webhookMessage(subject), loop.notifyTimeoutMs)) };
    }
    return { channel, ok: false, detail: 'not configured' };
  });
  return Promise.all(sends);
}
