// Each platform runs every function as the ServiceAccount the overlay binds: the API server itself
// (SubjectAccessReview) answers that an action may do its job in the allowed namespace and nothing elsewhere,
// and that the router may do nothing at all.
import { randomBytes } from 'node:crypto';
import { AuthorizationV1Api, KubernetesObjectApi } from '@kubernetes/client-node';
import test, { type ExecutionContext } from 'ava';
import { useNamespace } from '../test/helpers/cluster.ts';
import { FUNCTION_NAMESPACE, readStack } from './openfaas-functions.ts';
import { type K8sObject, render } from './render.ts';
import { knativeService } from './schemas/knative.ts';

const ACTIONS = ['restart-pod', 'redeploy', 'scale'] as const;
const ALLOWED_NAMESPACE = 'demo';

interface Identity {
  fn: string;
  namespace: string;
  serviceAccount: string;
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** Who the platform runs each function as, read from what deploys it. */
async function identities(platform: 'openfaas' | 'knative'): Promise<Identity[]> {
  if (platform === 'openfaas') {
    // Community Edition runs every pod as `default`: an action acts as the ServiceAccount of the token Secret it
    // mounts. Pro runs the pod as com.openfaas.serviceaccount, which names the same ServiceAccount.
    const tokenOwners = new Map(
      (await render('overlays/openfaas'))
        .filter(
          (o) =>
            o.kind === 'Secret' && (o as { type?: string }).type === 'kubernetes.io/service-account-token',
        )
        .map((o) => [o.metadata.name, o.metadata.annotations?.['kubernetes.io/service-account.name']]),
    );
    return Object.entries(readStack().functions).map(([fn, spec]) => {
      const token = spec.secrets?.find((s) => tokenOwners.has(s));
      const serviceAccount = (token && tokenOwners.get(token)) || 'default';
      const pro = spec.annotations?.['com.openfaas.serviceaccount'];
      if (token && pro !== serviceAccount)
        throw new Error(`${fn}: Pro would run ${pro}, the token is ${serviceAccount}`);
      return { fn, namespace: spec.namespace ?? FUNCTION_NAMESPACE, serviceAccount };
    });
  }
  return (await render('overlays/knative'))
    .filter((o) => o.apiVersion === 'serving.knative.dev/v1' && o.kind === 'Service')
    .map((o) => knativeService.parse(o))
    .map((s) => ({
      fn: s.metadata.name,
      namespace: s.metadata.namespace ?? 'default',
      serviceAccount: s.spec.template.spec.serviceAccountName ?? 'default',
    }));
}

/**
 * Creates the overlay's function RBAC for real in fresh namespaces (functions' namespace → `fnNs`, demo →
 * `allowedNs`), cluster-scoped names suffixed so parallel tests do not meet. Returns the ClusterRoles' rules.
 */
async function installRbac(
  t: ExecutionContext,
  objects: readonly K8sObject[],
  functionNamespace: string,
  names: { fnNs: string; allowedNs: string },
  kc: Parameters<typeof KubernetesObjectApi.makeApiClient>[0],
): Promise<Map<string, Rule[]>> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  const suffix = randomBytes(3).toString('hex');
  const isFunctionRbac = (o: K8sObject) => o.metadata.labels?.['selfheal.dev/function'] !== undefined;
  const mapNs = (ns: string | undefined) =>
    ns === functionNamespace ? names.fnNs : ns === ALLOWED_NAMESPACE ? names.allowedNs : ns;
  const rules = new Map<string, Rule[]>();
  const serviceAccounts = objects.filter(
    (o) => o.kind === 'ServiceAccount' && o.metadata.namespace === functionNamespace,
  );
  for (const o of [
    ...serviceAccounts,
    ...objects.filter((o) => o.kind !== 'ServiceAccount' && isFunctionRbac(o)),
  ]) {
    const copy = structuredClone(o) as K8sObject & {
      roleRef?: { name: string };
      subjects?: { namespace?: string }[];
      rules?: Rule[];
    };
    copy.metadata.namespace = mapNs(copy.metadata.namespace);
    if (copy.kind === 'ClusterRole') {
      rules.set(copy.metadata.name, copy.rules ?? []);
      copy.metadata.name = `${copy.metadata.name}-${suffix}`;
      const name = copy.metadata.name;
      t.teardown(() =>
        client.delete({ apiVersion: copy.apiVersion, kind: copy.kind, metadata: { name } }).catch(() => {}),
      );
    }
    if (copy.roleRef) copy.roleRef.name = `${copy.roleRef.name}-${suffix}`;
    for (const subject of copy.subjects ?? []) subject.namespace = mapNs(subject.namespace);
    await client.create(copy);
  }
  return rules;
}

for (const platform of ['openfaas', 'knative'] as const) {
  test(`${platform}: each action may do its job in ${ALLOWED_NAMESPACE} only, the router nothing`, async (t) => {
    const objects = await render(`overlays/${platform}`);
    const who = await identities(platform);
    t.deepEqual(who.map((w) => w.fn).sort(), ['redeploy', 'restart-pod', 'router', 'scale']);
    const functionNamespace = who[0]?.namespace ?? '';
    t.true(
      who.every((w) => w.namespace === functionNamespace),
      'all functions run in one namespace',
    );

    const fnNs = await useNamespace(t, `${platform}-fn`);
    const allowedNs = await useNamespace(t, `${platform}-allowed`);
    const otherNs = await useNamespace(t, `${platform}-other`);
    const rules = await installRbac(
      t,
      objects,
      functionNamespace,
      { fnNs: fnNs.name, allowedNs: allowedNs.name },
      fnNs.kc,
    );
    const authz = fnNs.kc.makeApiClient(AuthorizationV1Api);
    const may = async (id: Identity, namespace: string, verb: string, group: string, resource: string) => {
      const [res, subresource] = resource.split('/');
      const review = await authz.createSubjectAccessReview({
        body: {
          spec: {
            user: `system:serviceaccount:${fnNs.name}:${id.serviceAccount}`,
            groups: ['system:serviceaccounts', `system:serviceaccounts:${fnNs.name}`, 'system:authenticated'],
            resourceAttributes: { namespace, verb, group, resource: res, subresource },
          },
        },
      });
      return review.status?.allowed === true;
    };

    for (const id of who) {
      const granted = rules.get(`selfheal-${id.fn}`) ?? [];
      if (id.fn === 'router') {
        t.deepEqual(granted, [], 'the router has no role');
        t.false(await may(id, allowedNs.name, 'get', '', 'pods'), 'router reads no pods');
        continue;
      }
      t.true(granted.length > 0, `${id.fn} has a role`);
      for (const rule of granted) {
        for (const resource of rule.resources) {
          for (const verb of rule.verbs) {
            const group = rule.apiGroups[0] ?? '';
            t.true(await may(id, allowedNs.name, verb, group, resource), `${id.fn} may ${verb} ${resource}`);
            t.false(
              await may(id, otherNs.name, verb, group, resource),
              `${id.fn} may not ${verb} ${resource} elsewhere`,
            );
          }
        }
      }
      for (const workloads of ['deployments', 'statefulsets', 'daemonsets']) {
        t.false(
          await may(id, allowedNs.name, 'delete', 'apps', workloads),
          `${id.fn} may not delete ${workloads}`,
        );
      }
    }
  });
}

test('the actions are confined to the namespaces their RoleBindings allow', async (t) => {
  for (const platform of ['openfaas', 'knative'] as const) {
    const objects = await render(`overlays/${platform}`);
    const bound = new Set(
      objects
        .filter((o) => o.kind === 'RoleBinding' && o.metadata.labels?.['selfheal.dev/function'])
        .map((o) => o.metadata.namespace),
    );
    t.deepEqual([...bound], [ALLOWED_NAMESPACE], platform);
  }
  for (const action of ACTIONS)
    t.is(readStack().functions[action]?.environment?.SELFHEAL_NAMESPACES, ALLOWED_NAMESPACE);
});
