import { ProtocolError } from './errors.js';
import { MessageReader } from './reader.js';
import { MessageWriter } from './writer.js';

/** BindParameter is one Bind parameter value: null, or its bytes and format (0 text, 1 binary). */
export type BindParameter = { format: 0 | 1; value: Buffer | null };

/** Parse is the frontend 'P' message. */
export type Parse = { statement: string; query: string; paramTypes: number[] };
/** Bind is the frontend 'B' message. */
export type Bind = { portal: string; statement: string; params: BindParameter[]; resultFormats: number[] };
/** Execute is the frontend 'E' message. */
export type Execute = { portal: string; maxRows: number };
/** Close is the frontend 'C' message ('S' statement or 'P' portal). */
export type Close = { target: 'S' | 'P'; name: string };
/** FunctionCall is the frontend 'F' message. */
export type FunctionCall = { oid: number; args: BindParameter[] };

/** decodeQuery decodes a simple Query ('Q') body into its SQL text. */
export function decodeQuery(body: Buffer): string {
  const r = new MessageReader(body);
  const sql = r.cstring();
  r.end();
  return sql;
}

/** decodeParse decodes a Parse ('P') body. */
export function decodeParse(body: Buffer): Parse {
  const r = new MessageReader(body);
  const statement = r.cstring();
  const query = r.cstring();
  const n = r.int16();
  if (n < 0) throw new ProtocolError('protocol_violation', 'negative parameter type count');
  const paramTypes: number[] = [];
  for (let i = 0; i < n; i++) paramTypes.push(r.int32() >>> 0);
  r.end();
  return { statement, query, paramTypes };
}

function decodeFormats(r: MessageReader): number[] {
  const n = r.int16();
  if (n < 0) throw new ProtocolError('protocol_violation', 'negative format count');
  const formats: number[] = [];
  for (let i = 0; i < n; i++) {
    const f = r.int16();
    if (f !== 0 && f !== 1) throw new ProtocolError('protocol_violation', `unsupported format code ${f}`);
    formats.push(f);
  }
  return formats;
}

function decodeValues(r: MessageReader, formats: number[]): BindParameter[] {
  const n = r.int16();
  if (n < 0) throw new ProtocolError('protocol_violation', 'negative parameter count');
  if (formats.length > 1 && formats.length !== n) {
    throw new ProtocolError('protocol_violation', `bind message has ${formats.length} parameter formats but ${n} parameters`);
  }
  const params: BindParameter[] = [];
  for (let i = 0; i < n; i++) {
    const len = r.int32();
    const format = (formats.length === 0 ? 0 : formats.length === 1 ? formats[0] : formats[i]) as 0 | 1;
    if (len < -1) throw new ProtocolError('protocol_violation', 'invalid parameter length');
    params.push({ format, value: len === -1 ? null : r.bytes(len) });
  }
  return params;
}

/** decodeBind decodes a Bind ('B') body; parameter values are views into the body. */
export function decodeBind(body: Buffer): Bind {
  const r = new MessageReader(body);
  const portal = r.cstring();
  const statement = r.cstring();
  const params = decodeValues(r, decodeFormats(r));
  const resultFormats = decodeFormats(r);
  r.end();
  return { portal, statement, params, resultFormats };
}

/** decodeExecute decodes an Execute ('E') body. */
export function decodeExecute(body: Buffer): Execute {
  const r = new MessageReader(body);
  const portal = r.cstring();
  const maxRows = r.int32();
  r.end();
  return { portal, maxRows };
}

/** decodeClose decodes a Close ('C') body. */
export function decodeClose(body: Buffer): Close {
  const r = new MessageReader(body);
  const t = String.fromCharCode(r.byte());
  if (t !== 'S' && t !== 'P') throw new ProtocolError('protocol_violation', `invalid Close target "${t}"`);
  const name = r.cstring();
  r.end();
  return { target: t, name };
}

/** decodeFunctionCall decodes a FunctionCall ('F') body. */
export function decodeFunctionCall(body: Buffer): FunctionCall {
  const r = new MessageReader(body);
  const oid = r.int32() >>> 0;
  const args = decodeValues(r, decodeFormats(r));
  r.int16();
  r.end();
  return { oid, args };
}

/** decodeSASLInitialResponse decodes the first 'p' of a SASL exchange: mechanism and client-first data. */
export function decodeSASLInitialResponse(body: Buffer): { mechanism: string; data: Buffer } {
  const r = new MessageReader(body);
  const mechanism = r.cstring();
  const len = r.int32();
  const data = len === -1 ? Buffer.alloc(0) : r.bytes(len);
  r.end();
  return { mechanism, data };
}

/** encodeSASLInitialResponse builds a SASLInitialResponse ('p'). */
export function encodeSASLInitialResponse(mechanism: string, data: Buffer): Buffer {
  return new MessageWriter('p').cstring(mechanism).int32(data.length).bytes(data).finish();
}

/** encodeSASLResponse builds a SASLResponse ('p'). */
export function encodeSASLResponse(data: Buffer): Buffer {
  return new MessageWriter('p').bytes(data).finish();
}

/** encodeTerminate builds a Terminate ('X'). */
export function encodeTerminate(): Buffer {
  return new MessageWriter('X', 5).finish();
}

/** encodeParse builds a Parse ('P') with no declared parameter types. */
export function encodeParse(statement: string, query: string): Buffer {
  return new MessageWriter('P').cstring(statement).cstring(query).int16(0).finish();
}

/** encodeBind builds a Bind ('B') with text parameters and text results. */
export function encodeBind(portal: string, statement: string, params: Array<string | null>): Buffer {
  const w = new MessageWriter('B').cstring(portal).cstring(statement).int16(0).int16(params.length);
  for (const p of params) {
    if (p === null) w.int32(-1);
    else {
      const b = Buffer.from(p);
      w.int32(b.length).bytes(b);
    }
  }
  return w.int16(0).finish();
}

/** encodeExecute builds an Execute ('E'); maxRows 0 means all. */
export function encodeExecute(portal: string, maxRows = 0): Buffer {
  return new MessageWriter('E').cstring(portal).int32(maxRows).finish();
}

/** encodeSync builds a Sync ('S'). */
export function encodeSync(): Buffer {
  return new MessageWriter('S', 5).finish();
}
