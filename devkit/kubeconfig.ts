// Kubeconfig documents for the local control plane: admin (client cert) or a bearer token, with the CA embedded.
import { stringify } from 'yaml';

export type KubeconfigCredentials = { token: string } | { clientCertPem: string; clientKeyPem: string };

export interface KubeconfigSpec {
  server: string;
  caPem: string;
  credentials: KubeconfigCredentials;
  /** Names the cluster, user and context; default `selfheal`. */
  name?: string;
  namespace?: string;
}

const base64 = (text: string) => Buffer.from(text).toString('base64');

/** A self-contained kubeconfig (YAML), usable by kubectl, client-go and @kubernetes/client-node alike. */
export function renderKubeconfig({
  server,
  caPem,
  credentials,
  name = 'selfheal',
  namespace,
}: KubeconfigSpec) {
  const user =
    'token' in credentials
      ? { token: credentials.token }
      : {
          'client-certificate-data': base64(credentials.clientCertPem),
          'client-key-data': base64(credentials.clientKeyPem),
        };
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, 'certificate-authority-data': base64(caPem) } }],
    users: [{ name, user }],
    contexts: [{ name, context: { cluster: name, user: name, ...(namespace ? { namespace } : {}) } }],
    'current-context': name,
  });
}
