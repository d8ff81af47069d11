// The production delivery path for the live checks: Alertmanager with the production routing (fast profile timings)
// → the router, run as its container runs it → the three actions with their own ServiceAccounts; each hop behind a
// recording proxy, so a check sees every webhook and every CloudEvent with its answer.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { type RunningAlertmanager, startAlertmanager } from '../../devkit/alertmanager.ts';
import type { ActionLogic } from '../../functions/lib/decision.ts';
import { ACTIONS, type ActionName } from '../../functions/lib/events.ts';
import { redeploy } from '../../functions/redeploy/redeploy.ts';
import { restartPod } from '../../functions/restart-pod/restart-pod.ts';
import { scale } from '../../functions/scale/scale.ts';
import { startAction } from '../../functions/test-helpers.ts';
import { testCluster } from '../../test/helpers/cluster.ts';
import { eventually } from '../../test/helpers/wait.ts';
import { renderStack } from '../profile.ts';
import { type Fault, type RecordingProxy, startRecordingProxy } from './recording-proxy.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const LOGIC: Record<ActionName, ActionLogic> = { 'restart-pod': restartPod, redeploy, scale };

export interface DeliveryPath {
  alertmanager: RunningAlertmanager;
  /** What Alertmanager sent to the router, with the router's answers. */
  webhooks: RecordingProxy;
  /** What the router sent to each action, with the action's answers. */
  actions: Record<ActionName, RecordingProxy>;
  webhookToken: string;
}

export interface DeliveryPathOptions {
  /** The Alertmanager binary. */
  alertmanager: string;
  /** The namespace the actions may touch (their RBAC must be applied there) and where their ServiceAccounts live. */
  namespace: string;
  /** Faults the proxy in front of an action injects, request by request. */
  actionFaults?: Partial<Record<ActionName, Fault[]>>;
}

/** Starts the router with `functions/run.ts router` on 127.0.0.1 and resolves with the URL it prints. */
async function startRouterProcess(t: ExecutionContext, env: Record<string, string>): Promise<string> {
  const cluster = await testCluster();
  const router = await cluster.startProcess(
    `router-${randomBytes(3).toString('hex')}`,
    process.execPath,
    ['functions/run.ts', 'router', '--port', '0', '--host', '127.0.0.1'],
    { cwd: ROOT, env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env } },
  );
  t.teardown(() => router.stop());
  return eventually(
    'the router to print its URL',
    async () => {
      if (!router.running) throw new Error(`the router exited:\n${router.logTail()}`);
      return /listening on (http:\/\/\S+)/.exec(await readFile(router.logPath, 'utf8'))?.[1];
    },
    { timeoutMs: 30_000 },
  );
}

/** The router and the three actions, each behind a recording proxy, sharing the tokens a cluster's Secrets hold. */
export interface FunctionsPath {
  /** The router's address (no proxy in front: each Alertmanager gets its own). */
  routerUrl: string;
  /** What the router sent to each action, with the action's answers. */
  actions: Record<ActionName, RecordingProxy>;
  webhookToken: string;
  /** The file holding the webhook token, for Alertmanager's credentials_file. */
  tokenFile: string;
  /** A scratch folder removed when the test ends. */
  dir: string;
}

/** Starts the router and the actions for `namespace`; everything is stopped when the test ends. */
export async function startFunctionsPath(
  t: ExecutionContext,
  options: Pick<DeliveryPathOptions, 'namespace' | 'actionFaults'> & { cooldownSeconds?: number },
): Promise<FunctionsPath> {
  const { namespace } = options;
  const dir = await mkdtemp(join(tmpdir(), 'selfheal-live-am-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Alertmanager and the router read the same token file, as both mount the same Secret in a cluster.
  const webhookToken = randomBytes(24).toString('base64url');
  const tokenFile = join(dir, 'webhook-token');
  await writeFile(tokenFile, webhookToken, { mode: 0o600 });
  const actionToken = randomBytes(24).toString('base64url');

  const actions = {} as Record<ActionName, RecordingProxy>;
  for (const action of ACTIONS) {
    const url = await startAction(t, action, LOGIC[action], namespace, {
      env: {
        SELFHEAL_ACTION_TOKEN: actionToken,
        ...(options.cooldownSeconds !== undefined
          ? { SELFHEAL_COOLDOWN_SECONDS: String(options.cooldownSeconds) }
          : {}),
      },
    });
    const proxy = await startRecordingProxy(url, options.actionFaults?.[action]);
    t.teardown(() => proxy.close());
    actions[action] = proxy;
  }
  const routerUrl = await startRouterProcess(t, {
    SELFHEAL_SINK: 'direct',
    SELFHEAL_ACTION_URLS: ACTIONS.map((action) => `${action}=${actions[action].url}/`).join(','),
    SELFHEAL_WEBHOOK_TOKEN_FILE: tokenFile,
    SELFHEAL_ACTION_TOKEN: actionToken,
    SELFHEAL_NAMESPACES: namespace,
  });
  return { routerUrl, actions, webhookToken, tokenFile, dir };
}

/** Everything is stopped when the test ends. */
export async function startDeliveryPath(
  t: ExecutionContext,
  options: DeliveryPathOptions,
): Promise<DeliveryPath> {
  const { routerUrl, actions, webhookToken, tokenFile, dir } = await startFunctionsPath(t, options);
  const webhooks = await startRecordingProxy(routerUrl);
  t.teardown(() => webhooks.close());

  const rendered = await renderStack({
    profile: 'fast',
    outDir: dir,
    router: { url: `${webhooks.url}/`, tokenFile },
  });
  const config = await readFile(rendered.alertmanagerConfig, 'utf8');
  const alertmanager = await startAlertmanager(options.alertmanager, () => config);
  t.teardown(() => alertmanager.stop());
  return { alertmanager, webhooks, actions, webhookToken };
}
