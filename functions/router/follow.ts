// Delivering one planned event and following the escalation chain: when an action answers with the next step's
// event (a structured CloudEvent of type dev.selfheal.action.<next>), the router delivers that to <next>, and so
// on, a bounded number of hops. (On Knative the Broker routes those replies itself; its 202 carries none.)
import type { CloudEvent } from 'cloudevents';
import type { RouterConfig } from '../lib/config.ts';
import { type ActionName, actionFromEventType } from '../lib/events.ts';
import type { HttpResponse, OutgoingMessage } from '../lib/http.ts';
import { classify, classifyError, type Delivery, type Post, sinkUrl, toMessage } from './deliver.ts';

// restart-pod → redeploy → scale → notify: three hops at most; one more for slack.
export const MAX_HOPS = 4;

export type Hop = { action: ActionName; eventId: string };

// The next step an action handed on in its answer, if it did.
export function escalationIn(response: HttpResponse): { action: ActionName; eventId: string } | undefined {
  if (!/cloudevents\+json/i.test(response.contentType ?? '')) return undefined;
  try {
    const event = JSON.parse(response.body) as { type?: unknown; id?: unknown };
    const action = typeof event.type === 'string' ? actionFromEventType(event.type) : undefined;
    return action && typeof event.id === 'string' ? { action, eventId: event.id } : undefined;
  } catch {
    return undefined;
  }
}

// `signal` (the router's answer deadline) abandons the chain where it is: the retry sends the first event again, and
// each action, deciding again from the episode it recorded, hands on the same next event (same id).
export async function deliverFollowing(
  post: Post,
  config: RouterConfig,
  first: { action: ActionName; event: CloudEvent<unknown> },
  signal?: AbortSignal,
): Promise<{ delivery: Delivery; hops: Hop[] }> {
  const hops: Hop[] = [];
  let action = first.action;
  let message: OutgoingMessage = toMessage(first.event, config.actionToken);
  for (let hop = 0; ; hop++) {
    let response: HttpResponse;
    try {
      response = await post(sinkUrl(config.sink, action), message, config.deliveryTimeoutMs, signal);
    } catch (err) {
      return { delivery: classifyError(err, config.deliveryTimeoutMs), hops };
    }
    const delivery = classify(response);
    const next = delivery.outcome === 'accepted' ? escalationIn(response) : undefined;
    if (!next) return { delivery, hops };
    if (hop === MAX_HOPS) {
      // A chain longer than any configurable one is a fault, not something a retry fixes.
      return {
        delivery: {
          outcome: 'rejected',
          status: 508,
          reason: 'too-many-hops',
          message: `the escalation chain went on for more than ${MAX_HOPS} hops (${[first.action, ...hops.map((h) => h.action)].join(' → ')}); ${next.action} (${next.eventId}) was not delivered`,
        },
        hops,
      };
    }
    hops.push(next);
    action = next.action;
    const headers: Record<string, string> = { 'content-type': 'application/cloudevents+json; charset=utf-8' };
    if (config.actionToken) headers.authorization = `Bearer ${config.actionToken}`;
    message = { headers, body: response.body };
  }
}
