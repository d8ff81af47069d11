// Puts selfheal into a cluster the way an operator does on OpenFaaS Community Edition, with faas-netes' part played by
// manifests/faas-netes-ce.ts: the overlay's function RBAC and token Secrets, the two faas-cli secrets, then for each
// function of stack.yml the Deployment and Service faas-netes creates from the Secrets as they exist.
import type { CoreV1Api, KubernetesObject, V1Secret } from '@kubernetes/client-node';
import {
  CE_NAMESPACE,
  ceFunctionObjects,
  type ExistingSecret,
  type FaasNetesConfig,
} from '../../manifests/faas-netes-ce.ts';
import type { K8sObject } from '../../manifests/render.ts';
import type { StackFile } from '../../manifests/schemas/openfaas.ts';

export const WEBHOOK_SECRET = 'selfheal-webhook-token';
export const ACTION_SECRET = 'selfheal-action-token';
/** The namespace the overlay's RoleBindings allow the actions to act in. */
export const ALLOWED_NAMESPACE = 'demo';

/** `faas-cli secret create NAME`: an Opaque Secret labelled for OpenFaaS whose one key is its name (secrets.go). */
export function faasCliSecret(name: string, value: string, namespace: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'openfaas' } },
    stringData: { [name]: value },
  };
}

export type Placement = {
  /** Where the functions run (faas-netes' function_namespace; the overlay says openfaas-fn). */
  functionNamespace: string;
  /** Where the actions may act (the overlay says demo). */
  allowedNamespace: string;
  /** Appended to cluster-scoped names (ClusterRoles), so parallel tests do not meet; '' in the playground. */
  suffix: string;
};

/**
 * The overlay's objects for the functions (labelled selfheal.dev/function: ServiceAccounts, ClusterRoles,
 * RoleBindings, the actions' token Secrets), moved to `placement`'s namespaces, ServiceAccounts first so the token
 * controller finds them.
 */
export function functionRbac(overlay: readonly K8sObject[], placement: Placement): K8sObject[] {
  const mapNamespace = (ns: string | undefined) =>
    ns === CE_NAMESPACE
      ? placement.functionNamespace
      : ns === ALLOWED_NAMESPACE
        ? placement.allowedNamespace
        : ns;
  const picked = overlay.filter((o) => o.metadata.labels?.['selfheal.dev/function'] !== undefined);
  const order = ['ServiceAccount', 'ClusterRole', 'RoleBinding', 'Secret'];
  return picked
    .filter((o) => order.includes(o.kind))
    .sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind))
    .map((o) => {
      const copy = structuredClone(o) as K8sObject & {
        roleRef?: { name: string };
        subjects?: Array<{ namespace?: string }>;
      };
      const namespace = mapNamespace(copy.metadata.namespace);
      if (namespace) copy.metadata.namespace = namespace;
      if (copy.kind === 'ClusterRole') copy.metadata.name += placement.suffix;
      if (copy.roleRef) copy.roleRef.name += placement.suffix;
      for (const subject of copy.subjects ?? []) {
        const mapped = mapNamespace(subject.namespace);
        if (mapped) subject.namespace = mapped;
      }
      return copy;
    });
}

/** What faas-netes reads of the Secrets a function names (GetSecrets): type and keys of those that exist. */
export async function readSecrets(
  core: CoreV1Api,
  namespace: string,
  names: readonly string[],
): Promise<Record<string, ExistingSecret>> {
  const found: Record<string, ExistingSecret> = {};
  for (const name of new Set(names)) {
    const secret = await core.readNamespacedSecret({ namespace, name }).catch(() => undefined);
    if (secret) found[name] = { type: secret.type ?? 'Opaque', keys: Object.keys(secret.data ?? {}) };
  }
  return found;
}

export type DeployOptions = {
  /** `faas-cli deploy --env KEY=VALUE`, for every function. */
  env?: Record<string, string>;
  config?: Partial<FaasNetesConfig>;
};

/** Every function of the stack as faas-netes CE deploys it: a Deployment and a Service each. */
export function ceFunctions(
  stack: StackFile,
  secrets: Record<string, ExistingSecret>,
  options: DeployOptions = {},
): KubernetesObject[] {
  return Object.entries(stack.functions).flatMap(([name, fn]) => {
    const { deployment, service } = ceFunctionObjects({
      name,
      fn,
      secrets,
      ...(options.env ? { env: options.env } : {}),
      ...(options.config ? { config: options.config } : {}),
    });
    return [deployment, service];
  });
}

/** The Secrets every function of the stack names. */
export const stackSecrets = (stack: StackFile): string[] =>
  Object.values(stack.functions).flatMap((fn) => fn.secrets ?? []);
