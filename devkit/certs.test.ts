// Certificates made with openssl: a serving cert for extra hosts is trusted through the cluster CA, and only for them.

import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { createCertificateAuthority, issueClientCert, issueServingCert } from './certs.ts';

test('a serving cert for extra hosts is accepted by a client that trusts the CA', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'selfheal-certs-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await createCertificateAuthority(dir);
  const serving = await issueServingCert(ca, dir, 'node-agent', ['127.0.0.1', 'node-1.local']);

  const cert = new X509Certificate(readFileSync(serving.certPath));
  t.true(cert.checkIssued(new X509Certificate(readFileSync(ca.certPath))));
  t.is(cert.subjectAltName, 'IP Address:127.0.0.1, DNS:node-1.local');

  const server = createServer(
    { cert: readFileSync(serving.certPath), key: readFileSync(serving.keyPath) },
    (_, res) => res.end('ok'),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  const get = (servername?: string) =>
    new Promise<string>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, ca: readFileSync(ca.certPath), servername, agent: false },
        (res) => {
          res.setEncoding('utf8');
          let body = '';
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => resolve(body));
        },
      );
      req.on('error', reject);
      req.end();
    });

  t.is(await get(), 'ok');
  t.is(await get('node-1.local'), 'ok');
  await t.throwsAsync(get('other.local'), { message: /altnames/ });
});

test('a client cert carries the user as CN and the groups as O', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'selfheal-certs-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await createCertificateAuthority(dir);
  const client = await issueClientCert(ca, dir, 'node', {
    commonName: 'system:node:n1',
    organizations: ['system:nodes', 'extra'],
  });
  const cert = new X509Certificate(readFileSync(client.certPath));
  t.is(cert.subject, 'O=system:nodes\nO=extra\nCN=system:node:n1');
  t.is(cert.keyUsage?.join(','), '1.3.6.1.5.5.7.3.2');
});
