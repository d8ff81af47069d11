// What a pod's spec names and the node reads from the API server: Secrets and ConfigMaps (env, volumes) and the
// ServiceAccount tokens of projected volumes, bound to the pod.
import { ApiException, type CoreV1Api } from '@kubernetes/client-node';
import type { Lookup } from './container-env.ts';
import type { TokenRequester } from './volumes.ts';

function decode(data: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  return out;
}

async function orUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
}

/** Secrets and ConfigMaps by name, decoded; undefined when there is none. */
export function apiLookup(core: CoreV1Api): Lookup {
  return {
    secret: async (namespace, name) => {
      const secret = await orUndefined(() => core.readNamespacedSecret({ namespace, name }));
      return secret ? decode(secret.data) : undefined;
    },
    configMap: async (namespace, name) => {
      const cm = await orUndefined(() => core.readNamespacedConfigMap({ namespace, name }));
      return cm ? { ...decode(cm.binaryData), ...cm.data } : undefined;
    },
  };
}

/** A token of the pod's ServiceAccount, bound to the pod (TokenRequest), as the kubelet asks for one. */
export function tokenRequester(core: CoreV1Api): TokenRequester {
  return async (pod, { audience, expirationSeconds }) => {
    const response = await core.createNamespacedServiceAccountToken({
      name: pod.spec?.serviceAccountName || 'default',
      namespace: pod.metadata?.namespace ?? 'default',
      body: {
        spec: {
          audiences: audience ? [audience] : [],
          ...(expirationSeconds ? { expirationSeconds } : {}),
          boundObjectRef: {
            apiVersion: 'v1',
            kind: 'Pod',
            name: pod.metadata?.name,
            uid: pod.metadata?.uid,
          },
        },
      },
    });
    return response.status?.token ?? '';
  };
}
