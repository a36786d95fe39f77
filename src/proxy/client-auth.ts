import type { Duplex } from 'node:stream';
import { ScramServerExchange, parseScramVerifier, type ScramVerifier } from '../auth/index.js';
import { decodeSASLInitialResponse, encodeAuthenticationSASL, encodeAuthenticationSASLContinue, ProtocolError, SQLSTATE } from '../protocol/index.js';
import { ClientFacingError } from './client-errors.js';
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
 * and returns the ClientKey recovered from the proof; the password is never seen.
 */
export async function authenticateClient(
  socket: Duplex,
  reader: PacketReader,
  user: string,
  source: VerifierSource,
  channelBinding: Buffer | null,
  timeoutMs: number,
): Promise<ScramLogin> {
  const verifier = lookupVerifier(await source.secretFor(user), user);
  const scram = new ScramServerExchange({ verifier, channelBinding });
  socket.write(encodeAuthenticationSASL(scram.mechanisms()));
  const first = await readSaslMessage(reader, timeoutMs);
  const { mechanism, data } = decodeSASLInitialResponse(first);
  socket.write(encodeAuthenticationSASLContinue(scram.handleClientFirst(mechanism, data)));
  const final = await readSaslMessage(reader, timeoutMs);
  const { serverFinal, clientKey } = scram.handleClientFinal(final);
  return { verifier, clientKey, serverFinal };
}

function lookupVerifier(secret: string | undefined, user: string): ScramVerifier {
  if (secret === undefined) {
    throw new ClientFacingError(SQLSTATE.invalidAuthorization, `pgseal has no SCRAM verifier for role "${user}"`, "Add the role's SCRAM-SHA-256 secret to pgseal's auth_file, or configure auth.auth_query.");
  }
  if (!secret.startsWith('SCRAM-SHA-256$')) {
    throw new ClientFacingError(SQLSTATE.invalidAuthorization, `role "${user}" has no SCRAM-SHA-256 verifier in pgseal's auth_file`);
  }
  return parseScramVerifier(secret);
}

async function readSaslMessage(reader: PacketReader, timeoutMs: number): Promise<Buffer> {
  const { code, body } = await reader.readMessage(MAX_SASL_MESSAGE, timeoutMs, 'SASL response');
  if (code !== 0x70 /* p */) throw new ProtocolError('protocol_violation', `expected SASL response, got message type "${String.fromCharCode(code)}"`);
  return body;
}
