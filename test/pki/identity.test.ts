import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { PgsealError } from '../../src/errors.js';
import { certificateIdentity, readRolesFromCertificate } from '../../src/pki/index.js';
import { escapeRfc4514, parseSan, parseSans, validateEntityName } from '../../src/pki/names.js';
import { decodePem } from '../../src/pki/pem.js';
import { openssl, tempDir } from './helpers.js';

test('certificateIdentity reads a certificate made by OpenSSL: RFC 4514 DN, SANs, fingerprint, serial', async (t) => {
  const dir = await tempDir(t);
  const [key, cert] = [join(dir, 'k.pem'), join(dir, 'c.pem')];
  const made = openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-keyout', key, '-out', cert, '-set_serial', '0x00ff',
    '-subj', '/C=DE/O=Acme, Inc./OU=db+UID=u1/CN= alice#1 ',
    '-multivalue-rdn',
    '-addext', 'subjectAltName=email:alice@example.com,URI:spiffe://acme/alice,DNS:a.example',
  ]);
  assert.equal(made.status, 0, made.output);
  const pem = await readFile(cert, 'utf8');
  const id = certificateIdentity(pem);
  assert.equal(id.commonName, ' alice#1 ');
  assert.equal(id.subject, 'CN=\\ alice#1\\ ,OU=db+UID=u1,O=Acme\\, Inc.,C=DE');
  assert.equal(id.issuer, id.subject);
  assert.deepEqual(id.emails, ['alice@example.com']);
  assert.deepEqual(id.uris, ['spiffe://acme/alice']);
  assert.deepEqual(id.dnsNames, ['a.example']);
  assert.equal(id.serial, 'FF');
  assert.deepEqual(id.roles, []);
  const node = new X509Certificate(pem);
  assert.equal(id.fingerprintSha256, node.fingerprint256.replace(/:/g, '').toLowerCase());
  // Every input form gives the same answer.
  assert.deepEqual(certificateIdentity(decodePem(pem, 'CERTIFICATE')), id);
  assert.deepEqual(certificateIdentity(node), id);
  assert.deepEqual(readRolesFromCertificate(node), []);
});

test('certificateIdentity rejects what is not a certificate', () => {
  assert.throws(() => certificateIdentity('hello'), PgsealError);
  assert.throws(() => certificateIdentity(Uint8Array.of(0x30, 0x03, 1, 2, 3)), PgsealError);
});

test('escapeRfc4514 escapes specials, a leading # or space and a trailing space (RFC 4514 2.4)', () => {
  assert.equal(escapeRfc4514('a,b+c"d\\e<f>g;h'), 'a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h');
  assert.equal(escapeRfc4514('#x'), '\\#x');
  assert.equal(escapeRfc4514(' x '), '\\ x\\ ');
  assert.equal(escapeRfc4514('a#b c'), 'a#b c');
  assert.equal(escapeRfc4514('nul\0'), 'nul\\00');
});

test('parseSan accepts DNS, IP (v4 and v6), email and URI; rejects the rest', () => {
  assert.deepEqual(parseSans(['DNS:LocalHost,IP:127.0.0.1', 'ip:::1']), [
    { type: 'dns', value: 'localhost' },
    { type: 'ip', value: '127.0.0.1' },
    { type: 'ip', value: '::1' },
  ]);
  assert.deepEqual(parseSan('DNS:*.db.example'), { type: 'dns', value: '*.db.example' });
  assert.deepEqual(parseSan('email:a@b.c'), { type: 'email', value: 'a@b.c' });
  assert.deepEqual(parseSan('URI:spiffe://x/y'), { type: 'url', value: 'spiffe://x/y' });
  for (const bad of ['localhost', 'DNS:', 'DNS:bad host', 'DNS:a..b', 'IP:1.2.3', 'email:nope', 'URI:not a uri', 'X400:x']) {
    assert.throws(() => parseSan(bad), PgsealError, bad);
  }
});

test('validateEntityName keeps names safe as file names and reserves "ca"', () => {
  for (const ok of ['alice', 'alice@example.com', 'db-proxy_1.local', 'A']) assert.equal(validateEntityName(ok), ok);
  for (const bad of ['', '.hidden', '../x', 'a/b', 'a b', 'ca', 'CA', 'x'.repeat(65), '-x']) {
    assert.throws(() => validateEntityName(bad), PgsealError, bad);
  }
});
