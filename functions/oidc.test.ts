// SELFHEAL_ACTION_AUTH=oidc against the real API server: an action acts only on a delivery whose bearer token the API
// server accepts (TokenReview) for the action's audience and that belongs to an account it accepts, as a Knative
// Broker sends with OIDC on; every other call is refused before anything changes. Its TokenReview permission comes
// from manifests/components/knative-oidc.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node';
import test from 'ava';
import { HTTP } from 'cloudevents';
import { parseAllDocuments } from 'yaml';
import { useNamespace } from '../test/helpers/cluster.ts';
import { eventually } from '../test/helpers/wait.ts';
import { scale } from './scale/scale.ts';
import { alertEvent, applyRbac, createDeployment, startAction } from './test-helpers.ts';

const COMPONENT = join(
  import.meta.dirname,
  '..',
  'manifests',
  'components',
  'knative-oidc',
  'token-review.yaml',
);

// The component's TokenReview role, bound to the actions of `namespace` (the manifests name `selfheal`).
async function allowTokenReview(kc: KubeConfig, namespace: string): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  for (const doc of parseAllDocuments(readFileSync(COMPONENT, 'utf8'))) {
    const object = doc.toJS() as { metadata: { name: string }; subjects?: { namespace: string }[] };
    object.metadata.name = `${object.metadata.name}-${namespace}`;
    for (const subject of object.subjects ?? []) subject.namespace = namespace;
    if ('roleRef' in object) (object.roleRef as { name: string }).name = `selfheal-token-review-${namespace}`;
    await client.patch(object, undefined, undefined, 'selfheal-tests', true, PatchStrategy.ServerSideApply);
  }
}

async function tokenOf(
  kc: KubeConfig,
  namespace: string,
  account: string,
  audience: string,
): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  await core
    .createNamespacedServiceAccount({ namespace, body: { metadata: { name: account } } })
    .catch(() => {});
  const request = await core.createNamespacedServiceAccountToken({
    namespace,
    name: account,
    body: { spec: { audiences: [audience], expirationSeconds: 600 } },
  });
  return request.status?.token as string;
}

// A scale CloudEvent about Deployment `api` of `namespace`, with this Authorization header if any.
async function sendScale(url: string, namespace: string, authorization?: string) {
  const message = HTTP.binary(alertEvent('scale', { namespace, kind: 'Deployment', name: 'api' }));
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...(message.headers as Record<string, string>), ...(authorization ? { authorization } : {}) },
    body: message.body as string,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('with oidc, scale acts only on a token of an accepted account for its audience; every other call is refused and changes nothing', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'oidc');
  await applyRbac(kc, ns);
  await allowTokenReview(kc, ns);
  await createDeployment(kc, ns, 'api', { replicas: 1 });
  const trigger = 'scale-oidc-eventing.knative.dev-trigger';
  const url = await startAction(t, 'scale', scale, ns, {
    env: { SELFHEAL_ACTION_AUTH: 'oidc', SELFHEAL_OIDC_SUBJECTS: `system:serviceaccount:${ns}:${trigger}` },
  });
  const replicas = async () =>
    (await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: ns, name: 'api' })).spec
      ?.replicas;
  const send = (authorization?: string) => sendScale(url, ns, authorization);

  // The binding reaches the API server's authorizer a moment after it is written: until then the action cannot
  // ask, and answers 503 (a refused call, changing nothing) as it would on a cluster granting it late.
  const intruder = await tokenOf(kc, ns, 'intruder', 'selfheal/scale');
  await eventually(
    'the TokenReview permission in force',
    async () => (await send(`Bearer ${intruder}`)).status !== 503,
  );
  const refused = [
    { label: 'no token', authorization: undefined, status: 401, reason: 'missing-token' },
    { label: 'not a token', authorization: 'Bearer not-a-token', status: 401, reason: 'invalid-token' },
    {
      label: "the accepted account's token for another audience",
      authorization: `Bearer ${await tokenOf(kc, ns, trigger, 'selfheal/redeploy')}`,
      status: 401,
      reason: 'invalid-token',
    },
    {
      label: "another account's token for this audience",
      authorization: `Bearer ${intruder}`,
      status: 403,
      reason: 'subject-not-allowed',
    },
  ];
  for (const call of refused) {
    const answer = await send(call.authorization);
    t.is(answer.status, call.status, `${call.label}: ${JSON.stringify(answer.body)}`);
    t.is(answer.body.reason, call.reason, call.label);
  }
  t.is(await replicas(), 1, 'nothing scaled by a refused call');

  const token = await tokenOf(kc, ns, trigger, 'selfheal/scale');
  const accepted = await send(`Bearer ${token}`);
  t.is(accepted.status, 200, JSON.stringify(accepted.body));
  t.like(accepted.body, { outcome: 'applied' });
  t.is(await replicas(), 2);
  // The verified token is remembered: a second delivery with it is let in too (and, a new event, acts once more).
  t.is((await send(`Bearer ${token}`)).status, 200);
});

test('with oidc, an action that may not ask the API server about tokens answers 503, so the platform retries', async (t) => {
  const { name: ns, kc } = await useNamespace(t, 'oidc-unbound');
  await applyRbac(kc, ns);
  await createDeployment(kc, ns, 'api', { replicas: 1 });
  const trigger = 'scale-oidc-eventing.knative.dev-trigger';
  const url = await startAction(t, 'scale', scale, ns, {
    env: { SELFHEAL_ACTION_AUTH: 'oidc', SELFHEAL_OIDC_SUBJECTS: `system:serviceaccount:${ns}:${trigger}` },
  });
  const { status, body } = await sendScale(
    url,
    ns,
    `Bearer ${await tokenOf(kc, ns, trigger, 'selfheal/scale')}`,
  );
  t.is(status, 503, JSON.stringify(body));
  t.is(body.reason, 'token-review-failed');
  t.regex(String(body.error), /tokenreviews/);
});
