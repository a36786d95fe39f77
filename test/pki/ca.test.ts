import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { PgsealError } from '../../src/errors.js';
import { initCa, issueClientCertificate, loadCa } from '../../src/pki/index.js';
import { openssl, tempDir } from './helpers.js';

test('initCa writes the easy-rsa layout with private files 0600 in a 0700 folder', async (t) => {
  const dir = await tempDir(t);
  const r = await initCa({ dir });
  assert.equal(r.certPath, join(dir, 'ca.crt'));
  const entries = (await readdir(dir)).sort();
  for (const name of ['ca.crt', 'crl.pem', 'crlnumber', 'index.txt', 'issued', 'private', 'revoked', 'serial']) {
    assert.ok(entries.includes(name), `missing ${name}`);
  }
  assert.ok(!entries.includes('.lock'), 'lock left behind');
  assert.equal((await stat(join(dir, 'private', 'ca.key'))).mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, 'private'))).mode & 0o777, 0o700);
  assert.equal(await readFile(join(dir, 'index.txt'), 'utf8'), '');
  assert.match(await readFile(join(dir, 'serial'), 'utf8'), /^[4-7][0-9A-F]{31}\n$/);
  assert.equal(await readFile(join(dir, 'crlnumber'), 'utf8'), '02\n'); // 01 went into the initial CRL
  assert.match(await readFile(join(dir, 'private', 'ca.key'), 'utf8'), new RegExp(`^-----BEGIN ${'PRIVATE'} KEY-----\n`));
  assert.match(await readFile(join(dir, 'crl.pem'), 'utf8'), /^-----BEGIN X509 CRL-----\n/);
});

test('the CA certificate is a critical-basicConstraints CA with keyCertSign and cRLSign', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir, cn: 'Test Root', days: 30 });
  const text = openssl(['x509', '-in', join(dir, 'ca.crt'), '-noout', '-text']).stdout;
  assert.match(text, /Subject: CN\s?=\s?Test Root/);
  assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
  assert.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
  assert.match(text, /X509v3 Subject Key Identifier:/);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(text, /ASN1 OID: prime256v1/);
  const selfCheck = openssl(['verify', '-CAfile', join(dir, 'ca.crt'), join(dir, 'ca.crt')]);
  assert.equal(selfCheck.status, 0, selfCheck.output);
});

test('the initial CRL is empty, signed by the CA and numbered 1', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  const r = openssl(['crl', '-in', join(dir, 'crl.pem'), '-noout', '-text', '-CAfile', join(dir, 'ca.crt')]);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /verify OK/);
  assert.match(r.stdout, /X509v3 CRL Number:\s+1\n/);
  assert.match(r.stdout, /No Revoked Certificates/);
});

test('initCa refuses a directory that already holds a CA', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  const before = await readFile(join(dir, 'ca.crt'), 'utf8');
  await assert.rejects(initCa({ dir }), (err: unknown) => {
    assert.ok(err instanceof PgsealError);
    assert.equal(err.code, 'pki_error');
    assert.match(err.message, /already exists/);
    return true;
  });
  assert.equal(await readFile(join(dir, 'ca.crt'), 'utf8'), before);
});

test('initCa rejects bad days and an empty CN before writing anything', async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(initCa({ dir: join(dir, 'a'), days: 0 }), PgsealError);
  await assert.rejects(initCa({ dir: join(dir, 'b'), cn: '  ' }), PgsealError);
  await assert.rejects(stat(join(dir, 'b', 'ca.crt')), { code: 'ENOENT' });
});

test('a passphrase encrypts the CA key; loading needs the right one', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir, passphrase: 'correct horse' });
  const pem = await readFile(join(dir, 'private', 'ca.key'), 'utf8');
  assert.match(pem, new RegExp(`^-----BEGIN ENCRYPTED ${'PRIVATE'} KEY-----\n`));
  const ok = openssl(['pkey', '-in', join(dir, 'private', 'ca.key'), '-passin', 'pass:correct horse', '-noout']);
  assert.equal(ok.status, 0, ok.output);
  await assert.rejects(loadCa(dir), /encrypted: set PGSEAL_CA_PASSPHRASE/);
  await assert.rejects(loadCa(dir, 'wrong'), /wrong passphrase/);
  await assert.rejects(issueClientCertificate({ dir, name: 'x', roles: [] }), PgsealError);
  const ca = await loadCa(dir, 'correct horse');
  assert.equal(ca.certificate.subject, 'CN=pgseal CA');
  const issued = await issueClientCertificate({ dir, name: 'x', roles: ['r'], passphrase: 'correct horse' });
  const v = openssl(['verify', '-CAfile', join(dir, 'ca.crt'), issued.certPath]);
  assert.equal(v.status, 0, v.output);
});

test('loadCa on a directory without a CA says how to create one', async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(loadCa(dir), (err: unknown) => err instanceof PgsealError && /pgseal ca init --pki/.test(err.message));
});
