// Shared fixtures for test/auth: RFC 7677 vector, certificates made with openssl, node-postgres'
// independent SCRAM client, and a seeded byte generator for fuzzing.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { PgsealError, type PgsealErrorCode } from '../../src/errors.js';

/** RFC7677 is the SCRAM-SHA-256 exchange of RFC 7677 §3. */
export const RFC7677 = {
  password: 'pencil',
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  iterations: 4096,
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
} as const;

/** makeCertificate runs `openssl req -x509` with extra arguments and returns the DER certificate. */
export function makeCertificate(dir: string, name: string, args: string[]): Buffer {
  const out = join(dir, `${name}.der`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-nodes', '-subj', `/CN=${name}`, '-days', '1', '-outform', 'DER', '-out', out, ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return readFileSync(out);
}

/** withTempDir runs fn with a fresh directory, removed afterwards. */
export function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'pgseal-auth-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** ecdsaP256Certificate returns a fresh self-signed ECDSA P-256 / SHA-256 certificate (DER). */
export function ecdsaP256Certificate(): Buffer {
  return withTempDir((dir) =>
    makeCertificate(dir, 'p256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-sha256', '-keyout', join(dir, 'k.pem')]),
  );
}

/** PgSasl is the part of node-postgres' SASL client (pg/lib/crypto/sasl.js) the tests drive. */
export interface PgSasl {
  startSession(
    mechanisms: string[],
    stream?: unknown,
  ): { mechanism: string; response: string; clientNonce: string; message: string };
  continueSession(session: object, password: string, serverData: string, stream?: unknown): Promise<void>;
  finalizeSession(session: object, serverData: string): void;
}

/** pgSasl is node-postgres' SCRAM client: an implementation independent of ours. */
export const pgSasl = createRequire(import.meta.url)('pg/lib/crypto/sasl.js') as PgSasl;

/** fakeTlsStream is the little of a TLSSocket that node-postgres reads for channel binding. */
export function fakeTlsStream(certDer: Buffer): object {
  return { getPeerCertificate: () => ({ raw: certDer }) };
}

/** assertPgsealError asserts fn throws a PgsealError with the given code (any code when omitted). */
export function assertPgsealError(fn: () => unknown, code?: PgsealErrorCode, message?: RegExp): PgsealError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof PgsealError, `expected a PgsealError, got ${String(caught)}`);
  if (code !== undefined) assert.equal(caught.code, code, caught.message);
  if (message !== undefined) assert.match(caught.message, message);
  return caught;
}

/** seededBytes returns a deterministic pseudo-random generator of byte strings (xorshift32). */
export function seededBytes(seed: number): (length: number) => Buffer {
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  return (length) => {
    const b = Buffer.alloc(length);
    for (let i = 0; i < length; i++) b[i] = next() & 0xff;
    return b;
  };
}
