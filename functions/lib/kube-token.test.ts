// SELFHEAL_KUBE_TOKEN_FILE against the real API server: an action acts as the ServiceAccount of a mounted token
// Secret, not as the identity its pod runs as (OpenFaaS CE runs every function as `default`).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthenticationV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import test from 'ava';
import { type TestNamespace, useNamespace } from '../../test/helpers/cluster.ts';
import { eventually } from '../../test/helpers/wait.ts';
import { loadActionConfig } from './config.ts';
import { SelfhealError } from './errors.ts';
import { createKube, loadKubeConfig } from './kube.ts';

/** A ServiceAccount allowed to get pods, and its token Secret once the token controller has filled it in. */
async function actingServiceAccount(ns: TestNamespace) {
  const core = ns.kc.makeApiClient(CoreV1Api);
  const rbac = ns.kc.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: 'acting' } } });
  await rbac.createNamespacedRole({
    namespace: ns.name,
    body: {
      metadata: { name: 'read-pods' },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: ns.name,
    body: {
      metadata: { name: 'acting-reads-pods' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-pods' },
      subjects: [{ kind: 'ServiceAccount', name: 'acting', namespace: ns.name }],
    },
  });
  await core.createNamespacedSecret({
    namespace: ns.name,
    body: {
      metadata: { name: 'acting-token', annotations: { 'kubernetes.io/service-account.name': 'acting' } },
      type: 'kubernetes.io/service-account-token',
    },
  });
  const secret = await eventually('the token controller to fill the Secret', async () => {
    const s = await core.readNamespacedSecret({ namespace: ns.name, name: 'acting-token' });
    return s.data?.token && s.data['ca.crt'] ? s.data : undefined;
  });
  const decode = (value: string | undefined) => Buffer.from(value ?? '', 'base64').toString('utf8');
  return { token: decode(secret.token), ca: decode(secret['ca.crt']) };
}

/** The files faas-netes mounts from that Secret under /var/openfaas/secrets: token and ca.crt side by side. */
function mountedSecret(files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'selfheal-kube-token-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return { dir, tokenFile: join(dir, 'token'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A kubeconfig file of the pod's own identity (the namespace's default ServiceAccount, which may do nothing). */
async function podKubeconfig(ns: TestNamespace, dir: string, brokenCa = false): Promise<string> {
  const token = await ns.cluster.mintToken(ns.name, 'default');
  let text = ns.cluster.kubeconfigTextForToken(token, ns.name);
  if (brokenCa)
    text = text.replace(
      /certificate-authority-data: .*/,
      `certificate-authority: ${join(dir, 'missing.crt')}`,
    );
  const path = join(dir, 'pod.kubeconfig');
  writeFileSync(path, text);
  return path;
}

test('SELFHEAL_KUBE_TOKEN_FILE is an action setting', (t) => {
  const config = loadActionConfig('restart-pod', {
    SELFHEAL_NAMESPACES: 'demo',
    SELFHEAL_ACTION_TOKEN: 'x',
    SELFHEAL_KUBE_TOKEN_FILE: '/var/openfaas/secrets/token',
  });
  t.is(config.kubeTokenFile, '/var/openfaas/secrets/token');
  t.is(
    loadActionConfig('scale', { SELFHEAL_NAMESPACES: 'demo', SELFHEAL_ACTION_TOKEN: 'x' }).kubeTokenFile,
    undefined,
  );
});

const whoAmI = async (kc: KubeConfig) =>
  (await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} })).status?.userInfo
    ?.username;

test('with a token file the action acts as that ServiceAccount; without it, as the pod, which is forbidden', async (t) => {
  const ns = await useNamespace(t, 'kube-token');
  const { token, ca } = await actingServiceAccount(ns);
  const mounted = mountedSecret({ token, 'ca.crt': ca });
  t.teardown(mounted.cleanup);
  const kubeconfig = await podKubeconfig(ns, mounted.dir);
  const core = ns.kc.makeApiClient(CoreV1Api);
  await core.createNamespacedPod({
    namespace: ns.name,
    body: {
      metadata: { name: 'target' },
      spec: { containers: [{ name: 'c', image: 'registry.invalid/c:1' }] },
    },
  });

  const acting = await loadKubeConfig({ kubeconfig, tokenFile: mounted.tokenFile });
  t.is(await whoAmI(acting), `system:serviceaccount:${ns.name}:acting`);
  const kube = await createKube({ kubeConfig: acting }, { timeoutMs: 5000 });
  t.is((await kube.readPod(ns.name, 'target'))?.metadata?.name, 'target');

  const asPod = await createKube({ kubeconfig }, { timeoutMs: 5000 });
  const denied = await t.throwsAsync(() => asPod.readPod(ns.name, 'target'), { instanceOf: SelfhealError });
  t.is(denied?.kind, 'forbidden');
});

test("the CA comes from ca.crt beside the token, so the pod's own service account mount is not needed", async (t) => {
  const ns = await useNamespace(t, 'kube-token-ca');
  const { token, ca } = await actingServiceAccount(ns);
  const mounted = mountedSecret({ token, 'ca.crt': ca });
  t.teardown(mounted.cleanup);
  const kubeconfig = await podKubeconfig(ns, mounted.dir, true);
  const acting = await loadKubeConfig({ kubeconfig, tokenFile: mounted.tokenFile });
  t.is(await whoAmI(acting), `system:serviceaccount:${ns.name}:acting`);
});

test('a token with a trailing newline (piped into faas-cli secret create) still authenticates', async (t) => {
  const ns = await useNamespace(t, 'kube-token-nl');
  const { token, ca } = await actingServiceAccount(ns);
  const mounted = mountedSecret({ token: `${token}\n`, 'ca.crt': ca });
  t.teardown(mounted.cleanup);
  const acting = await loadKubeConfig({
    kubeconfig: await podKubeconfig(ns, mounted.dir),
    tokenFile: mounted.tokenFile,
  });
  t.is(await whoAmI(acting), `system:serviceaccount:${ns.name}:acting`);
});

test('a missing or empty token file stops the function at start with a message naming the setting', async (t) => {
  const mounted = mountedSecret({ token: '  \n' });
  t.teardown(mounted.cleanup);
  const kubeconfig = join(mounted.dir, 'kubeconfig');
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser(
    { name: 'c', server: 'https://127.0.0.1:9', skipTLSVerify: false },
    { name: 'u' },
  );
  writeFileSync(kubeconfig, kc.exportConfig());

  const empty = await t.throwsAsync(() => loadKubeConfig({ kubeconfig, tokenFile: mounted.tokenFile }));
  t.regex(empty?.message ?? '', /SELFHEAL_KUBE_TOKEN_FILE: .*token is empty/);
  const missing = await t.throwsAsync(() =>
    loadKubeConfig({ kubeconfig, tokenFile: join(mounted.dir, 'absent') }),
  );
  t.regex(missing?.message ?? '', /SELFHEAL_KUBE_TOKEN_FILE: cannot read .*absent \(ENOENT\)/);
  t.is((missing as SelfhealError).kind, 'invalid');
});
