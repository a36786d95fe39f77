import { hkdfSync } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { ScramServerExchange, parseScramVerifier, type ScramVerifier } from '../auth/index.js';
import { PgsealError, PrivateReasonError } from '../errors.js';
import { ClientFacingError } from './client-errors.js';
import { decodeSASLInitialResponse, encodeAuthenticationSASL, encodeAuthenticationSASLContinue, ProtocolError } from '../protocol/index.js';
import type { PacketReader } from './packet-reader.js';

/** VerifierSource yields a role's stored SCRAM secret (e.g. from a PgBouncer-style auth file). */
export interface VerifierSource {
  secretFor(role: string): Promise<string | undefined> | string | undefined;
}

/** ScramLogin is a proven client: the key recovered from its proof and the server-final to send after upstream login. */
export type ScramLogin = { verifier: ScramVerifier; clientKey: Buffer; serverFinal: Buffer };

const MAX_SASL_MESSAGE = 4096;

/**
 * authenticateClient runs SCRAM-SHA-256(-PLUS) with the client against the role's verifier
 * and returns the ClientKey recovered from the proof; the password is never seen. A role
 * without a usable verifier runs against a decoy and fails as a wrong
 * password does (LoginFailedError).
 */
export async function authenticateClient(
  socket: Duplex,
  reader: PacketReader,
  user: string,
  source: VerifierSource,
  channelBinding: Buffer | null,
  timeoutMs: number,
  decoy: Decoy,
): Promise<ScramLogin> {
  const { verifier, missing } = lookupVerifier(await source.secretFor(user), user, decoy);
  try {
    const scram = new ScramServerExchange({ verifier, channelBinding });
    socket.write(encodeAuthenticationSASL(scram.mechanisms()));
    const first = await readSaslMessage(reader, timeoutMs);
    const { mechanism, data } = decodeSASLInitialResponse(first);
    socket.write(encodeAuthenticationSASLContinue(scram.handleClientFirst(mechanism, data)));
    const final = await readSaslMessage(reader, timeoutMs);
    const login = scram.handleClientFinal(final);
    if (missing !== null) throw new LoginFailedError(user, missing); // not reached: a decoy's keys come from a secret the client does not know
    return { verifier, clientKey: login.clientKey, serverFinal: login.serverFinal };
  } catch (err) {
    if (err instanceof PgsealError && err.code === 'auth_failed' && !(err instanceof PrivateReasonError)) throw new LoginFailedError(user, missing ?? err.message);
    // Any other failure (a client that leaves, a malformed message) reads the same to the client
    // with a decoy as without; the record says that the role had no verifier, too.
    if (missing !== null && err instanceof PgsealError && !(err instanceof PrivateReasonError) && !(err instanceof ClientFacingError)) {
      throw new PrivateReasonError(err.code, err.message, `${err.message} (${missing})`, { cause: err });
    }
    throw err;
  }
}

/**
 * LoginFailedError is a failed SCRAM login as the client sees it, the same for a wrong password
 * and for a role pgseal cannot log in (28P01, as PostgreSQL words it); `reason` says which, for
 * the audit record and the operational log only.
 */
export class LoginFailedError extends PrivateReasonError {
  constructor(user: string, reason: string) {
    super('auth_failed', `password authentication failed for user "${user}"`, reason);
  }
}

/**
 * Decoy is what the SCRAM exchange of a role without a usable verifier is made of: a secret the
 * salt and keys are derived from (policy.ts takes it from pgseal's TLS key, so a role's decoy
 * salt stays the same across restarts and instances, as a stored verifier's does, until the key
 * is replaced), and the iteration count and salt length of the real verifiers.
 */
export type Decoy = { secret: Buffer; iterations: number; saltLength: number };

// A role without a usable verifier gets a decoy instead of an error at once, as PostgreSQL's
// mock authentication does: otherwise any client could list the roles pgseal holds verifiers
// for. The exchange then runs as for a real role and fails at the proof.
function decoyVerifier(decoy: Decoy, user: string): ScramVerifier {
  const derive = (what: string, length: number) => Buffer.from(hkdfSync('sha256', decoy.secret, Buffer.from(user, 'utf8'), `decoy ${what}`, length));
  return { iterations: decoy.iterations, salt: derive('salt', decoy.saltLength), storedKey: derive('stored', 32), serverKey: derive('server', 32) };
}

function lookupVerifier(secret: string | undefined, user: string, decoy: Decoy): { verifier: ScramVerifier; missing: string | null } {
  if (secret === undefined) return { verifier: decoyVerifier(decoy, user), missing: `pgseal has no SCRAM verifier for role "${user}" (add it to the auth file, or configure auth.auth_query)` };
  if (!secret.startsWith('SCRAM-SHA-256$')) return { verifier: decoyVerifier(decoy, user), missing: `the stored secret of role "${user}" is not a SCRAM-SHA-256 verifier` };
  try {
    return { verifier: parseScramVerifier(secret), missing: null };
  } catch (err) {
    if (!(err instanceof PgsealError)) throw err;
    return { verifier: decoyVerifier(decoy, user), missing: `role "${user}": ${err.message}` };
  }
}

async function readSaslMessage(reader: PacketReader, timeoutMs: number): Promise<Buffer> {
  const { code, body } = await reader.readMessage(MAX_SASL_MESSAGE, timeoutMs, 'SASL response');
  if (code !== 0x70 /* p */) throw new ProtocolError('protocol_violation', `expected SASL response, got message type "${String.fromCharCode(code)}"`);
  return body;
}
