// The per-query records (query, result, copy) written straight into the store's LineBuffer as
// bytes: the same text as encodeRecord (record.ts), which a differential test holds it to, without
// building the line as a string first. Concatenation, number-to-string conversion and flattening
// the result before its UTF-8 write were a third of the audit log's cost per query.
import { nativeFunctions } from '../native-addon.js';
import { formatTimestamp } from './clock.js';
import type { LineBuffer } from './line-buffer.js';
import type { AuditParam } from './events.js';
import { param, type LogRecord } from './record.js';

type QueryRecord = Extract<LogRecord, { type: 'query' }>;
type ResultRecord = Extract<LogRecord, { type: 'result' }>;
type CopyRecord = Extract<LogRecord, { type: 'copy' }>;

// native/record-encode.c writes the two records of almost every query (a simple-protocol query,
// an ok result with one tag) when their text is ASCII, for a third of the cost; it returns -1
// for anything else, which is written below.
type NativeEncoder = {
  // kind 0: a simple query (text: sql); 1: an ok result (text: its tag, then rows, durationUs); 2: an extended query (text: sql, then statement, portal, params JSON)
  encodeRecordLine(out: Buffer, pos: number, seq: number, micros: number, prefix: Buffer, query: number, kind: 0 | 1 | 2, text: string, a?: number | string, b?: number | string, c?: string): number;
};
const native = nativeFunctions<NativeEncoder>(['encodeRecordLine']);

/** nativeRecordEncoder says whether the common query and result records are encoded by the addon. */
export const nativeRecordEncoder = native !== null;
const NATIVE_MAX_TEXT = 4000; // below the addon's limit (4096 bytes)
const NATIVE_MAX_NAME = 80; // statement and portal names: below the addon's 255 bytes
const NATIVE_MAX_PARAMS = 5000; // params JSON: below the addon's 16 KB

const UNSAFE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** escaped returns JSON.stringify(s) when s needs escaping, or null when s goes between quotes as it is. */
function escaped(s: string): string | null {
  const n = s.length;
  if (n > 8) return UNSAFE.test(s) ? JSON.stringify(s) : null;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return null;
}

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const SEQ = latin1('{"seq":');
const QUERY_TYPE = latin1('Z","type":"query","session":');
const RESULT_TYPE = latin1('Z","type":"result","session":');
const COPY_TYPE = latin1('Z","type":"copy","session":');
const QUERY = latin1(',"query":');
const PROTOCOL = latin1(',"protocol":');
const SQL = latin1(',"sql":');
const STATEMENT = latin1(',"statement":');
const PORTAL = latin1(',"portal":');
const PARAMS = latin1(',"params":');
const STATUS = latin1(',"status":');
const TAGS = latin1(',"tags":[');
const ROWS = latin1('],"rows":');
const SQLSTATE = latin1(',"sqlstate":');
const MESSAGE = latin1(',"message":');
const DURATION = latin1(',"duration_us":');
const DIRECTION = latin1(',"direction":');
const BYTES = latin1(',"bytes":');
const MESSAGES = latin1(',"messages":');

// Every constant above, the 27-byte timestamp, 16 digits per number, and slack.
const FIXED_BYTES = 512;

// The helpers below take the line's buffer and write position and return the new position.

/** bytes copies a constant: a loop for a few bytes, TypedArray#set (one call) for more. */
function bytes(o: Buffer, p: number, b: Buffer): number {
  const n = b.length;
  if (n > 24) o.set(b, p);
  else for (let i = 0; i < n; i++) o[p + i] = b[i]!;
  return p + n;
}

/** int writes a safe integer as JSON.stringify does (no exponent, -0 as 0). */
function int(o: Buffer, p: number, n: number): number {
  if (n < 0) {
    o[p++] = 0x2d;
    n = -n;
  }
  if (n < 10) {
    o[p++] = 0x30 + n;
    return p;
  }
  if (n > 0x7fffffff) return bigInt(o, p, n);
  // int32 arithmetic: division by a constant becomes a multiplication.
  let digits = 1;
  for (let m = n; m >= 10; m = (m / 10) | 0) digits++;
  for (let i = p + digits - 1; i >= p; i--) {
    const q = (n / 10) | 0;
    o[i] = 0x30 + n - q * 10;
    n = q;
  }
  return p + digits;
}

function bigInt(o: Buffer, p: number, n: number): number {
  let digits = 1;
  for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
  for (let i = p + digits - 1; i >= p; i--) {
    const q = Math.floor(n / 10);
    o[i] = 0x30 + (n - q * 10);
    n = q;
  }
  return p + digits;
}

// Strings up to SHORT code units are written by a JS loop while they are printable ASCII (the
// common case: session ids, tags, most SQL), which costs less than a call into Buffer#write;
// their room is bounded by 6 bytes a code unit (\u00XX). Longer strings are escaped up front so
// that their room is exact and a long SQL text does not reserve six times its size.
const SHORT = 1024;

/** prepare returns, for a string longer than SHORT, escaped(s); for a short one, undefined. */
function prepare(s: string): string | null | undefined {
  return s.length <= SHORT ? undefined : escaped(s);
}

/** roomOf bounds the bytes str(o, p, s, e) writes; e is prepare(s). */
function roomOf(s: string | undefined, e: string | null | undefined): number {
  if (s === undefined) return 0;
  return e === undefined ? 6 * s.length + 2 : Buffer.byteLength(e ?? s) + 2;
}

/** str writes s as a JSON string; e is prepare(s). */
function str(o: Buffer, p: number, s: string, e: string | null | undefined): number {
  if (e === undefined) {
    const q = asciiStr(o, p, s);
    if (q >= 0) return q;
    e = escaped(s); // not plain ASCII: escape, or write as UTF-8, the usual way
  }
  if (e !== null) return p + o.write(e, p, 'utf8');
  o[p++] = 0x22;
  p += o.write(s, p, 'utf8');
  o[p++] = 0x22;
  return p;
}

/** asciiStr writes s quoted if it is printable ASCII with nothing to escape; otherwise -1. */
function asciiStr(o: Buffer, p: number, s: string): number {
  o[p++] = 0x22;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return -1;
    o[p++] = c;
  }
  o[p++] = 0x22;
  return p;
}

// `,"ts":"YYYY-MM-DDTHH:MM:SS.` for the current second.
let stampSecond = Number.NaN;
let stampPrefix: Buffer = Buffer.alloc(0);

/** head writes `{"seq":N,"ts":"…` up to the fraction's digits (the type's constant carries the closing `Z"`). */
function head(o: Buffer, p: number, seq: number, micros: number): number {
  p = bytes(o, p, SEQ);
  p = int(o, p, seq);
  const second = Math.floor(micros / 1_000_000);
  if (second !== stampSecond) {
    stampSecond = second;
    stampPrefix = latin1(`,"ts":"${formatTimestamp(second * 1_000_000).slice(0, 20)}`);
  }
  p = bytes(o, p, stampPrefix);
  let frac = (micros - second * 1_000_000) | 0;
  for (let k = 5; k >= 0; k--) {
    const q = (frac / 10) | 0;
    o[p + k] = 0x30 + frac - q * 10;
    frac = q;
  }
  return p + 6;
}

const isInt = Number.isSafeInteger;
const isStr = (v: unknown): v is string => typeof v === 'string';
const isOptStr = (v: unknown): v is string | undefined => v === undefined || typeof v === 'string';

// `Z","type":"<type>","session":<session>,"query":` for each type and recent session: one copy
// per record instead of writing the session id each time; one map lookup finds a session's three.
const PREFIX_CACHE_MAX = 4096;
const TYPES = [QUERY_TYPE, RESULT_TYPE, COPY_TYPE];
const prefixCache = new Map<string, Array<Buffer | undefined>>();

function sessionPrefix(type: Buffer, session: string): Buffer {
  let prefixes = prefixCache.get(session);
  if (prefixes === undefined) {
    if (prefixCache.size >= PREFIX_CACHE_MAX) prefixCache.clear();
    prefixCache.set(session, (prefixes = [undefined, undefined, undefined]));
  }
  const i = TYPES.indexOf(type);
  return (prefixes[i] ??= Buffer.concat([type, Buffer.from(JSON.stringify(session), 'utf8'), QUERY]));
}

/** begin writes a per-query record up to `"query":N` (every one starts so) into o, a buffer from lines.open(FIXED_BYTES + room). */
function begin(o: Buffer, p: number, seq: number, micros: number, type: Buffer, session: string, sessionJson: string | null | undefined, query: number): number {
  p = head(o, p, seq, micros);
  if (sessionJson === undefined) {
    p = bytes(o, p, sessionPrefix(type, session)); // a short session id
  } else {
    p = bytes(o, p, type);
    p = str(o, p, session, sessionJson);
    p = bytes(o, p, QUERY);
  }
  return int(o, p, query);
}

/**
 * appendQueryLine appends the line of a simple-protocol query record without params, exactly as
 * encodeRecord would, when the addon can write it (ASCII text, non-negative safe integers);
 * false, with nothing appended, otherwise.
 */
export function appendQueryLine(lines: LineBuffer, seq: number, micros: number, session: string, query: number, sql: string): boolean {
  if (native === null || session.length > SHORT || sql.length >= NATIVE_MAX_TEXT) return false;
  const o = lines.open(FIXED_BYTES + 6 * sql.length);
  const at = native.encodeRecordLine(o, lines.length, seq, micros, sessionPrefix(QUERY_TYPE, session), query, 0, sql);
  if (at < 0) return false;
  lines.close(at);
  return true;
}

/**
 * directPrefix returns the bytes a natively encoded query (kind 0) or ok result (kind 1) record
 * of session starts with after its `ts` (the `prefix` of native/record-encode.c), or null when
 * such a record goes the JavaScript way: no addon, a long session id, or a text too long.
 */
export function directPrefix(kind: 0 | 1 | 2, session: string, text: string): Buffer | null {
  if (native === null || session.length > SHORT || text.length >= NATIVE_MAX_TEXT) return null;
  return sessionPrefix(kind === 1 ? RESULT_TYPE : QUERY_TYPE, session);
}

/** extendedPrefix is directPrefix for an extended-protocol query record (kind 2), whose names and params must fit the addon too. */
export function extendedPrefix(session: string, sql: string, statement: string, portal: string, paramsJson: string): Buffer | null {
  if (statement.length > NATIVE_MAX_NAME || portal.length > NATIVE_MAX_NAME || paramsJson.length > NATIVE_MAX_PARAMS) return null;
  return directPrefix(2, session, sql);
}

/** appendExtendedQueryLine is appendQueryLine for an extended-protocol query record with statement, portal and params (paramsJson: JSON.stringify of them in contract order). */
export function appendExtendedQueryLine(lines: LineBuffer, seq: number, micros: number, session: string, query: number, sql: string, statement: string, portal: string, paramsJson: string): boolean {
  const prefix = extendedPrefix(session, sql, statement, portal, paramsJson);
  if (prefix === null) return false;
  const o = lines.open(FIXED_BYTES + 6 * (sql.length + statement.length + portal.length) + 3 * paramsJson.length);
  const at = native!.encodeRecordLine(o, lines.length, seq, micros, prefix, query, 2, sql, statement, portal, paramsJson);
  if (at < 0) return false;
  lines.close(at);
  return true;
}

/**
 * nativeParamsJson is paramsJson(params) when the native encoder could take it, judged before it
 * is built (bind values can be huge: the size guard of record-size.ts must not be undone); else null.
 */
export function nativeParamsJson(params: readonly AuditParam[]): string | null {
  if (native === null) return null;
  let size = 2;
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    const plain = p.length === undefined && p.truncated === undefined && p.sha256 === undefined;
    size += (plain ? 32 : 128) + (typeof p.value === 'string' ? p.value.length : 0) + (typeof p.sha256 === 'string' ? p.sha256.length : 0);
    if (size > NATIVE_MAX_PARAMS) return null;
  }
  return paramsJson(params);
}

/** paramsJson is a query record's params as the record carries them (JSON.stringify, fields in contract order). */
export function paramsJson(params: readonly AuditParam[]): string {
  // The common values (null; text or hex without truncation) as text, the rest by JSON.stringify.
  let json = '[';
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    if (i > 0) json += ',';
    if (p.length !== undefined || p.truncated !== undefined || p.sha256 !== undefined) json += JSON.stringify(param(p));
    else if (p.format === 'null' && p.value === undefined) json += '{"format":"null"}';
    else if ((p.format === 'text' || p.format === 'binary') && typeof p.value === 'string') json += `{"format":"${p.format}","value":${JSON.stringify(p.value)}}`;
    else json += JSON.stringify(param(p));
  }
  return json + ']';
}

/** appendOkResultLine is appendQueryLine for a result record with status ok, one tag and no error. */
export function appendOkResultLine(lines: LineBuffer, seq: number, micros: number, session: string, query: number, tag: string, rows: number, durationUs: number): boolean {
  if (native === null || session.length > SHORT || tag.length >= NATIVE_MAX_TEXT) return false;
  const o = lines.open(FIXED_BYTES + 6 * tag.length);
  const at = native.encodeRecordLine(o, lines.length, seq, micros, sessionPrefix(RESULT_TYPE, session), query, 1, tag, rows, durationUs);
  if (at < 0) return false;
  lines.close(at);
  return true;
}

/** end closes the object and the line. */
function end(lines: LineBuffer, o: Buffer, p: number): true {
  o[p++] = 0x7d;
  lines.close(p);
  return true;
}

function queryLine(lines: LineBuffer, seq: number, micros: number, r: QueryRecord): boolean {
  if (!isStr(r.session) || !isInt(r.query) || !isStr(r.protocol) || !isStr(r.sql) || !isOptStr(r.statement) || !isOptStr(r.portal)) return false;
  if (r.params !== undefined && !Array.isArray(r.params)) return false;
  if (r.sql_length !== undefined || r.sql_sha256 !== undefined) return false; // a truncated text is rare: JSON.stringify writes it
  if (r.protocol === 'simple' && r.statement === undefined && r.portal === undefined && r.params === undefined && appendQueryLine(lines, seq, micros, r.session, r.query, r.sql)) {
    return true;
  }
  if (r.protocol === 'extended' && r.statement !== undefined && r.portal !== undefined && r.params !== undefined) {
    const json = nativeParamsJson(r.params);
    if (json !== null && appendExtendedQueryLine(lines, seq, micros, r.session, r.query, r.sql, r.statement, r.portal, json)) return true;
  }
  const session = prepare(r.session);
  const protocol = prepare(r.protocol);
  const sql = prepare(r.sql);
  const statement = r.statement === undefined ? null : prepare(r.statement);
  const portal = r.portal === undefined ? null : prepare(r.portal);
  const params = r.params === undefined ? undefined : JSON.stringify(r.params.map(param));
  const room = roomOf(r.session, session) + roomOf(r.protocol, protocol) + roomOf(r.sql, sql) + roomOf(r.statement, statement) +
    roomOf(r.portal, portal) + (params === undefined ? 0 : Buffer.byteLength(params));
  const o = lines.open(FIXED_BYTES + room);
  let p = begin(o, lines.length, seq, micros, QUERY_TYPE, r.session, session, r.query);
  p = bytes(o, p, PROTOCOL);
  p = str(o, p, r.protocol, protocol);
  p = bytes(o, p, SQL);
  p = str(o, p, r.sql, sql);
  if (r.statement !== undefined) {
    p = bytes(o, p, STATEMENT);
    p = str(o, p, r.statement, statement);
  }
  if (r.portal !== undefined) {
    p = bytes(o, p, PORTAL);
    p = str(o, p, r.portal, portal);
  }
  if (params !== undefined) {
    p = bytes(o, p, PARAMS);
    p += o.write(params, p, 'utf8');
  }
  return end(lines, o, p);
}

function resultLine(lines: LineBuffer, seq: number, micros: number, r: ResultRecord): boolean {
  if (!isStr(r.session) || !isInt(r.query) || !isStr(r.status) || !Array.isArray(r.tags) || !isInt(r.rows)) return false;
  if (!isOptStr(r.sqlstate) || !isOptStr(r.message) || !isInt(r.duration_us)) return false;
  if (r.tags_omitted !== undefined) return false; // rare: JSON.stringify writes it
  const tags = r.tags;
  if (r.status === 'ok' && tags.length === 1 && r.sqlstate === undefined && r.message === undefined && isStr(tags[0]) &&
      appendOkResultLine(lines, seq, micros, r.session, r.query, tags[0], r.rows, r.duration_us)) {
    return true;
  }
  let tagRoom = 0;
  for (let i = 0; i < tags.length; i++) {
    const tag = tags[i];
    if (!isStr(tag)) return false;
    tagRoom += roomOf(tag, prepare(tag)) + 1;
  }
  const session = prepare(r.session);
  const status = prepare(r.status);
  const sqlstate = r.sqlstate === undefined ? null : prepare(r.sqlstate);
  const message = r.message === undefined ? null : prepare(r.message);
  const room = tagRoom + roomOf(r.session, session) + roomOf(r.status, status) + roomOf(r.sqlstate, sqlstate) + roomOf(r.message, message);
  const o = lines.open(FIXED_BYTES + room);
  let p = begin(o, lines.length, seq, micros, RESULT_TYPE, r.session, session, r.query);
  p = bytes(o, p, STATUS);
  p = str(o, p, r.status, status);
  p = bytes(o, p, TAGS);
  for (let i = 0; i < tags.length; i++) {
    if (i > 0) o[p++] = 0x2c;
    const tag = tags[i] as string;
    p = str(o, p, tag, prepare(tag));
  }
  p = bytes(o, p, ROWS);
  p = int(o, p, r.rows);
  if (r.sqlstate !== undefined) {
    p = bytes(o, p, SQLSTATE);
    p = str(o, p, r.sqlstate, sqlstate);
  }
  if (r.message !== undefined) {
    p = bytes(o, p, MESSAGE);
    p = str(o, p, r.message, message);
  }
  p = bytes(o, p, DURATION);
  p = int(o, p, r.duration_us);
  return end(lines, o, p);
}

function copyLine(lines: LineBuffer, seq: number, micros: number, r: CopyRecord): boolean {
  if (!isStr(r.session) || !isInt(r.query) || !isStr(r.direction) || !isInt(r.bytes) || !isInt(r.messages)) return false;
  const session = prepare(r.session);
  const direction = prepare(r.direction);
  const o = lines.open(FIXED_BYTES + roomOf(r.session, session) + roomOf(r.direction, direction));
  let p = begin(o, lines.length, seq, micros, COPY_TYPE, r.session, session, r.query);
  p = bytes(o, p, DIRECTION);
  p = str(o, p, r.direction, direction);
  p = bytes(o, p, BYTES);
  p = int(o, p, r.bytes);
  p = bytes(o, p, MESSAGES);
  p = int(o, p, r.messages);
  return end(lines, o, p);
}

/**
 * appendRecordBytes appends the line of a query, result or copy record to lines, exactly as
 * encodeRecord(seq, micros, record) would, and returns true; false (nothing appended) for any
 * other record or a value of an unexpected type, which the caller encodes as a string instead.
 */
export function appendRecordBytes(lines: LineBuffer, seq: number, micros: number, record: LogRecord): boolean {
  if (!isInt(seq) || !isInt(micros) || micros < 0) return false;
  switch (record.type) {
    case 'query':
      return queryLine(lines, seq, micros, record);
    case 'result':
      return resultLine(lines, seq, micros, record);
    case 'copy':
      return copyLine(lines, seq, micros, record);
    default:
      return false;
  }
}
