import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { PgsealError } from '../errors.js';
import { SCRAM_KEY_LENGTH, decodeBase64Strict, hmacSha256, parseIterationCount, sha256 } from './scram-common.js';

/** ScramVerifier is a role's stored SCRAM-SHA-256 secret, as in pg_authid.rolpassword (RFC 5802 §3). */
export interface ScramVerifier {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** ScramKeys are the keys derived from a password (RFC 5802 §3); clientKey never leaves memory. */
export interface ScramKeys {
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** SCRAM_MAX_VERIFIER_ITERATIONS bounds the iteration count we accept in a verifier. */
export const SCRAM_MAX_VERIFIER_ITERATIONS = 10_000_000;

/** SCRAM_DEFAULT_ITERATIONS is PostgreSQL's default scram_iterations. */
export const SCRAM_DEFAULT_ITERATIONS = 4096;

/** SCRAM_DEFAULT_SALT_LENGTH is PostgreSQL's SCRAM_DEFAULT_SALT_LEN. */
export const SCRAM_DEFAULT_SALT_LENGTH = 16;

const PREFIX = 'SCRAM-SHA-256$';

function invalid(detail: string): PgsealError {
  // The message names the defect only: the verifier is a password equivalent for the server side.
  return new PgsealError('auth_unavailable', `invalid SCRAM-SHA-256 verifier: ${detail}`);
}

function decodeKey(text: string, what: string): Buffer {
  const key = decodeBase64Strict(text);
  if (key === null) throw invalid(`${what} is not canonical base64`);
  if (key.length !== SCRAM_KEY_LENGTH) throw invalid(`${what} must be ${SCRAM_KEY_LENGTH} bytes`);
  return key;
}

/**
 * parseScramVerifier parses PostgreSQL's verifier text
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64 fields), strictly:
 * canonical integer iterations in 1..10,000,000, a non-empty salt, 32-byte keys.
 */
export function parseScramVerifier(s: string): ScramVerifier {
  if (!s.startsWith(PREFIX)) throw invalid('missing "SCRAM-SHA-256$" prefix');
  const parts = s.slice(PREFIX.length).split('$');
  if (parts.length !== 2) throw invalid('expected "$" between parameters and keys');
  const params = parts[0]!.split(':');
  const keys = parts[1]!.split(':');
  if (params.length !== 2) throw invalid('expected "<iterations>:<salt>"');
  if (keys.length !== 2) throw invalid('expected "<StoredKey>:<ServerKey>"');

  const iterations = parseIterationCount(params[0]!, SCRAM_MAX_VERIFIER_ITERATIONS);
  if (iterations === null) throw invalid(`iteration count must be an integer in 1..${SCRAM_MAX_VERIFIER_ITERATIONS}`);
  const salt = decodeBase64Strict(params[1]!);
  if (salt === null) throw invalid('salt is not canonical base64');
  if (salt.length === 0) throw invalid('salt is empty');
  return { iterations, salt, storedKey: decodeKey(keys[0]!, 'StoredKey'), serverKey: decodeKey(keys[1]!, 'ServerKey') };
}

/** formatScramVerifier writes a verifier in PostgreSQL's text form (inverse of parseScramVerifier). */
export function formatScramVerifier(v: ScramVerifier): string {
  const b64 = (b: Buffer): string => b.toString('base64');
  return `${PREFIX}${v.iterations}:${b64(v.salt)}$${b64(v.storedKey)}:${b64(v.serverKey)}`;
}

/**
 * normalizePassword stands in for SASLprep (RFC 4013) as UTF-8 NFKC.
 * Limitation: PostgreSQL's pg_saslprep also maps non-ASCII spaces to U+0020, deletes
 * "commonly mapped to nothing" characters (RFC 3454 B.1), and falls back to the raw bytes when
 * the password holds prohibited characters or is not UTF-8. ASCII passwords are unaffected;
 * others can yield a verifier PostgreSQL would not compute.
 */
function normalizePassword(password: string): Buffer {
  return Buffer.from(password.normalize('NFKC'), 'utf8');
}

/**
 * deriveScramKeys computes SaltedPassword = Hi(Normalize(password), salt, i) and from it
 * ClientKey, StoredKey = H(ClientKey) and ServerKey (RFC 5802 §3).
 */
export function deriveScramKeys(password: string, salt: Buffer, iterations: number): ScramKeys {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > SCRAM_MAX_VERIFIER_ITERATIONS) {
    throw invalid(`iteration count must be an integer in 1..${SCRAM_MAX_VERIFIER_ITERATIONS}`);
  }
  if (salt.length === 0) throw invalid('salt is empty');
  // Hi() is PBKDF2 with HMAC-SHA-256 and dkLen = 32 (RFC 5802 §2.2).
  const saltedPassword = pbkdf2Sync(normalizePassword(password), salt, iterations, SCRAM_KEY_LENGTH, 'sha256');
  const clientKey = hmacSha256(saltedPassword, 'Client Key');
  const serverKey = hmacSha256(saltedPassword, 'Server Key');
  return { clientKey, storedKey: sha256(clientKey), serverKey };
}

/** buildScramVerifier makes a verifier string from a password (for tests and tooling), like PostgreSQL's. */
export function buildScramVerifier(
  password: string,
  options: { salt?: Buffer; iterations?: number } = {},
): string {
  const salt = options.salt ?? randomBytes(SCRAM_DEFAULT_SALT_LENGTH);
  const iterations = options.iterations ?? SCRAM_DEFAULT_ITERATIONS;
  const { storedKey, serverKey } = deriveScramKeys(password, salt, iterations);
  return formatScramVerifier({ iterations, salt, storedKey, serverKey });
}
