// `pgseal log show`: a readable view of a log. Each query is joined with its result (same
// session and query number) and printed as one line when the result arrives; session start,
// end, reject and auth failure get a line each. Record text is attacker-controlled (SQL, user
// names), so control and bidi characters are escaped before they reach a terminal. This does
// not verify the log: `pgseal verify` does.
import { formatTimestamp } from './clock.js';
import type { SegmentSource } from './log-reader.js';
import { LineSplitter, LineTooLongError, zeroTail } from './log-reader-lines.js';
import { MAX_LINE_BYTES } from './record.js';

/** ShowOptions filters and formats `log show`. */
export interface ShowOptions {
  session?: string;
  user?: string;
  /** since keeps records whose ts is at or after this time (RFC 3339 or anything Date.parse reads). */
  since?: string;
  json?: boolean;
  /** sqlWidth truncates SQL in text output (default 200 characters). */
  sqlWidth?: number;
  /** between runs after each chunk read: the place to wait for a slow output to drain. */
  between?: () => Promise<void>;
}

/** ShowSummary counts what showLog printed and skipped. */
export interface ShowSummary {
  printed: number;
  unreadable: number;
}

type Rec = Record<string, unknown> & { seq: number; ts: string; type: string };
type Session = { user: string };

/** showLog prints the log's queries and session events through out, and unreadable lines through warn. */
export async function showLog(
  sources: AsyncIterable<SegmentSource>,
  o: ShowOptions,
  out: (line: string) => void,
  warn: (line: string) => void,
): Promise<ShowSummary> {
  const since = o.since === undefined ? '' : parseSince(o.since);
  const sessions = new Map<string, Session>();
  const pending = new Map<string, Rec>(); // session \0 query number → the query record, until its result
  const summary: ShowSummary = { printed: 0, unreadable: 0 };
  const userOf = (r: Rec): string => sessions.get(String(r.session))?.user ?? (typeof r.user === 'string' ? r.user : '-');
  const emit = (r: Rec, result: Rec | undefined): void => {
    const user = userOf(r);
    if (o.session !== undefined && r.session !== o.session) return;
    if (o.user !== undefined && user !== o.user) return;
    if (r.ts < since) return;
    out(o.json === true ? jsonLine(r, result, user) : textLine(r, result, user, o.sqlWidth ?? 200));
    summary.printed += 1;
  };
  const flushSession = (session: string | undefined): void => {
    for (const [key, q] of pending) {
      if (session !== undefined && q.session !== session) continue;
      pending.delete(key);
      emit(q, undefined);
    }
  };
  const onRecord = (r: Rec): void => {
    const key = `${String(r.session)}\0${String(r.query)}`;
    switch (r.type) {
      case 'query':
        pending.set(key, r);
        return;
      case 'result': {
        const q = pending.get(key);
        pending.delete(key);
        if (q !== undefined) emit(q, r);
        return;
      }
      case 'session.start':
        sessions.set(String(r.session), { user: String(r.user) });
        emit(r, undefined);
        return;
      case 'session.end':
        flushSession(String(r.session));
        emit(r, undefined);
        sessions.delete(String(r.session));
        return;
      case 'session.reject':
      case 'auth.failure':
        emit(r, undefined);
    }
  };
  for await (const source of sources) {
    let line = 0;
    const splitter = new LineSplitter(MAX_LINE_BYTES);
    const onLine = (buf: Buffer): void => {
      line += 1;
      const r = parseRecord(buf);
      if (r === undefined) {
        summary.unreadable += 1;
        warn(`${source.name} line ${line}: unreadable record skipped (run pgseal verify)`);
      } else {
        onRecord(r);
      }
    };
    try {
      for await (const chunk of source.open()) {
        splitter.push(chunk, onLine);
        await o.between?.();
      }
    } catch (err) {
      if (!(err instanceof LineTooLongError)) throw err;
      warn(`${source.name} line ${line + 1}: line too long; rest of the segment skipped`);
      summary.unreadable += 1;
    }
    const tail = splitter.end();
    if (tail !== null && zeroTail(tail) < tail.length) warn(`${source.name}: unterminated final line skipped`);
  }
  flushSession(undefined);
  return summary;
}

function parseRecord(buf: Buffer): Rec | undefined {
  try {
    const r = JSON.parse(buf.toString('utf8')) as Rec;
    if (typeof r !== 'object' || r === null || typeof r.ts !== 'string' || typeof r.type !== 'string') return undefined;
    return r;
  } catch {
    return undefined;
  }
}

function textLine(r: Rec, result: Rec | undefined, user: string, width: number): string {
  const head = `${clean(r.ts)} ${clean(String(r.session))} ${clean(user)}`;
  switch (r.type) {
    case 'query': {
      const status = result === undefined ? 'no-result' : `${clean(String(result.status))}${result.sqlstate === undefined ? '' : `/${clean(String(result.sqlstate))}`}`;
      const rows = result === undefined ? '' : ` rows=${String(result.rows)} ${micros(result.duration_us)}`;
      const cut = r.sql_length === undefined ? '' : ` [sql cut: ${String(r.sql_length)} bytes in all, sha256 ${clean(String(r.sql_sha256))}]`;
      return `${head} #${String(r.query)} ${clean(String(r.protocol))} ${status}${rows} ${sqlLine(String(r.sql), width)}${cut}`;
    }
    case 'session.start': {
      const client = r.client as { address?: unknown; port?: unknown } | undefined;
      const tls = r.tls as { version?: unknown } | null;
      const cert = r.certificate as { identity?: unknown } | null;
      return `${head} session.start from ${clean(`${String(client?.address)}:${String(client?.port)}`)} db=${clean(String(r.database))}` +
        ` app=${clean(String(r.application_name))} auth=${clean(String(r.auth_method))} tls=${clean(tls === null ? 'none' : String(tls?.version))}` +
        (cert === null || cert === undefined ? '' : ` cert=${clean(String(cert.identity))}`);
    }
    case 'session.end':
      return `${head} session.end ${clean(String(r.reason))} queries=${String(r.queries)} errors=${String(r.errors)} ${micros(r.duration_us)}`;
    default:
      return `${head} ${r.type} ${clean(String(r.sqlstate))} ${clean(String(r.reason))}`;
  }
}

function jsonLine(r: Rec, result: Rec | undefined, user: string): string {
  if (r.type !== 'query') return JSON.stringify({ ...r, user });
  const { seq, ts, session, query, protocol, sql, sql_length, sql_sha256, statement, portal, params } = r;
  const res = result === undefined ? { status: null } : {
    status: result.status, tags: result.tags, rows: result.rows, sqlstate: result.sqlstate, message: result.message,
    duration_us: result.duration_us, result_seq: result.seq,
  };
  return JSON.stringify({ seq, ts, type: 'query', session, user, query, protocol, sql, sql_length, sql_sha256, statement, portal, params, ...res });
}

function sqlLine(sql: string, width: number): string {
  const one = sql.replace(/\s+/g, ' ').trim();
  const cut = one.length > width ? `${one.slice(0, width)}…` : one;
  return clean(cut);
}

function micros(v: unknown): string {
  return typeof v === 'number' ? `${(v / 1000).toFixed(3)}ms` : '-';
}

// C0/C1 controls, DEL, line/paragraph separators and bidi controls could rewrite the terminal.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** clean escapes characters that could alter a terminal's display as \u{XXXX}. */
export function clean(s: string): string {
  return s.replace(UNSAFE, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);
}

// --since in the records' own format, so timestamps compare as strings.
function parseSince(text: string): string {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new RangeError(`--since ${text} is not a date or time`);
  return formatTimestamp(ms * 1000);
}
