// A self-signed serving certificate for the kubelet endpoint, for when no cluster CA issues one (openssl).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type PemPair = { cert: string; key: string };

export async function selfSignedCert(dir: string, name: string, hosts: string[]): Promise<PemPair> {
  const keyPath = join(dir, 'kubelet.key');
  const certPath = join(dir, 'kubelet.crt');
  const san = hosts.map((h) => (/^[\d.]+$/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  try {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '365',
      '-subj',
      `/CN=${name}`,
      '-addext',
      `subjectAltName=${san}`,
      '-keyout',
      keyPath,
      '-out',
      certPath,
    ]);
  } catch (err) {
    throw new Error(`cannot create the kubelet serving certificate with openssl: ${(err as Error).message}`);
  }
  return { cert: await readFile(certPath, 'utf8'), key: await readFile(keyPath, 'utf8') };
}
