import { ProtocolError } from './errors.js';
import { MessageReader } from './reader.js';
import { MessageWriter } from './writer.js';

/** MAX_STARTUP_PACKET is PostgreSQL's limit on a startup packet's length (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_PACKET = 10_000;

/** Request codes sent in place of a protocol version (Message Formats: SSLRequest, GSSENCRequest, CancelRequest). */
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;

/** StartupPacket is the first untyped packet of a connection, decoded. */
export type StartupPacket =
  | { kind: 'SSLRequest' }
  | { kind: 'GSSENCRequest' }
  | { kind: 'CancelRequest'; pid: number; secretKey: Buffer }
  | { kind: 'StartupMessage'; major: number; minor: number; params: Map<string, string>; protocolOptions: string[] };

/** decodeStartupPacket decodes a startup-phase packet body (after its 4-byte length). */
export function decodeStartupPacket(body: Buffer): StartupPacket {
  const r = new MessageReader(body);
  const code = r.int32();
  if (code === SSL_REQUEST_CODE) return r.end(), { kind: 'SSLRequest' };
  if (code === GSSENC_REQUEST_CODE) return r.end(), { kind: 'GSSENCRequest' };
  if (code === CANCEL_REQUEST_CODE) {
    const pid = r.int32();
    const secretKey = Buffer.from(r.rest());
    if (secretKey.length < 4 || secretKey.length > 256) {
      throw new ProtocolError('protocol_violation', 'invalid cancel key length');
    }
    return { kind: 'CancelRequest', pid, secretKey };
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) {
    throw new ProtocolError('unsupported_feature', `unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.0`);
  }
  return { kind: 'StartupMessage', major, minor, ...decodeStartupParams(r) };
}

function decodeStartupParams(r: MessageReader): { params: Map<string, string>; protocolOptions: string[] } {
  const params = new Map<string, string>();
  const protocolOptions: string[] = [];
  for (;;) {
    const key = r.cstring();
    if (key === '') break;
    const value = r.cstring();
    if (params.has(key)) throw new ProtocolError('startup_invalid', `duplicate startup parameter "${key}"`);
    if (key.startsWith('_pq_.')) protocolOptions.push(key);
    else params.set(key, value);
  }
  r.end();
  const user = params.get('user');
  if (!user) throw new ProtocolError('startup_invalid', 'no PostgreSQL user name specified in startup packet');
  if (!params.get('database')) params.set('database', user);
  return { params, protocolOptions };
}

/** encodeStartupMessage builds a protocol 3.0 StartupMessage from its parameters. */
export function encodeStartupMessage(params: Map<string, string>): Buffer {
  const w = new MessageWriter(null).int32(196608);
  for (const [k, v] of params) w.cstring(k).cstring(v);
  return w.byte(0).finish();
}

/** encodeSSLRequest builds the 8-byte SSLRequest packet. */
export function encodeSSLRequest(): Buffer {
  return new MessageWriter(null, 8).int32(SSL_REQUEST_CODE).finish();
}

/** encodeCancelRequest builds a CancelRequest for a backend's pid and secret key. */
export function encodeCancelRequest(pid: number, secretKey: Buffer): Buffer {
  return new MessageWriter(null, 16).int32(CANCEL_REQUEST_CODE).int32(pid).bytes(secretKey).finish();
}
