// The per-query records (query, result, copy) written straight into the store's LineBuffer as
// bytes: the same text as encodeRecord (record.ts), which a differential test holds it to, without
// building the line as a string first. Concatenation, number-to-string conversion and flattening
// the result before its UTF-8 write were a third of the audit log's cost per query.
import { formatTimestamp } from './clock.js';
import type { LineBuffer } from './line-buffer.js';
import { param, type LogRecord } from './record.js';

type QueryRecord = Extract<LogRecord, { type: 'query' }>;
type ResultRecord = Extract<LogRecord, { type: 'result' }>;
type CopyRecord = Extract<LogRecord, { type: 'copy' }>;

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

// The line being written: module state, so the helpers below need no arguments for it.
const EMPTY: Buffer = Buffer.alloc(0);
let out: Buffer = EMPTY;
let pos = 0;

function bytes(b: Buffer): void {
  out.set(b, pos);
  pos += b.length;
}

/** int writes a safe integer as JSON.stringify does (no exponent, -0 as 0). */
function int(n: number): void {
  if (n < 0) {
    out[pos++] = 0x2d;
    n = -n;
  }
  if (n < 10) {
    out[pos++] = 0x30 + n;
    return;
  }
  const start = pos;
  while (n > 0) {
    const q = Math.floor(n / 10);
    out[pos++] = 0x30 + (n - q * 10);
    n = q;
  }
  for (let a = start, b = pos - 1; a < b; a++, b--) {
    const t = out[a]!;
    out[a] = out[b]!;
    out[b] = t;
  }
}

/** str writes s as a JSON string; esc is escaped(s). */
function str(s: string, esc: string | null): void {
  if (esc !== null) {
    pos += out.write(esc, pos, 'utf8');
    return;
  }
  out[pos++] = 0x22;
  pos += out.write(s, pos, 'utf8');
  out[pos++] = 0x22;
}

// `,"ts":"YYYY-MM-DDTHH:MM:SS.` for the current second.
let stampSecond = Number.NaN;
let stampPrefix: Buffer = Buffer.alloc(0);

/** head writes `{"seq":N,"ts":"…` up to the fraction's digits and `type` (which carries the closing `Z"`). */
function head(seq: number, micros: number, type: Buffer): void {
  bytes(SEQ);
  int(seq);
  const second = Math.floor(micros / 1_000_000);
  if (second !== stampSecond) {
    stampSecond = second;
    stampPrefix = latin1(`,"ts":"${formatTimestamp(second * 1_000_000).slice(0, 20)}`);
  }
  bytes(stampPrefix);
  let frac = micros - second * 1_000_000;
  for (let k = 5; k >= 0; k--) {
    const q = Math.floor(frac / 10);
    out[pos + k] = 0x30 + (frac - q * 10);
    frac = q;
  }
  pos += 6;
  bytes(type);
}

const isInt = Number.isSafeInteger;
const isStr = (v: unknown): v is string => typeof v === 'string';
const isOptStr = (v: unknown): v is string | undefined => v === undefined || typeof v === 'string';

/** room bounds the UTF-8 size of strings: at most 3 bytes per UTF-16 code unit, exact for long ones (as LineBuffer.push). */
function room(...texts: Array<string | null | undefined>): number {
  let n = FIXED_BYTES;
  for (const t of texts) if (t) n += t.length <= 16 * 1024 ? 3 * t.length : Buffer.byteLength(t);
  return n;
}

/** begin opens a line of at most maxBytes and writes it up to `"query":N` (every per-query record starts so). */
function begin(lines: LineBuffer, maxBytes: number, seq: number, micros: number, type: Buffer, session: string, sessionJson: string | null, query: number): void {
  out = lines.open(maxBytes);
  pos = lines.length;
  head(seq, micros, type);
  str(session, sessionJson);
  bytes(QUERY);
  int(query);
}

/** end closes the object and the line. */
function end(lines: LineBuffer): true {
  out[pos++] = 0x7d;
  lines.close(pos);
  out = EMPTY; // LineBuffer.clear may drop a large buffer; do not keep it alive here
  return true;
}

function queryLine(lines: LineBuffer, seq: number, micros: number, r: QueryRecord): boolean {
  if (!isStr(r.session) || !isInt(r.query) || !isStr(r.protocol) || !isStr(r.sql) || !isOptStr(r.statement) || !isOptStr(r.portal)) return false;
  if (r.params !== undefined && !Array.isArray(r.params)) return false;
  if (r.sql_length !== undefined || r.sql_sha256 !== undefined) return false; // a truncated text is rare: JSON.stringify writes it
  const session = escaped(r.session);
  const protocol = escaped(r.protocol);
  const sql = escaped(r.sql);
  const statement = r.statement === undefined ? null : escaped(r.statement);
  const portal = r.portal === undefined ? null : escaped(r.portal);
  const params = r.params === undefined ? undefined : JSON.stringify(r.params.map(param));
  begin(lines, room(session ?? r.session, protocol ?? r.protocol, sql ?? r.sql, statement ?? r.statement, portal ?? r.portal, params), seq, micros, QUERY_TYPE, r.session, session, r.query);
  bytes(PROTOCOL);
  str(r.protocol, protocol);
  bytes(SQL);
  str(r.sql, sql);
  if (r.statement !== undefined) {
    bytes(STATEMENT);
    str(r.statement, statement);
  }
  if (r.portal !== undefined) {
    bytes(PORTAL);
    str(r.portal, portal);
  }
  if (params !== undefined) {
    bytes(PARAMS);
    pos += out.write(params, pos, 'utf8');
  }
  return end(lines);
}

function resultLine(lines: LineBuffer, seq: number, micros: number, r: ResultRecord): boolean {
  if (!isStr(r.session) || !isInt(r.query) || !isStr(r.status) || !Array.isArray(r.tags) || !isInt(r.rows)) return false;
  if (!isOptStr(r.sqlstate) || !isOptStr(r.message) || !isInt(r.duration_us)) return false;
  const tags = r.tags;
  let tagRoom = 0;
  for (let i = 0; i < tags.length; i++) {
    const tag = tags[i];
    if (!isStr(tag)) return false;
    tagRoom += tag.length <= 16 * 1024 ? 6 * tag.length + 3 : 3 + Buffer.byteLength(JSON.stringify(tag)); // at most 6 UTF-8 bytes a code unit
  }
  const session = escaped(r.session);
  const status = escaped(r.status);
  const sqlstate = r.sqlstate === undefined ? null : escaped(r.sqlstate);
  const message = r.message === undefined ? null : escaped(r.message);
  begin(lines, tagRoom + room(session ?? r.session, status ?? r.status, sqlstate ?? r.sqlstate, message ?? r.message), seq, micros, RESULT_TYPE, r.session, session, r.query);
  bytes(STATUS);
  str(r.status, status);
  bytes(TAGS);
  for (let i = 0; i < tags.length; i++) {
    if (i > 0) out[pos++] = 0x2c;
    const tag = tags[i] as string;
    str(tag, escaped(tag));
  }
  bytes(ROWS);
  int(r.rows);
  if (r.sqlstate !== undefined) {
    bytes(SQLSTATE);
    str(r.sqlstate, sqlstate);
  }
  if (r.message !== undefined) {
    bytes(MESSAGE);
    str(r.message, message);
  }
  bytes(DURATION);
  int(r.duration_us);
  return end(lines);
}

function copyLine(lines: LineBuffer, seq: number, micros: number, r: CopyRecord): boolean {
  if (!isStr(r.session) || !isInt(r.query) || !isStr(r.direction) || !isInt(r.bytes) || !isInt(r.messages)) return false;
  const session = escaped(r.session);
  const direction = escaped(r.direction);
  begin(lines, room(session ?? r.session, direction ?? r.direction), seq, micros, COPY_TYPE, r.session, session, r.query);
  bytes(DIRECTION);
  str(r.direction, direction);
  bytes(BYTES);
  int(r.bytes);
  bytes(MESSAGES);
  int(r.messages);
  return end(lines);
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
