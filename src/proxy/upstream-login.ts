import { ScramClientExchange, tlsServerEndPoint } from '../auth/index.js';
import {
  decodeAuthentication,
  decodeBackendKeyData,
  decodeErrorFields,
  encodeSASLInitialResponse,
  encodeSASLResponse,
  encodeStartupMessage,
} from '../protocol/index.js';
import type { ConnectedUpstream } from './upstream-connect.js';
import { UpstreamError } from './upstream-errors.js';

/** UpstreamCredentials is what pgseal logs in upstream with: a SCRAM client key and server key, never a password. */
export type UpstreamCredentials = { kind: 'scram'; clientKey: Buffer; serverKey: Buffer } | { kind: 'none' };

/** LoggedIn is an upstream session ready for queries: its real cancel key and the messages the client must see. */
export type LoggedIn = { pid: number; secretKey: Buffer; greeting: Buffer[]; readyForQuery: Buffer };

const MAX_AUTH_MESSAGE = 64 * 1024;

/**
 * loginUpstream sends the StartupMessage and answers the upstream's authentication request
 * with the credentials given. It returns after ReadyForQuery; an upstream ErrorResponse is
 * kept as bytes so the client sees PostgreSQL's own message.
 */
export async function loginUpstream(up: ConnectedUpstream, params: Map<string, string>, creds: UpstreamCredentials, timeoutMs: number): Promise<LoggedIn> {
  up.socket.write(encodeStartupMessage(params));
  const deadline = Date.now() + timeoutMs;
  const read = () => up.reader.readMessage(MAX_AUTH_MESSAGE, Math.max(1, deadline - Date.now()), 'the upstream login');
  let scram: ScramClientExchange | null = null;
  const greeting: Buffer[] = [];
  let key: { pid: number; secretKey: Buffer } | null = null;
  for (;;) {
    const { code, body } = await read().catch((err) => {
      throw new UpstreamError('upstream_unavailable', `upstream closed the connection during login: ${(err as Error).message}`, null, { cause: err });
    });
    const raw = frameOf(code, body);
    switch (code) {
      case 0x52 /* R */:
        scram = answerAuthentication(up, body, creds, scram);
        break;
      case 0x45 /* E */: {
        const f = decodeErrorFields(body);
        throw new UpstreamError('upstream_protocol', `upstream refused the login: ${f.code} ${f.message}`, raw);
      }
      case 0x4b /* K */:
        key = decodeBackendKeyData(body);
        break;
      case 0x76 /* v NegotiateProtocolVersion: we asked for 3.0, nothing to negotiate */:
        break;
      case 0x5a /* Z */:
        if (!key) throw new UpstreamError('upstream_protocol', 'upstream sent no BackendKeyData');
        return { ...key, greeting, readyForQuery: raw };
      default:
        greeting.push(raw); // ParameterStatus, NoticeResponse
    }
  }
}

function answerAuthentication(up: ConnectedUpstream, body: Buffer, creds: UpstreamCredentials, scram: ScramClientExchange | null): ScramClientExchange | null {
  const auth = decodeAuthentication(body);
  switch (auth.kind) {
    case 'Ok':
      return scram;
    case 'SASL': {
      if (creds.kind !== 'scram') throw new UpstreamError('upstream_protocol', 'upstream asked for SCRAM, but pgseal holds no SCRAM key for this role');
      const cb = up.peerCertificate ? tryEndPoint(up.peerCertificate) : null;
      const s = new ScramClientExchange({ clientKey: creds.clientKey, serverKey: creds.serverKey, channelBinding: cb });
      const mechanism = s.chooseMechanism(auth.mechanisms);
      up.socket.write(encodeSASLInitialResponse(mechanism, s.clientFirst()));
      return s;
    }
    case 'SASLContinue':
      if (!scram) throw new UpstreamError('upstream_protocol', 'unexpected SASL continuation from upstream');
      up.socket.write(encodeSASLResponse(scram.handleServerFirst(auth.data)));
      return scram;
    case 'SASLFinal':
      if (!scram) throw new UpstreamError('upstream_protocol', 'unexpected SASL final message from upstream');
      scram.handleServerFinal(auth.data);
      return scram;
    default:
      throw new UpstreamError(
        'upstream_protocol',
        `upstream requested ${auth.kind === 'Other' ? `authentication method ${auth.code}` : auth.kind}; pgseal logs in upstream only with SCRAM-SHA-256 (it never learns passwords)`,
      );
  }
}

function tryEndPoint(cert: Buffer): Buffer | null {
  try {
    return tlsServerEndPoint(cert);
  } catch {
    return null; // a certificate without a hash (Ed25519): no channel binding
  }
}

function frameOf(code: number, body: Buffer): Buffer {
  const b = Buffer.allocUnsafe(body.length + 5);
  b[0] = code;
  b.writeInt32BE(body.length + 4, 1);
  body.copy(b, 5);
  return b;
}
