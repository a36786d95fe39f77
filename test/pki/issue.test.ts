import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { PgsealError } from '../../src/errors.js';
import {
  certificateIdentity,
  initCa,
  issueClientCertificate,
  issueServerCertificate,
  parseIndex,
  readRolesFromCertificate,
} from '../../src/pki/index.js';
import { openssl, tempDir } from './helpers.js';

test('server and client certificates verify against ca.crt for their purpose', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  const server = await issueServerCertificate({ dir, name: 'proxy', sans: ['DNS:localhost', 'IP:127.0.0.1'] });
  const client = await issueClientCertificate({ dir, name: 'alice', roles: ['app'] });
  const ca = join(dir, 'ca.crt');
  for (const [path, purpose] of [[server.certPath, 'sslserver'], [client.certPath, 'sslclient']] as const) {
    const r = openssl(['verify', '-x509_strict', '-CAfile', ca, '-purpose', purpose, path]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.stdout, /: OK/);
  }
  // The purposes are not interchangeable: EKU is set.
  const wrong = openssl(['verify', '-CAfile', ca, '-purpose', 'sslserver', client.certPath]);
  assert.notEqual(wrong.status, 0);
});

test('a server certificate has SANs, serverAuth, digitalSignature, AKI and an ECDSA P-256 key', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  const r = await issueServerCertificate({ dir, name: 'db-proxy', sans: ['DNS:localhost', 'IP:127.0.0.1', 'IP:::1'] });
  const text = openssl(['x509', '-in', r.certPath, '-noout', '-text']).stdout;
  assert.match(text, /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
  assert.match(text, /Extended Key Usage:\s+TLS Web Server Authentication\n/);
  assert.match(text, /Key Usage: critical\s+Digital Signature\n/);
  assert.match(text, /Authority Key Identifier:/);
  assert.match(text, /ASN1 OID: prime256v1/);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.equal(openssl(['x509', '-in', r.certPath, '-noout', '-serial']).stdout.trim(), `serial=${r.serial}`);
});

test('key files are 0600 and PKCS#8', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  const a = await issueServerCertificate({ dir, name: 's', sans: ['DNS:localhost'] });
  const b = await issueClientCertificate({ dir, name: 'c', roles: [] });
  for (const key of [a.keyPath, b.keyPath, join(dir, 'private', 'ca.key')]) {
    assert.equal((await stat(key)).mode & 0o777, 0o600, key);
    assert.match(await readFile(key, 'utf8'), new RegExp(`^-----BEGIN ${'PRIVATE'} KEY-----\n`));
  }
  assert.equal(a.keyPath, join(dir, 'private', 's.key'));
  assert.equal(b.certPath, join(dir, 'issued', 'c.crt'));
});

test('index.txt gets one OpenSSL-format line per certificate', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  const serialBefore = (await readFile(join(dir, 'serial'), 'utf8')).trim();
  const a = await issueServerCertificate({ dir, name: 'proxy', sans: ['DNS:localhost'] });
  const b = await issueClientCertificate({ dir, name: 'bob', roles: ['ro'], days: 10 });
  assert.equal(a.serial, serialBefore, 'the serial file holds the next serial');
  const text = await readFile(join(dir, 'index.txt'), 'utf8');
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, 2);
  for (const [line, issued, cn] of [[lines[0]!, a, 'proxy'], [lines[1]!, b, 'bob']] as const) {
    const fields = line.split('\t');
    assert.equal(fields.length, 6);
    assert.equal(fields[0], 'V');
    assert.match(fields[1]!, /^\d{12}Z$/);
    assert.equal(fields[2], '');
    assert.equal(fields[3], issued.serial);
    assert.match(fields[3]!, /^[0-9A-F]{32}$/);
    assert.equal(fields[4], 'unknown');
    assert.equal(fields[5], `/CN=${cn}`);
    const enddate = openssl(['x509', '-in', issued.certPath, '-noout', '-enddate']).stdout.trim();
    assert.equal(new Date(enddate.slice('notAfter='.length)).getTime(), parseIndex(`${line}\n`)[0]!.expiry.getTime());
  }
  assert.notEqual((await readFile(join(dir, 'serial'), 'utf8')).trim(), b.serial);
});

test('client certificate roles round-trip through the private extension', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  const roles = ['app_rw', 'reporting', 'ünïcode'];
  const r = await issueClientCertificate({ dir, name: 'alice', roles, sans: ['email:alice@example.com', 'URI:spiffe://corp/alice'] });
  const pem = await readFile(r.certPath, 'utf8');
  assert.deepEqual(readRolesFromCertificate(pem), roles);
  const id = certificateIdentity(pem);
  assert.deepEqual(id.roles, roles);
  assert.equal(id.commonName, 'alice');
  assert.equal(id.subject, 'CN=alice');
  assert.equal(id.issuer, 'CN=pgseal CA');
  assert.deepEqual(id.emails, ['alice@example.com']);
  assert.deepEqual(id.uris, ['spiffe://corp/alice']);
  assert.equal(id.serial, r.serial);
  const fp = openssl(['x509', '-in', r.certPath, '-noout', '-fingerprint', '-sha256']).stdout;
  assert.equal(id.fingerprintSha256, fp.trim().split('=')[1]!.replace(/:/g, '').toLowerCase());
  // OpenSSL sees the full 128-bit OID arc and a DER SEQUENCE OF UTF8String.
  const text = openssl(['x509', '-in', r.certPath, '-noout', '-text']).stdout;
  assert.match(text, /2\.25\.261686005800137959858125943618818898508: \n/);
});

test('a client certificate without roles has no roles extension', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  const r = await issueClientCertificate({ dir, name: 'norole', roles: [] });
  assert.deepEqual(readRolesFromCertificate(await readFile(r.certPath, 'utf8')), []);
  assert.doesNotMatch(openssl(['x509', '-in', r.certPath, '-noout', '-text']).stdout, /2\.25\./);
});

test('a duplicate valid name is refused, and nothing is written', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  await issueClientCertificate({ dir, name: 'alice', roles: ['a'] });
  const index = await readFile(join(dir, 'index.txt'), 'utf8');
  await assert.rejects(issueClientCertificate({ dir, name: 'alice', roles: ['b'] }), (err: unknown) => {
    assert.ok(err instanceof PgsealError);
    assert.equal(err.code, 'pki_error');
    assert.match(err.message, /valid certificate named "alice" exists/);
    return true;
  });
  await assert.rejects(issueServerCertificate({ dir, name: 'alice', sans: ['DNS:x'] }), PgsealError);
  assert.equal(await readFile(join(dir, 'index.txt'), 'utf8'), index);
});

test('an expired certificate of the same name is retired to expired/ and marked E', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  const old = await issueClientCertificate({ dir, name: 'alice', roles: ['a'] });
  const index = join(dir, 'index.txt');
  await writeFile(index, (await readFile(index, 'utf8')).replace(/^V\t\d{12}Z/, 'V\t200101000000Z'));
  const fresh = await issueClientCertificate({ dir, name: 'alice', roles: ['b'] });
  const entries = parseIndex(await readFile(index, 'utf8'));
  assert.deepEqual(entries.map((e) => [e.status, e.serial]), [['E', old.serial], ['V', fresh.serial]]);
  assert.deepEqual(readRolesFromCertificate(await readFile(join(dir, 'expired', 'certs_by_serial', `${old.serial}.crt`), 'utf8')), ['a']);
  assert.deepEqual(readRolesFromCertificate(await readFile(fresh.certPath, 'utf8')), ['b']);
});

test('bad names, SANs, roles and days are refused', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  const bad = [
    issueClientCertificate({ dir, name: '../evil', roles: [] }),
    issueClientCertificate({ dir, name: 'ca', roles: [] }),
    issueClientCertificate({ dir, name: 'x', roles: ['a'.repeat(64)] }),
    issueClientCertificate({ dir, name: 'x', roles: ['bad\nrole'] }),
    issueClientCertificate({ dir, name: 'x', roles: [], days: 0 }),
    issueServerCertificate({ dir, name: 's', sans: [] }),
    issueServerCertificate({ dir, name: 's', sans: ['IP:999.1.1.1'] }),
    issueServerCertificate({ dir, name: 's', sans: ['localhost'] }),
  ];
  for (const p of bad) await assert.rejects(p, PgsealError);
  assert.equal(await readFile(join(dir, 'index.txt'), 'utf8'), '');
});

test('leaf validity never outlives the CA', async (t) => {
  const dir = await tempDir(t);
  const ca = await initCa({ dir, days: 10 });
  const r = await issueServerCertificate({ dir, name: 's', sans: ['DNS:localhost'], days: 825 });
  const caEnd = openssl(['x509', '-in', ca.certPath, '-noout', '-enddate']).stdout.trim();
  assert.equal(r.notAfter.getTime(), new Date(caEnd.slice('notAfter='.length)).getTime());
});

test('concurrent issuance in one store is serialised by the store lock', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  const names = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
  const issued = await Promise.all(names.map((name) => issueClientCertificate({ dir, name, roles: [name] })));
  const entries = parseIndex(await readFile(join(dir, 'index.txt'), 'utf8'));
  assert.equal(entries.length, names.length);
  assert.deepEqual(new Set(entries.map((e) => e.serial)), new Set(issued.map((i) => i.serial)));
  assert.deepEqual(entries.map((e) => e.subject).sort(), names.map((n) => `/CN=${n}`));
  await assert.rejects(stat(join(dir, '.lock')), { code: 'ENOENT' });
});
