// Test support for Knative Eventing run for real: a control plane of its own with Eventing installed from its module
// (playground/knative), the Knative overlay applied to it, taps that record every request reaching a subscriber (and
// pass it on to the real function, or answer it themselves), and the readiness of Knative objects.
import { createServer, type IncomingHttpHeaders, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { ExecutionContext } from 'ava';
import { loadRouterConfig } from '../../functions/lib/config.ts';
import { createLogger } from '../../functions/lib/log.ts';
import { startFunction } from '../../functions/lib/runtime.ts';
import { redeploy } from '../../functions/redeploy/redeploy.ts';
import { restartPod } from '../../functions/restart-pod/restart-pod.ts';
import { routerFunction } from '../../functions/router/index.ts';
import { scale } from '../../functions/scale/scale.ts';
import { postWebhook, startAction, type WebhookAlert } from '../../functions/test-helpers.ts';

export type { WebhookAlert };

import type { ControlPlane } from '../../devkit/control-plane.ts';
import { startControlPlane } from '../../devkit/control-plane.ts';
import { type K8sObject, render } from '../../manifests/render.ts';
import type { Endpoint } from '../../playground/knative/cluster-dns.ts';
import { applyObjects, type Eventing, startEventing } from '../../playground/knative/eventing.ts';
import { publishService, SERVING } from '../../playground/knative/serving.ts';
import { eventually } from '../helpers/wait.ts';

export type KnativeEnv = { cluster: ControlPlane; eventing: Eventing; kc: KubeConfig; stop(): Promise<void> };

/** A control plane of its own (Eventing is cluster-wide: CRDs, webhooks) with Knative Eventing running. */
export async function startKnativeEnv(): Promise<KnativeEnv> {
  const cluster = await startControlPlane();
  try {
    const eventing = await startEventing(cluster);
    return {
      cluster,
      eventing,
      kc: cluster.kubeConfig(),
      stop: async () => {
        await eventing.stop();
        await cluster.stop();
      },
    };
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job']);

/**
 * The Knative overlay as a user applies it, without the monitoring stack's workloads (no node here runs them): its
 * namespaces, identities and roles, network policies, Knative Services, Broker and Triggers.
 */
export async function overlayObjects(tree = 'overlays/knative'): Promise<K8sObject[]> {
  return (await render(tree)).filter((o) => !WORKLOADS.has(o.kind));
}

export async function applyOverlay(cluster: ControlPlane, objects: K8sObject[]): Promise<void> {
  // Namespaces first; the rest in the order kustomize renders.
  const rank = (o: K8sObject) => (o.kind === 'Namespace' ? 0 : 1);
  await applyObjects(
    cluster,
    [...objects].sort((a, b) => rank(a) - rank(b)),
  );
}

type Condition = { type: string; status: string; reason?: string; message?: string };

/**
 * Waits until the Broker's in-memory channel dispatches to every subscription it has: a Trigger is Ready a moment
 * before the dispatcher has loaded its subscription, and an event the channel takes meanwhile reaches nobody.
 */
export async function waitForDispatch(kc: KubeConfig, namespace: string, broker: string): Promise<void> {
  await eventually(`the channel of Broker ${namespace}/${broker} dispatching to every Trigger`, async () => {
    const channel = (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
      group: 'messaging.knative.dev',
      version: 'v1',
      plural: 'inmemorychannels',
      namespace,
      name: `${broker}-kne-trigger`,
    })) as {
      spec?: { subscribers?: { uid: string; generation?: number }[] };
      status?: { subscribers?: { uid: string; ready: string; observedGeneration?: number }[] };
    };
    const wanted = channel.spec?.subscribers ?? [];
    const ready = channel.status?.subscribers ?? [];
    return (
      wanted.length > 0 &&
      wanted.every((w) =>
        ready.some(
          (r) => r.uid === w.uid && r.ready === 'True' && (r.observedGeneration ?? 0) >= (w.generation ?? 0),
        ),
      )
    );
  });
}
export type KnativeObject = {
  metadata?: { name?: string; generation?: number };
  spec?: Record<string, unknown>;
  status?: {
    conditions?: Condition[];
    address?: { url?: string };
    subscriberUri?: string;
    deadLetterSinkUri?: string;
    observedGeneration?: number;
  };
};

export async function readKnative(
  kc: KubeConfig,
  kind: 'brokers' | 'triggers' | 'sinkbindings',
  namespace: string,
  name: string,
): Promise<KnativeObject> {
  const group = kind === 'sinkbindings' ? 'sources.knative.dev' : 'eventing.knative.dev';
  return (await kc
    .makeApiClient(CustomObjectsApi)
    .getNamespacedCustomObject({ group, version: 'v1', plural: kind, namespace, name })) as KnativeObject;
}

/** Waits for a Knative object's Ready condition; on timeout, says which conditions are not met. */
export async function waitForReady(
  kc: KubeConfig,
  kind: 'brokers' | 'triggers' | 'sinkbindings',
  namespace: string,
  name: string,
  timeoutMs = 60_000,
): Promise<KnativeObject> {
  let last: KnativeObject | undefined;
  try {
    return await eventually(
      `${kind} ${namespace}/${name} Ready`,
      async () => {
        last = await readKnative(kc, kind, namespace, name);
        const ready = last.status?.conditions?.find((c) => c.type === 'Ready');
        return ready?.status === 'True' && last;
      },
      { timeoutMs, intervalMs: 250 },
    );
  } catch (err) {
    const conditions = (last?.status?.conditions ?? [])
      .filter((c) => c.status !== 'True')
      .map((c) => `${c.type}=${c.status} ${c.reason ?? ''} ${c.message ?? ''}`)
      .join('; ');
    throw new Error(`${(err as Error).message}; not ready: ${conditions}`);
  }
}

export type Received = {
  type: string;
  id: string;
  source: string;
  /** The CloudEvent's subject: `<namespace>/<kind>/<name>` of what the event is about. */
  subject: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** What the tap answered (its own status, or the function's). */
  status: number;
  /** The CloudEvent type of the answer, when it was one (a reply). */
  replyType: string | undefined;
  /** The answer's body. */
  answer: string;
  at: number;
};

export type Tap = {
  endpoint: Endpoint;
  /** The requests about the tap's workloads (all of them when it was given none). */
  received: Received[];
  /** The requests about anything else: retries the platform still delivers for an earlier test's events. */
  others: Received[];
  /** Received events of a type. */
  of(type: string): Received[];
  /** Waits until `count` requests have been answered (the Broker delivers after answering its sender). */
  answered(count: number): Promise<Received[]>;
  close(): Promise<void>;
};

/** Whether an event's subject is one of these workloads (in the demo namespace) or one of their pods. */
export function aboutWorkloads(workloads: readonly string[]): (subject: string) => boolean {
  return (subject) =>
    workloads.some((w) => subject === `${DEMO}/Deployment/${w}` || subject.startsWith(`${DEMO}/Pod/${w}-`));
}

// The subject of a request: its ce-subject header (binary mode), else the structured event's own.
function subjectOf(header: string | undefined, body: string): string {
  if (header !== undefined) return header;
  try {
    const subject = (JSON.parse(body) as { subject?: unknown }).subject;
    return typeof subject === 'string' ? subject : '';
  } catch {
    return '';
  }
}

/**
 * An HTTP server on 127.0.0.1 that records every CloudEvent reaching it: it passes each one on to `forward` (a
 * function's URL) and records the answer, or answers `status` itself. With `about`, only the events about what it
 * accepts are `received`; the rest (a Broker still retrying an earlier test's event to the same Service) are
 * answered alike and kept apart in `others`.
 */
export async function startTap(
  options: { forward?: string; status?: number; about?: (subject: string) => boolean } = {},
): Promise<Tap> {
  const received: Received[] = [];
  const others: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const header = (name: string) => {
        const v = req.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      const entry: Received = {
        type: header('ce-type') ?? '',
        id: header('ce-id') ?? '',
        source: header('ce-source') ?? '',
        subject: subjectOf(header('ce-subject'), body),
        headers: req.headers,
        body,
        status: 0,
        replyType: undefined,
        answer: '',
        at: Date.now(),
      };
      (!options.about || options.about(entry.subject) ? received : others).push(entry);
      if (!options.forward) {
        entry.status = options.status ?? 202;
        res.writeHead(entry.status).end();
        return;
      }
      const target = new URL(options.forward);
      const upstream = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: target.pathname,
          headers: { ...req.headers, host: target.host },
        },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (c: Buffer) => parts.push(c));
          answer.on('end', () => {
            entry.answer = Buffer.concat(parts).toString('utf8');
            entry.status = answer.statusCode ?? 0;
            const ceType = answer.headers['ce-type'];
            entry.replyType = Array.isArray(ceType) ? ceType[0] : ceType;
            if (!entry.replyType && /cloudevents\+json/.test(answer.headers['content-type'] ?? '')) {
              try {
                entry.replyType = (
                  JSON.parse(Buffer.concat(parts).toString('utf8')) as { type?: string }
                ).type;
              } catch {
                entry.replyType = undefined;
              }
            }
            res.writeHead(answer.statusCode ?? 502, answer.headers).end(Buffer.concat(parts));
          });
        },
      );
      upstream.on('error', (err) => {
        entry.status = 502;
        res.writeHead(502).end(err.message);
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: { host: '127.0.0.1', port },
    received,
    others,
    of: (type) => received.filter((r) => r.type === type),
    answered: (count) =>
      eventually(`${count} answered deliveries`, () => {
        const done = received.filter((r) => r.status !== 0);
        return done.length >= count && done;
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The Knative overlay's namespaces and the Broker's address as Knative publishes it. */
export const NS = 'selfheal';
export const DEMO = 'demo';
export const BROKER_ADDRESS = 'http://broker-ingress.knative-eventing.svc.cluster.local/selfheal/selfheal';

export const ACTIONS = { 'restart-pod': restartPod, redeploy, scale } as const;
export type Action = keyof typeof ACTIONS;

/**
 * The three actions, each with its own ServiceAccount and a tap in front, published as their Knative Services so the
 * Triggers deliver to them. Their taps receive the events about `workloads` (the test's own).
 */
export async function startActions(
  t: ExecutionContext,
  env: KnativeEnv,
  workloads: readonly string[],
  extraEnv: Record<string, string> = {},
): Promise<Record<Action, Tap>> {
  const taps = {} as Record<Action, Tap>;
  for (const [name, logic] of Object.entries(ACTIONS) as [Action, (typeof ACTIONS)[Action]][]) {
    const token = await env.cluster.mintToken(NS, name);
    const url = await startAction(t, name, logic, DEMO, {
      kubeConfig: env.cluster.kubeConfigForToken(token, NS),
      env: { SELFHEAL_NAMESPACES: DEMO, ...extraEnv },
    });
    const tap = await startTap({ forward: url, about: aboutWorkloads(workloads) });
    t.teardown(() => tap.close());
    await publishService(env.kc, env.eventing.dns, NS, name, tap.endpoint);
    taps[name] = tap;
  }
  return taps;
}

/** The K_SINK the overlay's SinkBinding wrote into the router's Knative Service, once it has. */
export async function boundSink(kc: KubeConfig): Promise<string> {
  return eventually('K_SINK bound into the router Service', async () => {
    const service = (await kc
      .makeApiClient(CustomObjectsApi)
      .getNamespacedCustomObject({ ...SERVING, namespace: NS, name: 'router' })) as {
      spec?: { template?: { spec?: { containers?: { env?: { name: string; value?: string }[] }[] } } };
    };
    return service.spec?.template?.spec?.containers?.[0]?.env?.find((e) => e.name === 'K_SINK')?.value;
  });
}

/**
 * The router with SELFHEAL_SINK=knative and the K_SINK the SinkBinding bound into its Service, posting to the Broker
 * (reached through the cluster-DNS stand-in).
 */
export async function startRouter(t: ExecutionContext, env: KnativeEnv, token: string): Promise<string> {
  const config = loadRouterConfig({
    SELFHEAL_WEBHOOK_TOKEN: token,
    SELFHEAL_SINK: 'knative',
    K_SINK: env.eventing.localUrl(await boundSink(env.kc)),
    SELFHEAL_NAMESPACES: DEMO,
    SELFHEAL_ACTION_AUTH: 'platform',
  });
  const log = createLogger('router', 'silent');
  const mod = routerFunction({ config: () => config, log });
  const running = await startFunction(mod, {
    name: 'router',
    host: '127.0.0.1',
    port: 0,
    bodyLimit: config.maxBodyBytes,
    log,
  });
  t.teardown(() => running.close());
  return running.url;
}

/** Posts an Alertmanager webhook of alerts in the demo namespace. */
export function notify(
  routerUrl: string,
  token: string,
  alerts: WebhookAlert[],
  status: 'firing' | 'resolved' = 'firing',
) {
  return postWebhook(
    routerUrl,
    token,
    alerts.map((a) => ({ ...a, labels: { namespace: DEMO, ...a.labels } })),
    status,
  );
}
