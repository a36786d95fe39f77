import { createHash, createHmac, randomBytes } from 'node:crypto';
import { PgsealError, type PgsealErrorCode } from '../errors.js';

// Shared building blocks of SCRAM-SHA-256 (RFC 5802, RFC 7677). Pure: no sockets, no logging.

/** SCRAM_SHA_256 is the mechanism name without channel binding (RFC 7677 §2). */
export const SCRAM_SHA_256 = 'SCRAM-SHA-256';

/** SCRAM_SHA_256_PLUS is the mechanism name with channel binding (RFC 7677 §2, RFC 5802 §6). */
export const SCRAM_SHA_256_PLUS = 'SCRAM-SHA-256-PLUS';

/** TLS_SERVER_END_POINT is the only channel-binding type PostgreSQL supports (RFC 5929 §4). */
export const TLS_SERVER_END_POINT = 'tls-server-end-point';

/** SCRAM_KEY_LENGTH is the byte length of SHA-256 keys, proofs and signatures. */
export const SCRAM_KEY_LENGTH = 32;

/** SCRAM_NONCE_RAW_LENGTH is how many random bytes a nonce holds (PostgreSQL's SCRAM_RAW_NONCE_LEN). */
export const SCRAM_NONCE_RAW_LENGTH = 18;

/** sha256 is H() of RFC 5802 §2.2. */
export function sha256(data: Buffer | string): Buffer {
  return createHash('sha256').update(data).digest();
}

/** hmacSha256 is HMAC(key, str) of RFC 5802 §2.2. */
export function hmacSha256(key: Buffer, data: Buffer | string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** xorBuffers is XOR of two equal-length octet strings (RFC 5802 §2.2). */
export function xorBuffers(a: Buffer, b: Buffer): Buffer {
  if (a.length !== b.length) throw new RangeError('xorBuffers: length mismatch');
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

// base64 = *base64-4 [base64-3 / base64-2] (RFC 5802 §7).
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * decodeBase64Strict decodes canonical base64 (RFC 4648 §4, padded, zero pad bits) or returns
 * null. Buffer.from(s, 'base64') is lenient; a lenient decoder lets different texts carry the
 * same bytes, which defeats byte-exact comparisons of signed messages.
 */
export function decodeBase64Strict(text: string): Buffer | null {
  if (!BASE64_RE.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}

/** isPrintableNonce tells whether text is a non-empty run of `printable` (RFC 5802 §7: 0x21-0x7E except ','). */
export function isPrintableNonce(text: string): boolean {
  return /^[\x21-\x2b\x2d-\x7e]+$/.test(text);
}

/** makeNonce returns `nonce` as text when given (tests), else base64 of 18 random bytes, as PostgreSQL and libpq do. */
export function makeNonce(nonce: Buffer | undefined, code: PgsealErrorCode): string {
  const text = nonce === undefined ? randomBytes(SCRAM_NONCE_RAW_LENGTH).toString('base64') : nonce.toString('latin1');
  if (!isPrintableNonce(text)) throw new PgsealError(code, 'SCRAM nonce must be printable ASCII without ","');
  return text;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * decodeScramText decodes a SCRAM message as strict UTF-8 (RFC 5802 §7), refusing NUL and
 * messages over maxBytes. Strict decoding without BOM stripping makes the text re-encode to
 * exactly the received bytes, so AuthMessage is computed over what the peer signed.
 */
export function decodeScramText(data: Buffer, maxBytes: number, code: PgsealErrorCode, what: string): string {
  if (data.length === 0) throw new PgsealError(code, `empty SCRAM ${what}`);
  if (data.length > maxBytes) throw new PgsealError(code, `SCRAM ${what} exceeds ${maxBytes} bytes`);
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    throw new PgsealError(code, `SCRAM ${what} is not valid UTF-8`);
  }
  if (text.includes('\0')) throw new PgsealError(code, `SCRAM ${what} contains a NUL byte`);
  return text;
}

/**
 * takeAttribute returns the value of `name=value`, or throws. Attribute values never contain
 * ',' in SCRAM (saslname escapes it as "=2C"; base64 and printable exclude it), so a message
 * splits on ',' into attributes (RFC 5802 §7).
 */
export function takeAttribute(part: string | undefined, name: string, code: PgsealErrorCode, what: string): string {
  if (part === undefined || !part.startsWith(`${name}=`)) {
    throw new PgsealError(code, `malformed SCRAM ${what}: expected attribute "${name}"`);
  }
  return part.slice(name.length + 1);
}

/** parseIterationCount parses a canonical decimal iteration count in 1..max, or returns null. */
export function parseIterationCount(text: string, max: number): number | null {
  if (!/^[1-9][0-9]{0,9}$/.test(text)) return null;
  const n = Number(text);
  return n <= max ? n : null;
}
