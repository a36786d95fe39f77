// Record lines (docs/audit-log-format.md §Records): one JSON object per line, exactly as
// JSON.stringify writes it, with the keys in the contract's fixed order whatever order the
// event object was built in. Fields not in the contract are not written.
import { PgsealError } from '../errors.js';
import { formatTimestamp } from './clock.js';
import type { AuditEvent, AuditParam, CertificateInfo, ClientAddress, TlsInfo } from './events.js';

/** StoreRecord is a log-structure record the store writes itself (docs/audit-log-format.md §Types). */
export type StoreRecord =
  | { type: 'segment.start'; segment: number; origin: string; tree_size: number; frontier: string[]; reason: 'start' | 'rotate' }
  | { type: 'checkpoint'; tree_size: number; root: string; note: string }
  | { type: 'key.rotate'; new_key: string; old_key_id: string }
  | { type: 'log.repair'; segment: string; truncated_bytes: number; reason: string };

/** LogRecord is anything written as one line: a proxy event or a log-structure record. */
export type LogRecord = AuditEvent | StoreRecord;

/** MAX_LINE_BYTES is the longest valid record line, without its newline (16 MiB). */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

// A line object must name every field of its record type (optional ones may hold undefined), so
// a field added to AuditEvent without a place in the line fails to compile instead of vanishing.
type Line<R> = { seq: number; ts: string } & { [K in keyof R]-?: unknown };
type Encoder<R> = (seq: number, ts: string, r: R) => Line<R>;
type Encoders = { readonly [T in LogRecord['type']]: Encoder<Extract<LogRecord, { type: T }>> };

// One builder per type, listing the fields in the order of docs/audit-log-format.md §Types: the
// object's key order is the line's key order, and one JSON.stringify of it is V8's fast path.
// Absent optional fields are undefined, which JSON.stringify leaves out.
const ENCODERS: Encoders = {
  'segment.start': (seq, ts, r) => ({
    seq, ts, type: r.type, segment: r.segment, origin: r.origin, tree_size: r.tree_size, frontier: r.frontier, reason: r.reason,
  }),
  checkpoint: (seq, ts, r) => ({ seq, ts, type: r.type, tree_size: r.tree_size, root: r.root, note: r.note }),
  'key.rotate': (seq, ts, r) => ({ seq, ts, type: r.type, new_key: r.new_key, old_key_id: r.old_key_id }),
  'log.repair': (seq, ts, r) => ({ seq, ts, type: r.type, segment: r.segment, truncated_bytes: r.truncated_bytes, reason: r.reason }),
  'session.start': (seq, ts, r) => ({
    seq, ts, type: r.type, session: r.session, client: client(r.client), tls: tls(r.tls), certificate: certificate(r.certificate),
    user: r.user, database: r.database, application_name: r.application_name, auth_method: r.auth_method, upstream: r.upstream,
  }),
  'session.reject': (seq, ts, r) => ({
    seq, ts, type: r.type, session: r.session, client: client(r.client), certificate: certificate(r.certificate), user: r.user,
    database: r.database, sqlstate: r.sqlstate, reason: r.reason,
  }),
  'auth.failure': (seq, ts, r) => ({
    seq, ts, type: r.type, session: r.session, client: client(r.client), certificate: certificate(r.certificate), user: r.user,
    database: r.database, sqlstate: r.sqlstate, reason: r.reason,
  }),
  query: (seq, ts, r) => ({
    seq, ts, type: r.type, session: r.session, query: r.query, protocol: r.protocol, sql: r.sql, sql_length: r.sql_length,
    sql_sha256: r.sql_sha256, statement: r.statement, portal: r.portal,
    params: r.params?.map(param),
  }),
  result: (seq, ts, r) => ({
    seq, ts, type: r.type, session: r.session, query: r.query, status: r.status, tags: r.tags, tags_omitted: r.tags_omitted, rows: r.rows, sqlstate: r.sqlstate,
    message: r.message, duration_us: r.duration_us,
  }),
  copy: (seq, ts, r) => ({ seq, ts, type: r.type, session: r.session, query: r.query, direction: r.direction, bytes: r.bytes, messages: r.messages }),
  cancel: (seq, ts, r) => ({ seq, ts, type: r.type, session: r.session, client: client(r.client), matched: r.matched }),
  'session.end': (seq, ts, r) => ({
    seq, ts, type: r.type, session: r.session, reason: r.reason, queries: r.queries, errors: r.errors,
    bytes_from_client: r.bytes_from_client, bytes_from_server: r.bytes_from_server, duration_us: r.duration_us,
  }),
};

function client(c: ClientAddress): ClientAddress {
  return { address: c.address, port: c.port };
}

// tls and certificate are required (null when absent); undefined from an untyped caller is left out rather than crashing.
function tls(t: TlsInfo | undefined): TlsInfo | undefined {
  return t === null || t === undefined ? t : { version: t.version, cipher: t.cipher, alpn: t.alpn, direct: t.direct };
}

function certificate(c: CertificateInfo | undefined): CertificateInfo | undefined {
  return c === null || c === undefined ? c : { subject: c.subject, serial: c.serial, fingerprint: c.fingerprint, identity: c.identity };
}

/** param copies a bind value's fields in contract order (unknown extra fields are not logged). */
export function param(p: AuditParam): AuditParam {
  return { format: p.format, value: p.value, length: p.length, truncated: p.truncated, sha256: p.sha256 };
}

// The per-query types, written straight as text: about twice as fast as building an object for
// JSON.stringify, and they are most of the log. Byte-identical to the generic path: strings are
// quoted as JSON.stringify quotes them, numbers are safe integers, absent optional fields are
// left out; a value of another type sends the record down the generic path. A test compares the
// two on every kind of value.
/**
 * encodeRecord returns the record's line (without '\n'): seq, ts, type, then the type's fields in
 * contract order. ts is the timestamp text, or microseconds since the epoch to be formatted here.
 */
export function encodeRecord(seq: number, ts: string | number, record: LogRecord): string {
  if (typeof ts === 'number') {
    if (!Number.isSafeInteger(ts) || ts < 0) throw new PgsealError('audit_error', `invalid record timestamp ${ts}`);
    return encodeGeneric(seq, stamps.format(ts), record);
  }
  return encodeGeneric(seq, ts, record);
}

/** encodeGeneric is the record's line through JSON.stringify: the reference record-bytes.ts is held to. */
export function encodeGeneric(seq: number, ts: string, record: LogRecord): string {
  const encode = Object.hasOwn(ENCODERS, record.type) ? (ENCODERS[record.type] as (seq: number, ts: string, r: LogRecord) => object) : undefined;
  if (encode === undefined) throw new PgsealError('audit_error', `unknown audit record type ${JSON.stringify(record.type)}`);
  return JSON.stringify(encode(seq, ts, record));
}

/** TimestampFormatter renders microseconds exactly as formatTimestamp does, reusing the date-time part within one second. */
export class TimestampFormatter {
  #second = Number.NaN;
  #prefix = '';

  /** format returns RFC 3339 UTC with six fractional digits, e.g. 2026-11-26T13:24:59.247441Z. */
  format(micros: number): string {
    const second = Math.floor(micros / 1_000_000);
    if (second !== this.#second) {
      this.#second = second;
      this.#prefix = formatTimestamp(second * 1_000_000).slice(0, 20); // `YYYY-MM-DDTHH:MM:SS.`
    }
    const frac = micros - second * 1_000_000;
    return frac >= 100_000 ? `${this.#prefix}${frac}Z` : `${this.#prefix}${String(frac).padStart(6, '0')}Z`;
  }
}

const stamps = new TimestampFormatter();
