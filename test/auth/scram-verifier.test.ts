import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildScramVerifier,
  deriveScramKeys,
  formatScramVerifier,
  parseScramVerifier,
} from '../../src/auth/index.js';
import { RFC7677, assertPgsealError } from './helpers.js';

const key32 = Buffer.alloc(32, 1).toString('base64');
const key31 = Buffer.alloc(31, 1).toString('base64');

test('buildScramVerifier matches the RFC 7677 keys and parses back', () => {
  const text = buildScramVerifier(RFC7677.password, { salt: RFC7677.salt, iterations: RFC7677.iterations });
  assert.ok(text.startsWith('SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$'));
  const v = parseScramVerifier(text);
  const keys = deriveScramKeys(RFC7677.password, RFC7677.salt, RFC7677.iterations);
  assert.equal(v.iterations, 4096);
  assert.ok(v.salt.equals(RFC7677.salt));
  assert.ok(v.storedKey.equals(keys.storedKey));
  assert.ok(v.serverKey.equals(keys.serverKey));
  assert.equal(formatScramVerifier(v), text);
});

test('buildScramVerifier defaults to 4096 iterations and a fresh 16-byte salt', () => {
  const a = parseScramVerifier(buildScramVerifier('pw'));
  const b = parseScramVerifier(buildScramVerifier('pw'));
  assert.equal(a.iterations, 4096);
  assert.equal(a.salt.length, 16);
  assert.ok(!a.salt.equals(b.salt));
  assert.ok(!a.storedKey.equals(b.storedKey));
});

test('passwords are NFKC-normalised before hashing', () => {
  // U+212B ANGSTROM SIGN normalises to U+00C5.
  const salt = Buffer.from('salt');
  assert.equal(buildScramVerifier('\u212B', { salt, iterations: 1 }), buildScramVerifier('\u00C5', { salt, iterations: 1 }));
  assert.notEqual(buildScramVerifier('a', { salt, iterations: 1 }), buildScramVerifier('b', { salt, iterations: 1 }));
});

test('parseScramVerifier accepts the bounds and rejects everything else without echoing the input', () => {
  assert.equal(parseScramVerifier(`SCRAM-SHA-256$1:QQ==$${key32}:${key32}`).iterations, 1);
  assert.equal(parseScramVerifier(`SCRAM-SHA-256$10000000:QQ==$${key32}:${key32}`).iterations, 10_000_000);
  const bad = [
    '',
    'md5abcdef',
    `SCRAM-SHA-1$4096:QQ==$${key32}:${key32}`,
    `SCRAM-SHA-256$0:QQ==$${key32}:${key32}`,
    `SCRAM-SHA-256$04096:QQ==$${key32}:${key32}`,
    `SCRAM-SHA-256$+4096:QQ==$${key32}:${key32}`,
    `SCRAM-SHA-256$4096.0:QQ==$${key32}:${key32}`,
    `SCRAM-SHA-256$10000001:QQ==$${key32}:${key32}`,
    `SCRAM-SHA-256$99999999999:QQ==$${key32}:${key32}`,
    `SCRAM-SHA-256$4096:$${key32}:${key32}`,
    `SCRAM-SHA-256$4096:QR==$${key32}:${key32}`, // non-zero pad bits
    `SCRAM-SHA-256$4096:QQ$${key32}:${key32}`, // missing padding
    `SCRAM-SHA-256$4096:QQ==$${key31}:${key32}`,
    `SCRAM-SHA-256$4096:QQ==$${key32}:${key31}`,
    `SCRAM-SHA-256$4096:QQ==$${key32}:${key32}:${key32}`,
    `SCRAM-SHA-256$4096:QQ==$${key32}`,
    `SCRAM-SHA-256$4096:QQ==$${key32}:${key32}$`,
    `SCRAM-SHA-256$4096$${key32}:${key32}`,
    ` SCRAM-SHA-256$4096:QQ==$${key32}:${key32}`,
    `SCRAM-SHA-256$4096:QQ==$${key32}:${key32}\n`,
  ];
  for (const s of bad) {
    const err = assertPgsealError(() => parseScramVerifier(s), 'auth_unavailable', /^invalid SCRAM-SHA-256 verifier: /);
    assert.ok(!err.message.includes(key32) && !err.message.includes('QQ=='), err.message);
  }
});

test('deriveScramKeys refuses an empty salt and out-of-range iterations', () => {
  assertPgsealError(() => deriveScramKeys('pw', Buffer.alloc(0), 4096), 'auth_unavailable');
  assertPgsealError(() => deriveScramKeys('pw', Buffer.from('s'), 0), 'auth_unavailable');
  assertPgsealError(() => deriveScramKeys('pw', Buffer.from('s'), 1.5), 'auth_unavailable');
});
