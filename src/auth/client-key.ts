import { createHash, timingSafeEqual } from 'node:crypto';
import { PgsealError } from '../errors.js';
import { deriveScramKeys, parseScramVerifier, type ScramVerifier } from './scram-verifier.js';

/** SCRAM_CLIENT_KEY_PREFIX marks a stored SCRAM client key (pgseal's own format; a password equivalent for one role). */
export const SCRAM_CLIENT_KEY_PREFIX = 'SCRAM-SHA-256-CLIENT-KEY$';

/** ScramClientKey is what pgseal needs to log in as a role without its password. */
export type ScramClientKey = { iterations: number; salt: Buffer; clientKey: Buffer; serverKey: Buffer };

/** parseScramClientKey parses `SCRAM-SHA-256-CLIENT-KEY$iter:salt$ClientKey:ServerKey` (base64 fields). */
export function parseScramClientKey(s: string): ScramClientKey {
  if (!s.startsWith(SCRAM_CLIENT_KEY_PREFIX)) throw new PgsealError('auth_unavailable', 'not a SCRAM client key');
  // Same layout as a verifier, with ClientKey in place of StoredKey.
  const v = parseScramVerifier(`SCRAM-SHA-256$${s.slice(SCRAM_CLIENT_KEY_PREFIX.length)}`);
  return { iterations: v.iterations, salt: v.salt, clientKey: v.storedKey, serverKey: v.serverKey };
}

/** formatScramClientKey renders a client key in the form parseScramClientKey reads. */
export function formatScramClientKey(k: ScramClientKey): string {
  return `${SCRAM_CLIENT_KEY_PREFIX}${k.iterations}:${k.salt.toString('base64')}$${k.clientKey.toString('base64')}:${k.serverKey.toString('base64')}`;
}

/** clientKeyFromPassword derives a role's client key from its password and verifier, refusing a password that does not match. */
export function clientKeyFromPassword(password: string, verifierText: string): ScramClientKey {
  const v: ScramVerifier = parseScramVerifier(verifierText);
  const keys = deriveScramKeys(password, v.salt, v.iterations);
  const stored = createHash('sha256').update(keys.clientKey).digest();
  if (!timingSafeEqual(stored, v.storedKey)) throw new PgsealError('auth_failed', 'the password does not match the verifier');
  return { iterations: v.iterations, salt: v.salt, clientKey: keys.clientKey, serverKey: keys.serverKey };
}
