// stack.yml as OpenFaaS Community Edition runs it, against the real API server and under the node agent: the
// Deployments and Services faas-netes CE creates (manifests/faas-netes-ce.ts) become Ready under CE's probes, HTTP
// and exec; the pods run as `default`, which may do nothing the actions do, while each action's mounted token may do
// exactly the verbs of its ClusterRole (manifests/base/rbac), as the real authoriser says.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AppsV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  type V1Deployment,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import { parseAllDocuments } from 'yaml';
import { readStack } from '../../manifests/openfaas-functions.ts';
import { render } from '../../manifests/render.ts';
import { testCluster, useNamespace } from '../../test/helpers/cluster.ts';
import { eventually } from '../../test/helpers/wait.ts';
import { startTestAgent, type TestAgent } from '../agent/test-support.ts';
import {
  ACTION_SECRET,
  ceFunctions,
  faasCliSecret,
  functionRbac,
  readSecrets,
  stackSecrets,
  WEBHOOK_SECRET,
} from './deploy.ts';
import { functionImages, imagesDir } from './images.ts';

const ACTIONS = ['restart-pod', 'redeploy', 'scale'] as const;
const FUNCTIONS = ['router', ...ACTIONS] as const;

const workDir = mkdtempSync(join(tmpdir(), 'selfheal-openfaas-ce-'));
const rootDir = join(workDir, 'node');
const bundles = imagesDir();
let agentStarted: Promise<TestAgent> | undefined;
const sharedAgent = () => {
  agentStarted ??= (async () => {
    const images = await functionImages(bundles);
    return startTestAgent(await testCluster(), { images, rootDir });
  })();
  return agentStarted;
};
test.after.always(async () => {
  if (agentStarted) await (await agentStarted).stop();
  rmSync(workDir, { recursive: true, force: true });
  rmSync(bundles, { recursive: true, force: true });
});

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
type Operation = { group: string; resource: string; verb: string };
const key = (o: Operation) => `${o.group}/${o.resource}:${o.verb}`;

/** Each action's ClusterRole rules, as manifests/base/rbac grants them. */
function actionRoles(): Map<string, Operation[]> {
  const text = readFileSync(new URL('../../manifests/base/rbac/clusterroles.yaml', import.meta.url), 'utf8');
  const roles = new Map<string, Operation[]>();
  for (const doc of parseAllDocuments(text)) {
    const role = doc.toJS() as { metadata: { labels: Record<string, string> }; rules: Rule[] };
    const operations = role.rules.flatMap((rule) =>
      rule.apiGroups.flatMap((group) =>
        rule.resources.flatMap((resource) => rule.verbs.map((verb) => ({ group, resource, verb }))),
      ),
    );
    roles.set(role.metadata.labels['selfheal.dev/function'] ?? '', operations);
  }
  return roles;
}

/** The last lines each container wrote, from the agent's log files. */
function containerLogs(): string {
  const out: string[] = [];
  for (const file of readdirSync(join(rootDir, 'pods'), { recursive: true }) as string[]) {
    if (!file.endsWith('.log')) continue;
    const lines = readFileSync(join(rootDir, 'pods', file), 'utf8')
      .trim()
      .split('\n')
      .slice(-5);
    out.push(`${file}:\n  ${lines.join('\n  ')}`);
  }
  return out.slice(-8).join('\n');
}

const describePod = (p: V1Pod) =>
  `${p.metadata?.name} ${p.status?.phase} ${JSON.stringify(p.status?.containerStatuses?.map((c) => ({ ready: c.ready, restarts: c.restartCount, state: c.state })))}`;

type Deployed = {
  fnNs: string;
  allowedNs: string;
  kc: KubeConfig;
  pods: Map<string, V1Pod>;
  deployments: V1Deployment[];
};

/**
 * What the README's steps do on CE, in fresh namespaces standing for openfaas-fn and demo: the overlay's function
 * RBAC and token Secrets, the two faas-cli secrets, then `faas-cli deploy` (faas-netes reading the Secrets as they
 * exist). Only the placement on this test's node is added to the pods.
 */
async function deployCe(t: ExecutionContext, httpProbe: boolean): Promise<Deployed> {
  const [agent, fn, allowed] = await Promise.all([
    sharedAgent(),
    useNamespace(t, 'openfaas-fn'),
    useNamespace(t, 'demo'),
  ]);
  const kc = fn.kc;
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const suffix = `-${randomBytes(3).toString('hex')}`;
  const rbac = functionRbac(await render('overlays/openfaas'), {
    functionNamespace: fn.name,
    allowedNamespace: allowed.name,
    suffix,
  });
  for (const object of rbac) {
    await objects.create(object);
    if (object.kind === 'ClusterRole') {
      const name = object.metadata.name;
      t.teardown(() =>
        objects
          .delete({ apiVersion: object.apiVersion, kind: 'ClusterRole', metadata: { name } })
          .catch(() => {}),
      );
    }
  }
  for (const secret of [WEBHOOK_SECRET, ACTION_SECRET])
    await core.createNamespacedSecret({
      namespace: fn.name,
      body: faasCliSecret(secret, 'local-token', fn.name),
    });

  const stack = readStack();
  const tokenSecrets = rbac.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name);
  const secrets = await eventually('the token controller to fill the token Secrets', async () => {
    const found = await readSecrets(core, fn.name, stackSecrets(stack));
    return tokenSecrets.every((name) => found[name]?.keys.includes('token')) ? found : undefined;
  });
  const deployObjects = ceFunctions(stack, secrets, {
    config: { functionNamespace: fn.name, httpProbe },
    env: { SELFHEAL_NAMESPACES: allowed.name },
  });
  const deployments: V1Deployment[] = [];
  for (const object of deployObjects) {
    if (object.kind === 'Deployment') {
      const deployment = object as V1Deployment;
      Object.assign(deployment.spec?.template.spec ?? {}, agent.placement);
      deployments.push(
        await apps.createNamespacedDeployment({
          namespace: fn.name,
          body: deployment,
          fieldValidation: 'Strict',
        }),
      );
    } else {
      await core.createNamespacedService({
        namespace: fn.name,
        body: object as V1Service,
        fieldValidation: 'Strict',
      });
    }
  }

  let seen = '';
  const pods = await eventually(
    'every function pod Ready',
    async () => {
      const list = (await core.listNamespacedPod({ namespace: fn.name })).items;
      seen = list.map(describePod).join('\n');
      const ready = list.filter((p) =>
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      return ready.length === FUNCTIONS.length ? ready : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; the pods:\n${seen}\n${containerLogs()}`);
  });
  return {
    fnNs: fn.name,
    allowedNs: allowed.name,
    kc,
    deployments,
    pods: new Map(pods.map((p) => [p.metadata?.labels?.faas_function ?? '', p])),
  };
}

for (const httpProbe of [true, false]) {
  const probe = httpProbe ? 'GET /_/health on 8080' : 'exec `cat /tmp/.lock`';
  const title = httpProbe
    ? `CE with HTTP probes (${probe}): every function Ready as default and stays up; default may do nothing an action does, each action's mounted token exactly its own verbs`
    : `CE with HTTP probes off (${probe}): every function Ready as default and stays up`;
  test(title, async (t) => {
    t.timeout(400_000);
    const deployed = await deployCe(t, httpProbe);
    const { pods, deployments } = deployed;
    t.deepEqual([...pods.keys()].sort(), [...FUNCTIONS].sort());
    const expected = httpProbe
      ? { httpGet: { path: '/_/health', port: 8080 } }
      : { exec: { command: ['cat', '/tmp/.lock'] } };
    for (const deployment of deployments) {
      const container = deployment.spec?.template.spec?.containers[0];
      t.like(
        container?.livenessProbe,
        expected,
        'the probes CE sets, accepted by the API server as they are',
      );
      t.like(container?.readinessProbe, expected);
    }
    const restarts = new Map<string, number>();
    for (const [name, pod] of pods) {
      t.is(pod.spec?.serviceAccountName, 'default', `${name} runs as default`);
      restarts.set(name, pod.status?.containerStatuses?.[0]?.restartCount ?? 0);
    }
    // A container that starts slowly on a loaded machine may be killed by CE's liveness probe before it is ready
    // (2 s delay, 3 failures 2 s apart); once ready it must stay so: five liveness periods, no restart, still Ready.
    t.log(`restarts before Ready: ${JSON.stringify(Object.fromEntries(restarts))}`);
    const readyAfter = [...pods].map(([name, pod]) => {
      const ready = pod.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime;
      const created = pod.metadata?.creationTimestamp;
      return `${name} ${ready && created ? (new Date(ready).getTime() - new Date(created).getTime()) / 1000 : '?'} s`;
    });
    t.log(`pod created → Ready: ${readyAfter.join(', ')}`);
    const period = deployments[0]?.spec?.template.spec?.containers[0]?.livenessProbe?.periodSeconds ?? 2;
    await sleep(5 * period * 1000);
    const core = deployed.kc.makeApiClient(CoreV1Api);
    for (const pod of (await core.listNamespacedPod({ namespace: deployed.fnNs })).items) {
      const name = pod.metadata?.labels?.faas_function ?? '';
      const status = pod.status?.containerStatuses?.[0];
      t.true(status?.ready, `${name} is still ready`);
      t.is(status?.restartCount, restarts.get(name), `${name} was not restarted once ready`);
    }
    if (httpProbe) await checkIdentities(t, deployed);
  });
}

/** The token file an action's process reads: the agent's copy of the mounted Secret key. */
function mountedToken(pod: V1Pod, name: string): string {
  return readFileSync(
    join(rootDir, 'pods', pod.metadata?.uid ?? '', 'volumes', `${name}-projected-secrets`, 'token'),
    'utf8',
  );
}

async function checkIdentities(t: ExecutionContext, { fnNs, allowedNs, kc, pods }: Deployed): Promise<void> {
  const roles = actionRoles();
  t.deepEqual([...roles.keys()].sort(), [...ACTIONS].sort());
  const everything = new Map([...roles.values()].flat().map((o) => [key(o), o]));
  // Beyond the roles: what no action needs, and would be worst in the wrong hands.
  for (const extra of [
    { group: '', resource: 'secrets', verb: 'get' },
    { group: '', resource: 'pods', verb: 'create' },
    { group: 'apps', resource: 'deployments', verb: 'delete' },
  ])
    everything.set(key(extra), extra);

  const review = (asKc: KubeConfig, namespace: string, o: Operation) => {
    const [resource, subresource] = o.resource.split('/');
    return asKc
      .makeApiClient(AuthorizationV1Api)
      .createSelfSubjectAccessReview({
        body: {
          spec: { resourceAttributes: { namespace, group: o.group, resource, subresource, verb: o.verb } },
        },
      })
      .then((r) => r.status?.allowed === true);
  };
  const asToken = (token: string) => {
    const cluster = kc.getCurrentCluster();
    const user = new KubeConfig();
    if (!cluster) throw new Error('no cluster');
    user.loadFromClusterAndUser(cluster, { name: 'token', token });
    return user;
  };

  // The default ServiceAccount, as its own mounted token (every CE function pod has it) says.
  const anyPod = pods.get('router');
  const defaultToken = readFileSync(
    join(
      rootDir,
      'pods',
      anyPod?.metadata?.uid ?? '',
      'volumes',
      anyPod?.spec?.volumes?.find((v) => v.name.startsWith('kube-api-access'))?.name ?? 'none',
      'token',
    ),
    'utf8',
  );
  const asDefault = asToken(defaultToken);
  for (const o of everything.values())
    t.false(await review(asDefault, allowedNs, o), `default may not ${o.verb} ${o.resource} in ${allowedNs}`);

  for (const action of ACTIONS) {
    const pod = pods.get(action);
    if (!pod) return t.fail(`no pod for ${action}`);
    const env = pod.spec?.containers[0]?.env ?? [];
    t.is(env.find((e) => e.name === 'SELFHEAL_KUBE_TOKEN_FILE')?.value, '/var/openfaas/secrets/token');
    const asAction = asToken(mountedToken(pod, action));
    const own = new Set((roles.get(action) ?? []).map(key));
    // Everything the token may do in the allowed namespace, as the authoriser lists it, besides what every
    // authenticated user may (reviewing its own access and identity).
    const rules = await asAction
      .makeApiClient(AuthorizationV1Api)
      .createSelfSubjectRulesReview({ body: { spec: { namespace: allowedNs } } });
    const granted = (rules.status?.resourceRules ?? [])
      .filter(
        (r) =>
          !(r.apiGroups ?? []).some(
            (g) => g.endsWith('authorization.k8s.io') || g.endsWith('authentication.k8s.io'),
          ),
      )
      .flatMap((r) =>
        (r.apiGroups ?? []).flatMap((group) =>
          (r.resources ?? []).flatMap((resource) => r.verbs.map((verb) => key({ group, resource, verb }))),
        ),
      );
    t.deepEqual(new Set(granted), own, `${action}: its rules in ${allowedNs} are its ClusterRole's, no more`);
    for (const [k, o] of everything) {
      t.is(
        await review(asAction, allowedNs, o),
        own.has(k),
        `${action} ${own.has(k) ? 'may' : 'may not'} ${k}`,
      );
      t.false(await review(asAction, fnNs, o), `${action} may not ${k} in its own namespace`);
    }
  }
}
