// The playground's openfaas-ce platform: the functions of stack.yml deployed as OpenFaaS Community Edition runs them
// (openfaas-fn, faas-netes' Deployments and Services, the `default` ServiceAccount, each action acting through its
// token Secret), reached through a stand-in for the gateway's /function/<name> path.
import { CoreV1Api, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { CE_NAMESPACE } from '../../manifests/faas-netes-ce.ts';
import { readStack } from '../../manifests/openfaas-functions.ts';
import { render } from '../../manifests/render.ts';
import {
  ACTION_SECRET,
  ALLOWED_NAMESPACE,
  ceFunctions,
  faasCliSecret,
  functionRbac,
  readSecrets,
  stackSecrets,
  WEBHOOK_SECRET,
} from './deploy.ts';
import { type Gateway, startGateway } from './gateway.ts';

export { CE_NAMESPACE };

export type OpenFaasCe = {
  gateway: Gateway;
  /** Where Alertmanager posts: the router through the gateway, as on CE. */
  routerUrl: string;
  /** Each function through the gateway. */
  functionUrls: Record<string, string>;
};

export type OpenFaasCeOptions = {
  kc: KubeConfig;
  /** Creates objects as an operator would (kubectl apply). */
  apply: (objects: KubernetesObject[], name: string) => Promise<void>;
  /** The service proxy's address for a Service port (kube-proxy's part). */
  serviceUrl: (namespace: string, name: string, port: number) => string | undefined;
  /** `faas-cli deploy --env`: the playground's own settings (cooldown, budget). */
  env: Record<string, string>;
  webhookToken: string;
  actionToken: string;
  signal?: AbortSignal;
};

/** The namespace the OpenFaaS chart creates for the functions. */
export const functionNamespace = (): KubernetesObject => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: CE_NAMESPACE, labels: { 'app.kubernetes.io/part-of': 'openfaas' } },
});

async function waitForTokens(core: CoreV1Api, names: string[], signal?: AbortSignal) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    signal?.throwIfAborted();
    const found = await readSecrets(core, CE_NAMESPACE, names);
    if (names.every((n) => found[n]?.keys.includes('token'))) return;
    if (Date.now() > deadline)
      throw new Error(`the token controller did not fill ${names.join(', ')} within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * The README's CE steps: the overlay's function RBAC and token Secrets, the two faas-cli secrets, then
 * `faas-cli deploy -f stack.yml --env …` with faas-netes' part played by manifests/faas-netes-ce.ts.
 */
export async function deployOpenFaasCe(options: OpenFaasCeOptions): Promise<OpenFaasCe> {
  const core = options.kc.makeApiClient(CoreV1Api);
  const rbac = functionRbac(await render('overlays/openfaas'), {
    functionNamespace: CE_NAMESPACE,
    allowedNamespace: ALLOWED_NAMESPACE,
    suffix: '',
  });
  await options.apply(rbac, 'openfaas-rbac');
  await options.apply(
    [
      faasCliSecret(WEBHOOK_SECRET, options.webhookToken, CE_NAMESPACE),
      faasCliSecret(ACTION_SECRET, options.actionToken, CE_NAMESPACE),
    ],
    'openfaas-secrets',
  );
  await waitForTokens(
    core,
    rbac.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name),
    options.signal,
  );

  const gateway = await startGateway({
    namespace: CE_NAMESPACE,
    serviceUrl: (namespace, name) => options.serviceUrl(namespace, name, 8080),
  });
  try {
    const stack = readStack();
    const secrets = await readSecrets(core, CE_NAMESPACE, stackSecrets(stack));
    await options.apply(
      ceFunctions(stack, secrets, { env: { ...options.env, SELFHEAL_OPENFAAS_GATEWAY: gateway.url } }),
      'openfaas-functions',
    );
    const functionUrls = Object.fromEntries(
      Object.keys(stack.functions).map((name) => [name, `${gateway.url}/function/${name}`]),
    );
    return { gateway, routerUrl: `${gateway.url}/function/router`, functionUrls };
  } catch (error) {
    await gateway.stop();
    throw error;
  }
}
