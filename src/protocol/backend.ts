import { ProtocolError } from './errors.js';
import { MessageReader } from './reader.js';
import { MessageWriter } from './writer.js';

/** Authentication is a decoded backend 'R' message. */
export type Authentication =
  | { kind: 'Ok' }
  | { kind: 'CleartextPassword' }
  | { kind: 'MD5Password'; salt: Buffer }
  | { kind: 'SASL'; mechanisms: string[] }
  | { kind: 'SASLContinue'; data: Buffer }
  | { kind: 'SASLFinal'; data: Buffer }
  | { kind: 'Other'; code: number };

/** ErrorFields are the fields of an ErrorResponse or NoticeResponse, by field letter. */
export type ErrorFields = { severity: string; code: string; message: string; detail?: string; hint?: string };

/** decodeAuthentication decodes an Authentication ('R') body. */
export function decodeAuthentication(body: Buffer): Authentication {
  const r = new MessageReader(body);
  const code = r.int32();
  switch (code) {
    case 0:
      return { kind: 'Ok' };
    case 3:
      return { kind: 'CleartextPassword' };
    case 5:
      return { kind: 'MD5Password', salt: r.bytes(4) };
    case 10: {
      const mechanisms: string[] = [];
      for (let m = r.cstring(); m !== ''; m = r.cstring()) mechanisms.push(m);
      return { kind: 'SASL', mechanisms };
    }
    case 11:
      return { kind: 'SASLContinue', data: r.rest() };
    case 12:
      return { kind: 'SASLFinal', data: r.rest() };
    default:
      return { kind: 'Other', code };
  }
}

/** decodeErrorFields decodes the fields of an ErrorResponse ('E') or NoticeResponse ('N'). */
export function decodeErrorFields(body: Buffer): ErrorFields {
  const r = new MessageReader(body);
  const f: ErrorFields = { severity: '', code: '', message: '' };
  for (let t = r.byte(); t !== 0; t = r.byte()) {
    const v = r.cstring();
    if (t === 0x56 /* V */ || (t === 0x53 /* S */ && !f.severity)) f.severity = v;
    else if (t === 0x43 /* C */) f.code = v;
    else if (t === 0x4d /* M */) f.message = v;
    else if (t === 0x44 /* D */) f.detail = v;
    else if (t === 0x48 /* H */) f.hint = v;
  }
  return f;
}

/** decodeCommandComplete decodes a CommandComplete ('C') body into its tag. */
export function decodeCommandComplete(body: Buffer): string {
  return new MessageReader(body).cstring();
}

/** rowCountOfTag returns the row count a command tag reports ("INSERT 0 5" → 5), or null. */
export function rowCountOfTag(tag: string): number | null {
  const sp = tag.lastIndexOf(' ');
  if (sp < 0) return null;
  const n = Number(tag.slice(sp + 1));
  return Number.isSafeInteger(n) ? n : null;
}

/** decodeBackendKeyData decodes BackendKeyData ('K'): pid and secret key (4 bytes in 3.0, up to 256 in 3.2). */
export function decodeBackendKeyData(body: Buffer): { pid: number; secretKey: Buffer } {
  const r = new MessageReader(body);
  const pid = r.int32();
  const secretKey = Buffer.from(r.rest());
  if (secretKey.length < 4 || secretKey.length > 256) throw new ProtocolError('protocol_violation', 'invalid BackendKeyData');
  return { pid, secretKey };
}

/** decodeParameterStatus decodes a ParameterStatus ('S') body. */
export function decodeParameterStatus(body: Buffer): { name: string; value: string } {
  const r = new MessageReader(body);
  return { name: r.cstring(), value: r.cstring() };
}

/** encodeErrorResponse builds an ErrorResponse ('E'); severity FATAL or ERROR. */
export function encodeErrorResponse(e: { severity: 'FATAL' | 'ERROR'; code: string; message: string; detail?: string; hint?: string }): Buffer {
  const w = new MessageWriter('E');
  w.byte(0x53).cstring(e.severity).byte(0x56).cstring(e.severity).byte(0x43).cstring(e.code).byte(0x4d).cstring(e.message);
  if (e.detail) w.byte(0x44).cstring(e.detail);
  if (e.hint) w.byte(0x48).cstring(e.hint);
  return w.byte(0).finish();
}

/** encodeAuthenticationOk builds AuthenticationOk. */
export function encodeAuthenticationOk(): Buffer {
  return new MessageWriter('R', 9).int32(0).finish();
}

/** encodeAuthenticationSASL builds AuthenticationSASL with the offered mechanisms. */
export function encodeAuthenticationSASL(mechanisms: string[]): Buffer {
  const w = new MessageWriter('R').int32(10);
  for (const m of mechanisms) w.cstring(m);
  return w.byte(0).finish();
}

/** encodeAuthenticationSASLContinue builds AuthenticationSASLContinue. */
export function encodeAuthenticationSASLContinue(data: Buffer): Buffer {
  return new MessageWriter('R').int32(11).bytes(data).finish();
}

/** encodeAuthenticationSASLFinal builds AuthenticationSASLFinal. */
export function encodeAuthenticationSASLFinal(data: Buffer): Buffer {
  return new MessageWriter('R').int32(12).bytes(data).finish();
}

/** encodeBackendKeyData builds BackendKeyData. */
export function encodeBackendKeyData(pid: number, secretKey: Buffer): Buffer {
  return new MessageWriter('K', 16).int32(pid).bytes(secretKey).finish();
}

/** encodeNegotiateProtocolVersion builds NegotiateProtocolVersion ('v'): newest minor we speak and the options we ignore. */
export function encodeNegotiateProtocolVersion(minor: number, unrecognised: string[]): Buffer {
  const w = new MessageWriter('v').int32(minor).int32(unrecognised.length);
  for (const o of unrecognised) w.cstring(o);
  return w.finish();
}

/** decodeDataRow decodes a DataRow ('D') into its column values (null for SQL NULL). */
export function decodeDataRow(body: Buffer): Array<Buffer | null> {
  const r = new MessageReader(body);
  const n = r.int16();
  const cols: Array<Buffer | null> = [];
  for (let i = 0; i < n; i++) {
    const len = r.int32();
    cols.push(len === -1 ? null : r.bytes(len));
  }
  r.end();
  return cols;
}
