import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import tls from 'node:tls';
import {
  certificateIdentity,
  initCa,
  issueClientCertificate,
  issueServerCertificate,
  revokeCertificate,
} from '../../src/pki/index.js';
import { tempDir } from './helpers.js';

interface Pair {
  client: tls.TLSSocket;
  server: tls.TLSSocket;
}

/** handshake runs one TLS handshake over loopback and returns both ends. */
async function handshake(t: TestContext, serverOpts: tls.TlsOptions, clientOpts: tls.ConnectionOptions): Promise<Pair> {
  const server = tls.createServer(serverOpts);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'secureConnection') as Promise<[tls.TLSSocket]>;
  const { port } = server.address() as AddressInfo;
  const client = tls.connect({ port, host: '127.0.0.1', ...clientOpts });
  t.after(async () => {
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  await once(client, 'secureConnect');
  const [serverSide] = await accepted;
  t.after(() => serverSide.destroy());
  return { client, server: serverSide };
}

/** pkiStore makes a CA, a server certificate for localhost, and loads the PEM files. */
async function pkiStore(t: TestContext) {
  const dir = await tempDir(t);
  await initCa({ dir });
  const srv = await issueServerCertificate({ dir, name: 'proxy', sans: ['DNS:localhost', 'IP:127.0.0.1'] });
  return {
    dir,
    ca: await readFile(join(dir, 'ca.crt')),
    cert: await readFile(srv.certPath),
    key: await readFile(srv.keyPath),
  };
}

test('a Node TLS client trusting ca.crt completes a handshake with the server certificate', async (t) => {
  const s = await pkiStore(t);
  const { client } = await handshake(t, { cert: s.cert, key: s.key }, { ca: s.ca, servername: 'localhost' });
  assert.equal(client.authorized, true, String(client.authorizationError));
  const peer = client.getPeerX509Certificate();
  assert.ok(peer);
  assert.equal(peer.subject, 'CN=proxy');
  assert.equal(certificateIdentity(peer).dnsNames[0], 'localhost');
});

test('host name verification rejects a name the certificate does not carry', async (t) => {
  const s = await pkiStore(t);
  const server = tls.createServer({ cert: s.cert, key: s.key });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise((resolve) => server.close(resolve)));
  server.on('tlsClientError', () => {});
  const { port } = server.address() as AddressInfo;
  const client = tls.connect({ port, host: '127.0.0.1', ca: s.ca, servername: 'db.example.com' });
  const [err] = (await once(client, 'error')) as [NodeJS.ErrnoException];
  assert.equal(err.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
});

test('mutual TLS: the server sees the client identity and roles; a revoked client fails the CRL check', async (t) => {
  const s = await pkiStore(t);
  const alice = await issueClientCertificate({ dir: s.dir, name: 'alice', roles: ['app_rw', 'ops'] });
  const bob = await issueClientCertificate({ dir: s.dir, name: 'bob', roles: ['ro'] });
  await revokeCertificate({ dir: s.dir, nameOrSerial: 'bob', reason: 'keyCompromise' });
  const crl = await readFile(join(s.dir, 'crl.pem'));
  const serverOpts = { cert: s.cert, key: s.key, ca: s.ca, crl, requestCert: true, rejectUnauthorized: false };
  const pemPair = async (cert: string, key: string) => ({ cert: await readFile(cert), key: await readFile(key) });
  const revoked = join(s.dir, 'revoked');
  const good = await handshake(t, serverOpts, { ca: s.ca, servername: 'localhost', ...(await pemPair(alice.certPath, alice.keyPath)) });
  assert.equal(good.server.authorized, true, String(good.server.authorizationError));
  const id = certificateIdentity(good.server.getPeerCertificate());
  assert.equal(id.commonName, 'alice');
  assert.deepEqual(id.roles, ['app_rw', 'ops']);
  assert.equal(id.serial, alice.serial);

  const bobFiles = await pemPair(
    join(revoked, 'certs_by_serial', `${bob.serial}.crt`),
    join(revoked, 'private_by_serial', `${bob.serial}.key`),
  );
  const bad = await handshake(t, serverOpts, { ca: s.ca, servername: 'localhost', ...bobFiles });
  assert.equal(bad.server.authorized, false);
  // On a server-side socket Node 20 reports the code as a plain string, whatever the types say.
  assert.equal(String(bad.server.authorizationError), 'CERT_REVOKED');
});
