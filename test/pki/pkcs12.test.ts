import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import { PgsealError } from '../../src/errors.js';
import { exportPkcs12, initCa, issueClientCertificate, readRolesFromCertificate, revokeCertificate } from '../../src/pki/index.js';
import { pkcs12Kdf } from '../../src/pki/pkcs12.js';
import { openssl, tempDir } from './helpers.js';

test('exportPkcs12 writes a 0600 bundle that openssl reads with the passphrase', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  const r = await issueClientCertificate({ dir, name: 'alice', roles: ['app'] });
  const { p12Path } = await exportPkcs12({ dir, name: 'alice', passphrase: 's3cret pass' });
  assert.equal(p12Path, join(dir, 'private', 'alice.p12'));
  assert.equal((await stat(p12Path)).mode & 0o777, 0o600);

  const info = openssl(['pkcs12', '-info', '-nokeys', '-in', p12Path, '-passin', 'pass:s3cret pass']);
  assert.equal(info.status, 0, info.output);
  assert.match(info.output, /MAC: sha256, Iteration 2048/);
  assert.match(info.output, /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC/);
  assert.match(info.stdout, /friendlyName: alice/);
  assert.match(info.stdout, /subject=CN ?= ?alice/);
  assert.match(info.stdout, /subject=CN ?= ?pgseal CA/);

  // The key inside is the certificate's key: extract both and compare public keys.
  const keyOut = openssl(['pkcs12', '-in', p12Path, '-passin', 'pass:s3cret pass', '-nocerts', '-nodes']);
  assert.equal(keyOut.status, 0, keyOut.output);
  const certOut = openssl(['pkcs12', '-in', p12Path, '-passin', 'pass:s3cret pass', '-clcerts', '-nokeys']);
  assert.deepEqual(readRolesFromCertificate(certOut.stdout), ['app']);
  const pubOfKey = await publicKeyOf(keyOut.stdout);
  const pubOfCert = openssl(['x509', '-in', r.certPath, '-noout', '-pubkey']).stdout;
  assert.equal(pubOfKey, pubOfCert);
});

/** publicKeyOf derives the SPKI PEM from a PEM private key using node:crypto. */
async function publicKeyOf(privatePem: string): Promise<string> {
  const { createPrivateKey, createPublicKey } = await import('node:crypto');
  return createPublicKey(createPrivateKey(privatePem)).export({ type: 'spki', format: 'pem' }).toString();
}

test('a wrong passphrase fails the MAC check', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  await issueClientCertificate({ dir, name: 'alice', roles: [] });
  const { p12Path } = await exportPkcs12({ dir, name: 'alice', passphrase: 'right' });
  const r = openssl(['pkcs12', '-info', '-nokeys', '-in', p12Path, '-passin', 'pass:wrong']);
  assert.notEqual(r.status, 0);
  assert.match(r.output, /mac verify (error|failure)/i);
});

test('Node loads the bundle as a TLS pfx', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  await issueClientCertificate({ dir, name: 'alice', roles: [] });
  const { p12Path } = await exportPkcs12({ dir, name: 'alice', passphrase: 'pfx-pass' });
  const pfx = await readFile(p12Path);
  assert.doesNotThrow(() => tls.createSecureContext({ pfx, passphrase: 'pfx-pass' }));
  assert.throws(() => tls.createSecureContext({ pfx, passphrase: 'nope' }), /mac verify failure/i);
});

test('exportPkcs12 refuses revoked and unknown names and an empty passphrase', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  await issueClientCertificate({ dir, name: 'alice', roles: [] });
  await assert.rejects(exportPkcs12({ dir, name: 'alice', passphrase: '' }), PgsealError);
  await assert.rejects(exportPkcs12({ dir, name: 'nobody', passphrase: 'x' }), PgsealError);
  await revokeCertificate({ dir, nameOrSerial: 'alice' });
  await assert.rejects(exportPkcs12({ dir, name: 'alice', passphrase: 'x' }), /no valid certificate named "alice"/);
});

// Vectors from OpenSSL 3.0's own implementation:
//   openssl kdf -keylen N -kdfopt digest:SHA256 -kdfopt hexpass:0073006d006500670000 \
//     -kdfopt hexsalt:0a58cf64530d823f -kdfopt iter:I -kdfopt id:ID PKCS12KDF
// (hexpass is "smeg" as a NUL-terminated BMPString, RFC 7292 B.1).
test('pkcs12Kdf matches OpenSSL PKCS12KDF with SHA-256', () => {
  const salt = Buffer.from('0a58cf64530d823f', 'hex');
  assert.equal(
    pkcs12Kdf('smeg', salt, 3, 1, 32).toString('hex'),
    'b26d0cad11e901ad0ba0ce08b18df8fc49d2eb271bf02a0cee1669e01251b18d',
  );
  // 70 bytes spans three hash blocks, exercising the I_j update of step 6C.
  assert.equal(
    pkcs12Kdf('smeg', salt, 1, 1000, 70).toString('hex'),
    '8c8ec99d51446b9ddd6cade1696c9e5db5f40dede874219f6654626b604f5a7c968ee4288bb1b3737b031eb912f9c1217cd8333d7d3f13452fc4d1ac725e3684dc0fcea27b1a',
  );
});
