// Function configuration from environment variables, validated with zod at start-up (fail fast, clear message).
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { blankToUndefined, bool, httpUrl, int, optionalString } from './env-fields.ts';
import { describeIssues, SelfhealError } from './errors.ts';
import { ACTIONS, type ActionName, isAction, namespaceName } from './events.ts';
import type { NamespaceAllowList } from './guards.ts';
import { HISTORY_MAX_ENTRIES } from './ledger.ts';
import { LOG_LEVELS } from './log.ts';
import { type LoopConfig, loadLoopConfig } from './loop-config.ts';
import type { OidcSettings } from './oidc.ts';

export const FUNCTION_NAMES = ['router', ...ACTIONS] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

export function isFunctionName(value: string): value is FunctionName {
  return (FUNCTION_NAMES as readonly string[]).includes(value);
}

// The seed rule table of DESIGN.md: which action an alert triggers when it carries no `action` label.
export const DEFAULT_ROUTES: Readonly<Record<string, ActionName>> = Object.freeze({
  HighMemoryUsage: 'restart-pod',
  PodCrashLooping: 'redeploy',
  HighErrorRate: 'restart-pod',
  PodNotReady: 'restart-pod',
  HighCPUUsage: 'scale',
});

export type Env = Record<string, string | undefined>;

// Required: a function must be told where it may act. `*` (alone) allows every namespace, on purpose.
const namespaces = z.preprocess(
  blankToUndefined,
  z
    .string({
      message: 'is required: a comma list of the namespaces the actions may touch, or * for every namespace',
    })
    .transform((list, ctx): NamespaceAllowList => {
      const entries = list
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean);
      if (entries.length === 0) {
        ctx.addIssue({
          code: 'custom',
          message: 'names no namespace: give a comma list of namespaces, or * for every namespace',
        });
        return z.NEVER;
      }
      if (entries.length === 1 && entries[0] === '*') return '*';
      if (entries.includes('*')) {
        ctx.addIssue({ code: 'custom', message: '* allows every namespace and stands alone' });
        return z.NEVER;
      }
      for (const entry of entries) {
        const valid = namespaceName.safeParse(entry);
        if (!valid.success) ctx.addIssue({ code: 'custom', message: `"${entry}" is not a namespace name` });
      }
      return entries;
    }),
);

const actionUrls = z.string().transform((list, ctx) => {
  const urls: Partial<Record<ActionName, string>> = {};
  for (const entry of list.split(',').map((e) => e.trim())) {
    if (!entry) continue;
    const eq = entry.indexOf('=');
    const name = eq < 0 ? entry : entry.slice(0, eq).trim();
    if (eq < 0 || !isAction(name)) {
      ctx.addIssue({
        code: 'custom',
        message: `"${entry}" is not <action>=<url> with an action among ${ACTIONS.join(', ')}`,
      });
      continue;
    }
    const url = entry.slice(eq + 1).trim();
    if (!httpUrl.safeParse(url).success)
      ctx.addIssue({ code: 'custom', message: `${name}: "${url}" is not an http(s) URL` });
    urls[name] = url;
  }
  const missing = ACTIONS.filter((a) => !urls[a]);
  if (missing.length > 0) ctx.addIssue({ code: 'custom', message: `no URL for ${missing.join(', ')}` });
  return urls as Record<ActionName, string>;
});

const routes = z.preprocess(
  blankToUndefined,
  z
    .string()
    .default('')
    .transform((list, ctx) => {
      const table: Record<string, ActionName> = { ...DEFAULT_ROUTES };
      for (const entry of list.split(',').map((e) => e.trim())) {
        if (!entry) continue;
        const [alertname, action] = entry.split('=').map((part) => part.trim());
        if (!alertname || action === undefined) {
          ctx.addIssue({ code: 'custom', message: `"${entry}" is not <alertname>=<action>` });
        } else if (action === 'none') {
          delete table[alertname];
        } else if (isAction(action)) {
          table[alertname] = action;
        } else {
          ctx.addIssue({
            code: 'custom',
            message: `"${entry}": unknown action "${action}" (use ${ACTIONS.join(', ')} or none)`,
          });
        }
      }
      return table;
    }),
);

const commonShape = {
  PORT: int(8080, 0, 65535),
  HOST: z.preprocess(blankToUndefined, z.string().default('0.0.0.0')),
  LOG_LEVEL: z.preprocess(blankToUndefined, z.enum(LOG_LEVELS).default('info')),
  SELFHEAL_NAMESPACES: namespaces,
  SELFHEAL_DRY_RUN: bool(false),
  SELFHEAL_MAX_BODY_BYTES: int(1_048_576, 1024, 64 * 1_048_576),
  SELFHEAL_MAX_INFLIGHT: int(8, 1, 10_000),
  SELFHEAL_ACTION_TOKEN: optionalString,
  SELFHEAL_ACTION_TOKEN_FILE: optionalString,
  SELFHEAL_ACTION_AUTH: z.preprocess(
    blankToUndefined,
    z
      .enum(['token', 'platform'], {
        message:
          'must be token (router → actions carry SELFHEAL_ACTION_TOKEN) or platform (the platform authenticates that hop)',
      })
      .default('token'),
  ),
};

const sinkShape = {
  SELFHEAL_SINK: z.enum(['direct', 'openfaas', 'knative'], {
    message: 'must be one of direct, openfaas, knative',
  }),
  SELFHEAL_ACTION_URLS: z.preprocess(blankToUndefined, actionUrls.optional()),
  SELFHEAL_OPENFAAS_GATEWAY: z.preprocess(blankToUndefined, httpUrl.optional()),
  SELFHEAL_OPENFAAS_ASYNC: bool(false),
  K_SINK: z.preprocess(blankToUndefined, httpUrl.optional()),
};
type SinkSettings = z.infer<z.ZodObject<typeof sinkShape>>;

// The sink SELFHEAL_SINK names, with the setting that sink needs (said in full when it is missing).
function sinkOf(e: SinkSettings, ctx: z.RefinementCtx): Sink {
  const missing = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  switch (e.SELFHEAL_SINK) {
    case 'direct':
      return e.SELFHEAL_ACTION_URLS
        ? { kind: 'direct', urls: e.SELFHEAL_ACTION_URLS }
        : missing(
            'SELFHEAL_ACTION_URLS is required when SELFHEAL_SINK=direct (restart-pod=URL,redeploy=URL,scale=URL)',
          );
    case 'openfaas':
      return e.SELFHEAL_OPENFAAS_GATEWAY
        ? {
            kind: 'openfaas',
            gateway: e.SELFHEAL_OPENFAAS_GATEWAY,
            ...(e.SELFHEAL_OPENFAAS_ASYNC ? { async: true as const } : {}),
          }
        : missing('SELFHEAL_OPENFAAS_GATEWAY is required when SELFHEAL_SINK=openfaas');
    case 'knative':
      return e.K_SINK
        ? { kind: 'knative', broker: e.K_SINK }
        : missing('K_SINK is required when SELFHEAL_SINK=knative (the broker URL a SinkBinding injects)');
  }
}

// The sink is checked once every setting has parsed (a bad SELFHEAL_SINK names no sink to check).
const routerEnv = z
  .object({
    ...commonShape,
    ...sinkShape,
    SELFHEAL_WEBHOOK_TOKEN: optionalString,
    SELFHEAL_WEBHOOK_TOKEN_FILE: optionalString,
    SELFHEAL_ROUTES: routes,
    SELFHEAL_DELIVERY_TIMEOUT_MS: int(10_000, 100, 600_000),
    SELFHEAL_DELIVERY_CONCURRENCY: int(4, 1, 64),
    // Below Alertmanager's notify timeout, max(group_interval, 10s): see functions/README.md.
    SELFHEAL_ANSWER_DEADLINE_MS: int(7_000, 100, 600_000),
    // A storm of 5,000 alerts is about 5.6 MB; a 413 is never retried by Alertmanager.
    SELFHEAL_MAX_BODY_BYTES: int(16 * 1_048_576, 1024, 64 * 1_048_576),
  })
  .transform((e, ctx) => ({ ...e, sink: sinkOf(e, ctx) }));

const actionEnv = z.object({
  ...commonShape,
  // An action may also verify the platform's own identity token on each delivery (Knative Eventing's OIDC).
  SELFHEAL_ACTION_AUTH: z.preprocess(
    blankToUndefined,
    z
      .enum(['token', 'platform', 'oidc'], {
        message:
          'must be token (router → actions carry SELFHEAL_ACTION_TOKEN), platform (the platform authenticates that hop) or oidc (each delivery carries a ServiceAccount token, verified with a TokenReview)',
      })
      .default('token'),
  ),
  SELFHEAL_OIDC_AUDIENCE: optionalString,
  SELFHEAL_OIDC_SUBJECTS: z.preprocess(
    blankToUndefined,
    z
      .string()
      .transform((list) =>
        list
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      )
      .pipe(
        z
          .array(
            z.string().regex(/^system:serviceaccount:[a-z0-9.-]+:[a-z0-9.-]+$/, {
              message: 'each entry must be system:serviceaccount:<namespace>:<name>',
            }),
          )
          .min(1),
      )
      .optional(),
  ),
  KUBECONFIG: optionalString,
  SELFHEAL_KUBE_TOKEN_FILE: optionalString,
  SELFHEAL_MAX_REPLICAS: int(10, 1, 10_000),
  SELFHEAL_SCALE_STEP: int(1, 1, 100),
  SELFHEAL_COOLDOWN_SECONDS: int(300, 0, 7 * 86_400),
  // At most as many as the ledger's history keeps (HISTORY_MAX_ENTRIES), so the budget never outgrows its record.
  SELFHEAL_ACTION_BUDGET: int(6, 1, HISTORY_MAX_ENTRIES),
  SELFHEAL_ACTION_WINDOW_SECONDS: int(3600, 60, 7 * 86_400),
  SELFHEAL_LEASE_SECONDS: int(60, 5, 3600),
  SELFHEAL_KUBE_TIMEOUT_MS: int(10_000, 100, 600_000),
  SELFHEAL_EVENT_TIMEOUT_MS: int(2_000, 100, 600_000),
});

export type Sink =
  | { kind: 'direct'; urls: Record<ActionName, string> }
  // async: post to /async-function/<name> (the gateway queues it and answers 202).
  | { kind: 'openfaas'; gateway: string; async?: true }
  | { kind: 'knative'; broker: string };

type CommonConfig = {
  port: number;
  host: string;
  logLevel: (typeof LOG_LEVELS)[number];
  // `*`: every namespace (only when SELFHEAL_NAMESPACES=* says so).
  namespaces: NamespaceAllowList;
  dryRun: boolean;
  maxBodyBytes: number;
  // Invocations worked on at once; more are answered 503 with Retry-After.
  maxInflight: number;
  // Bearer token between router and actions; unset only when actionAuth is 'platform'.
  actionToken: string | undefined;
  // 'platform': the platform authenticates the router → action hop (e.g. Knative), so no token is required;
  // 'oidc' (actions only): each delivery carries a ServiceAccount token the action verifies (ActionConfig.oidc).
  actionAuth: 'token' | 'platform' | 'oidc';
};

export type RouterConfig = CommonConfig & {
  fn: 'router';
  webhookToken: string;
  sink: Sink;
  routes: Record<string, ActionName>;
  deliveryTimeoutMs: number;
  deliveryConcurrency: number;
  answerDeadlineMs: number;
};

export type ActionConfig = CommonConfig & {
  fn: ActionName;
  kubeconfig: string | undefined;
  // A ServiceAccount token to act with instead of the pod's own identity (OpenFaaS CE runs every function as default).
  kubeTokenFile: string | undefined;
  maxReplicas: number;
  scaleStep: number;
  cooldownSeconds: number;
  budget: { max: number; windowSeconds: number };
  leaseSeconds: number;
  kubeTimeoutMs: number;
  // The Kubernetes Event of a decision gets at most this long, so a hung API server never doubles the answer time.
  eventTimeoutMs: number;
  // The closed loop: escalation, verification, the breaker's notification (loop-config.ts).
  loop: LoopConfig;
  // With SELFHEAL_ACTION_AUTH=oidc: the audience the tokens must be for and the identities accepted.
  oidc: OidcSettings | undefined;
};

export type FunctionConfig = RouterConfig | ActionConfig;

function fail(fn: string, problems: string[]): never {
  throw new SelfhealError('invalid', `invalid configuration of ${fn}:\n  - ${problems.join('\n  - ')}`, {
    problems,
  });
}

// A secret from VAR or from the file named by VAR_FILE (not both).
function secret(env: Env, name: string, problems: string[]): string | undefined {
  const direct = env[name]?.trim() || undefined;
  const file = env[`${name}_FILE`]?.trim() || undefined;
  if (direct && file) {
    problems.push(`${name} and ${name}_FILE are both set; set one`);
    return undefined;
  }
  if (file) {
    try {
      const value = readFileSync(file, 'utf8').trim();
      if (!value) problems.push(`${name}_FILE: ${file} is empty`);
      return value || undefined;
    } catch (err) {
      problems.push(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? err})`);
      return undefined;
    }
  }
  return direct;
}

function issuesWithNames(error: z.ZodError): string[] {
  return describeIssues(error);
}

function common(env: z.infer<typeof routerEnv> | z.infer<typeof actionEnv>, actionToken: string | undefined) {
  return {
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    namespaces: env.SELFHEAL_NAMESPACES,
    dryRun: env.SELFHEAL_DRY_RUN,
    maxBodyBytes: env.SELFHEAL_MAX_BODY_BYTES,
    maxInflight: env.SELFHEAL_MAX_INFLIGHT,
    actionToken,
    actionAuth: env.SELFHEAL_ACTION_AUTH,
  };
}

// Secure by default: the router → action hop carries a token unless SELFHEAL_ACTION_AUTH=platform says the
// platform authenticates it.
function requireActionToken(env: Env, actionToken: string | undefined, problems: string[]): void {
  if (actionToken || problems.some((p) => p.startsWith('SELFHEAL_ACTION_TOKEN'))) return;
  if (['platform', 'oidc'].includes(env.SELFHEAL_ACTION_AUTH?.trim() ?? '')) return;
  problems.push(
    'SELFHEAL_ACTION_TOKEN or SELFHEAL_ACTION_TOKEN_FILE is required (the bearer token between the router and the actions); set SELFHEAL_ACTION_AUTH=platform only where the platform authenticates that hop',
  );
}

export function loadRouterConfig(env: Env): RouterConfig {
  const parsed = routerEnv.safeParse(env);
  const problems = parsed.success ? [] : issuesWithNames(parsed.error);
  const webhookToken = secret(env, 'SELFHEAL_WEBHOOK_TOKEN', problems);
  const actionToken = secret(env, 'SELFHEAL_ACTION_TOKEN', problems);
  requireActionToken(env, actionToken, problems);
  if (!webhookToken && !problems.some((p) => p.startsWith('SELFHEAL_WEBHOOK_TOKEN'))) {
    problems.push(
      'SELFHEAL_WEBHOOK_TOKEN or SELFHEAL_WEBHOOK_TOKEN_FILE is required (the bearer token Alertmanager sends)',
    );
  }
  if (!parsed.success || problems.length > 0 || !webhookToken) fail('router', problems);
  const e = parsed.data;
  return {
    fn: 'router',
    ...common(e, actionToken),
    webhookToken,
    sink: e.sink,
    routes: e.SELFHEAL_ROUTES,
    deliveryTimeoutMs: e.SELFHEAL_DELIVERY_TIMEOUT_MS,
    deliveryConcurrency: e.SELFHEAL_DELIVERY_CONCURRENCY,
    answerDeadlineMs: e.SELFHEAL_ANSWER_DEADLINE_MS,
  };
}

export function loadActionConfig(fn: ActionName, env: Env): ActionConfig {
  const parsed = actionEnv.safeParse(env);
  const problems = parsed.success ? [] : issuesWithNames(parsed.error);
  const actionToken = secret(env, 'SELFHEAL_ACTION_TOKEN', problems);
  requireActionToken(env, actionToken, problems);
  const loop = loadLoopConfig(env, problems);
  if (parsed.success && parsed.data.SELFHEAL_ACTION_AUTH === 'oidc' && !parsed.data.SELFHEAL_OIDC_SUBJECTS) {
    problems.push(
      'SELFHEAL_OIDC_SUBJECTS is required with SELFHEAL_ACTION_AUTH=oidc: the ServiceAccounts whose tokens are accepted (system:serviceaccount:<namespace>:<name>, comma separated)',
    );
  }
  if (!parsed.success || problems.length > 0) fail(fn, problems);
  const e = parsed.data;
  return {
    fn,
    ...common(e, actionToken),
    kubeconfig: e.KUBECONFIG,
    kubeTokenFile: e.SELFHEAL_KUBE_TOKEN_FILE,
    maxReplicas: e.SELFHEAL_MAX_REPLICAS,
    scaleStep: e.SELFHEAL_SCALE_STEP,
    cooldownSeconds: e.SELFHEAL_COOLDOWN_SECONDS,
    budget: { max: e.SELFHEAL_ACTION_BUDGET, windowSeconds: e.SELFHEAL_ACTION_WINDOW_SECONDS },
    leaseSeconds: e.SELFHEAL_LEASE_SECONDS,
    kubeTimeoutMs: e.SELFHEAL_KUBE_TIMEOUT_MS,
    eventTimeoutMs: Math.min(e.SELFHEAL_EVENT_TIMEOUT_MS, e.SELFHEAL_KUBE_TIMEOUT_MS),
    loop,
    oidc:
      e.SELFHEAL_ACTION_AUTH === 'oidc' && e.SELFHEAL_OIDC_SUBJECTS
        ? { audience: e.SELFHEAL_OIDC_AUDIENCE ?? `selfheal/${fn}`, subjects: e.SELFHEAL_OIDC_SUBJECTS }
        : undefined,
  };
}

export function loadConfig(fn: FunctionName, env: Env): FunctionConfig {
  return fn === 'router' ? loadRouterConfig(env) : loadActionConfig(fn, env);
}
