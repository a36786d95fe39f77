import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { tlsServerEndPoint } from '../../src/auth/index.js';
import { PgsealError } from '../../src/errors.js';
import { assertPgsealError, makeCertificate, withTempDir } from './helpers.js';

// node-postgres' own DER walk, as an independent check of which digest a certificate implies.
const pgCertSignatures = createRequire(import.meta.url)('pg/lib/crypto/cert-signatures.js') as {
  signatureAlgorithmHashFromCertificate(der: Buffer): string;
};

interface Case {
  name: string;
  der: Buffer;
  hash: 'sha224' | 'sha256' | 'sha384' | 'sha512';
}

const certs = withTempDir((dir): { cases: Case[]; ed25519: Buffer } => {
  const rsaKey = join(dir, 'rsa.pem');
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', rsaKey], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const ec = (curve: string): string[] => ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-keyout', join(dir, `${curve}.pem`)];
  const pss = ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'];
  const make = (name: string, hash: Case['hash'], args: string[]): Case => ({ name, hash, der: makeCertificate(dir, name, args) });
  return {
    cases: [
      make('ecdsa-p256-sha256', 'sha256', [...ec('P-256'), '-sha256']),
      make('ecdsa-p384-sha384', 'sha384', [...ec('P-384'), '-sha384']),
      make('ecdsa-p256-sha512', 'sha512', [...ec('P-256'), '-sha512']),
      make('ecdsa-p256-sha1', 'sha256', [...ec('P-256'), '-sha1']), // SHA-1 → SHA-256
      make('rsa-sha256', 'sha256', ['-key', rsaKey, '-sha256']),
      make('rsa-sha384', 'sha384', ['-key', rsaKey, '-sha384']),
      make('rsa-sha224', 'sha224', ['-key', rsaKey, '-sha224']),
      make('rsa-sha1', 'sha256', ['-key', rsaKey, '-sha1']), // SHA-1 → SHA-256
      make('rsa-pss-sha384', 'sha384', ['-key', rsaKey, '-sha384', ...pss]),
      make('rsa-pss-sha256', 'sha256', ['-key', rsaKey, '-sha256', ...pss]),
    ],
    ed25519: makeCertificate(dir, 'ed25519', ['-newkey', 'ed25519', '-keyout', join(dir, 'ed.pem')]),
  };
});

test('tls-server-end-point hashes the DER with the signature digest (SHA-256 for SHA-1)', () => {
  for (const c of certs.cases) {
    const expected = createHash(c.hash).update(c.der).digest();
    assert.ok(tlsServerEndPoint(c.der).equals(expected), c.name);
  }
});

test('the digest agrees with node-postgres for every non-PSS certificate', () => {
  for (const c of certs.cases.filter((x) => !x.name.startsWith('rsa-pss'))) {
    const pgHash = pgCertSignatures.signatureAlgorithmHashFromCertificate(c.der);
    const mapped = pgHash === 'SHA-1' || pgHash === 'MD5' ? 'sha256' : pgHash.replace('-', '').toLowerCase();
    assert.equal(mapped, c.hash, c.name);
  }
});

test('an ECDSA P-256 certificate binds to SHA-256 of its DER (32 bytes)', () => {
  const der = certs.cases[0]!.der;
  assert.equal(tlsServerEndPoint(der).length, 32);
  assert.ok(tlsServerEndPoint(der).equals(createHash('sha256').update(der).digest()));
});

test('Ed25519 certificates have no tls-server-end-point', () => {
  assertPgsealError(() => tlsServerEndPoint(certs.ed25519), 'unsupported_feature', /Ed25519/);
});

test('bytes that are not a DER certificate raise PgsealError', () => {
  const der = certs.cases[0]!.der;
  const inputs = [
    Buffer.alloc(0),
    Buffer.from([0x30]),
    Buffer.from([0x30, 0x80, 0x00, 0x00]), // indefinite length
    Buffer.from('-----BEGIN CERTIFICATE-----'),
    der.subarray(0, der.length - 1),
    Buffer.concat([der, Buffer.from([0])]),
  ];
  for (const input of inputs) assertPgsealError(() => tlsServerEndPoint(input));
  // Any single-byte change either leaves a parseable certificate or raises PgsealError, never another error.
  for (let i = 0; i < Math.min(der.length, 400); i++) {
    const mangled = Buffer.from(der);
    mangled[i] ^= 0xff;
    try {
      tlsServerEndPoint(mangled);
    } catch (err) {
      assert.ok(err instanceof PgsealError, `byte ${i}: ${String(err)}`);
    }
  }
});
