// TLS material for a local control plane, made with the openssl CLI: a CA, serving and client certs, a service-account key.
import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';

export interface CertificateAuthority {
  certPath: string;
  keyPath: string;
}

export interface CertAndKey {
  certPath: string;
  keyPath: string;
}

export interface ClusterCerts {
  ca: CertificateAuthority;
  /** kube-apiserver's serving cert (127.0.0.1, localhost, the kubernetes.default.svc names and the service IP). */
  apiserver: CertAndKey;
  /** Client cert in group system:masters: the admin kubeconfig. */
  admin: CertAndKey;
  /** Client cert kube-apiserver presents to kubelets (logs, exec, port-forward). */
  kubeletClient: CertAndKey;
  /** RSA key that signs service-account tokens, and its public half that verifies them. */
  serviceAccountKeyPath: string;
  serviceAccountPublicKeyPath: string;
}

/** File names inside a control plane's folder, so a process that only knows the folder can find them. */
export const CERT_FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  serviceAccountKey: 'sa.key',
  serviceAccountPublicKey: 'sa.pub',
} as const;

const DAYS_VALID = 365;

function openssl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new Error('openssl is not installed (needed to make the local control plane certificates)')
          : err,
      ),
    );
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`openssl ${args[0]} failed (exit ${code}): ${stderr.trim()}`)),
    );
  });
}

// openssl cannot read its config from a pipe (node's stdin is a socket), so it goes to a file next to the output.
async function opensslWithConfig(args: string[], config: string, configPath: string): Promise<void> {
  await writeFile(configPath, config);
  try {
    await openssl([...args, '-config', configPath]);
  } finally {
    await rm(configPath, { force: true });
  }
}

// Values in an openssl config are taken verbatim up to the end of the line; refuse what would break it.
function configValue(value: string): string {
  if (/[\n\r]/.test(value) || value.trim() !== value || value === '') {
    throw new Error(`invalid certificate name: ${JSON.stringify(value)}`);
  }
  return value;
}

function subjectAltNames(hosts: readonly string[]): string {
  if (hosts.length === 0) throw new Error('a serving certificate needs at least one host name or IP address');
  return hosts.map((host) => `${isIP(host) ? 'IP' : 'DNS'}:${configValue(host)}`).join(',');
}

interface Subject {
  commonName: string;
  organizations?: readonly string[];
}

function requestConfig(subject: Subject, extensions: string[]): string {
  const orgs = (subject.organizations ?? []).map((o, i) => `${i}.O = ${configValue(o)}`);
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    'x509_extensions = ext',
    '[dn]',
    ...orgs,
    `CN = ${configValue(subject.commonName)}`,
    '[ext]',
    ...extensions,
    '',
  ].join('\n');
}

const NEW_EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export async function createCertificateAuthority(
  dir: string,
  commonName = 'selfheal-ca',
): Promise<CertificateAuthority> {
  const ca = { certPath: join(dir, CERT_FILES.caCert), keyPath: join(dir, CERT_FILES.caKey) };
  const config = requestConfig({ commonName }, [
    'basicConstraints = critical,CA:TRUE',
    'keyUsage = critical,keyCertSign,cRLSign,digitalSignature',
    'subjectKeyIdentifier = hash',
  ]);
  const out = ['-keyout', ca.keyPath, '-out', ca.certPath, '-days', '3650'];
  await opensslWithConfig(['req', '-x509', '-new', ...NEW_EC_KEY, ...out], config, `${ca.keyPath}.cnf`);
  return ca;
}

async function issue(
  ca: CertificateAuthority,
  out: CertAndKey,
  subject: Subject,
  usage: 'serverAuth' | 'clientAuth',
  hosts: readonly string[] = [],
): Promise<CertAndKey> {
  const extensions = [
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage = ${usage}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
  ];
  if (usage === 'serverAuth') extensions.push(`subjectAltName = ${subjectAltNames(hosts)}`);
  const signer = ['-CA', ca.certPath, '-CAkey', ca.keyPath];
  const files = ['-keyout', out.keyPath, '-out', out.certPath, '-days', String(DAYS_VALID)];
  await opensslWithConfig(
    ['req', '-x509', '-new', ...signer, ...NEW_EC_KEY, ...files],
    requestConfig(subject, extensions),
    `${out.keyPath}.cnf`,
  );
  return out;
}

/** A serving cert signed by `ca` for the given DNS names and IP addresses, written as `<dir>/<name>.crt|.key`. */
export function issueServingCert(
  ca: CertificateAuthority,
  dir: string,
  name: string,
  hosts: readonly string[],
): Promise<CertAndKey> {
  const out = { certPath: join(dir, `${name}.crt`), keyPath: join(dir, `${name}.key`) };
  return issue(ca, out, { commonName: hosts[0] ?? name }, 'serverAuth', hosts);
}

/** A client cert: Kubernetes reads the user from CN and the groups from O. */
export function issueClientCert(
  ca: CertificateAuthority,
  dir: string,
  name: string,
  subject: Subject,
): Promise<CertAndKey> {
  const out = { certPath: join(dir, `${name}.crt`), keyPath: join(dir, `${name}.key`) };
  return issue(ca, out, subject, 'clientAuth');
}

export async function createServiceAccountKey(
  dir: string,
): Promise<{ keyPath: string; publicKeyPath: string }> {
  const keyPath = join(dir, CERT_FILES.serviceAccountKey);
  const publicKeyPath = join(dir, CERT_FILES.serviceAccountPublicKey);
  await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyPath]);
  await openssl(['pkey', '-in', keyPath, '-pubout', '-out', publicKeyPath]);
  return { keyPath, publicKeyPath };
}

/** Names the apiserver is reached by, from the host and from pods (through the `kubernetes` Service). */
export function apiserverHosts(serviceIP: string): string[] {
  return [
    '127.0.0.1',
    'localhost',
    serviceIP,
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    'kubernetes.default.svc.cluster.local',
  ];
}

/** Everything a control plane needs, written into `dir`. */
export async function createClusterCerts(dir: string, serviceIP: string): Promise<ClusterCerts> {
  const [ca, sa] = await Promise.all([createCertificateAuthority(dir), createServiceAccountKey(dir)]);
  const [apiserver, admin, kubeletClient] = await Promise.all([
    issueServingCert(ca, dir, 'apiserver', apiserverHosts(serviceIP)),
    issueClientCert(ca, dir, 'admin', { commonName: 'admin', organizations: ['system:masters'] }),
    issueClientCert(ca, dir, 'kubelet-client', {
      commonName: 'kube-apiserver-kubelet-client',
      organizations: ['system:masters'],
    }),
  ]);
  return {
    ca,
    apiserver,
    admin,
    kubeletClient,
    serviceAccountKeyPath: sa.keyPath,
    serviceAccountPublicKeyPath: sa.publicKeyPath,
  };
}
