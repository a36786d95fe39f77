import type { AuditParam, AuditSink } from '../audit/events.js';
import { auditParam, auditSql, DEFAULT_MAX_SQL_BYTES, type AuditSql, type ParamPolicy } from '../audit/params.js';
import type { Clock } from '../audit/clock.js';
import { decodeBind, decodeClose, decodeCommandComplete, decodeErrorFields, decodeExecute, decodeFunctionCall, decodeParse, decodeQuery, rowCountOfTag } from '../protocol/index.js';

const NO_SQL: AuditSql = { sql: '' };

type Portal = { sql: AuditSql; statement: string; params: AuditParam[] };

/** Pending is one frontend request still waiting for its backend response, in protocol order. */
type Pending =
  | { kind: 'parse' | 'bind' | 'describe' | 'close' | 'sync' }
  | {
      kind: 'query' | 'execute' | 'function';
      id: number;
      start: number;
      tags: string[];
      tagChars: number;
      tagsOmitted: number;
      rows: number;
      dataRows: number;
      error: { sqlstate: string; message: string } | null;
      copy: { direction: 'in' | 'out'; bytes: number; messages: number } | null;
    };
type Operation = Extract<Pending, { id: number }>;

// A query may complete any number of commands (a simple Query of a million statements): its
// result record keeps the first tags up to these bounds and counts the rest, so the line stays
// far below the log's 16 MiB limit. rows still sums every tag.
const MAX_TAGS = 1000;
const MAX_TAG_CHARS = 64 * 1024;

/** A CommandComplete body decoded: its tag and the row count the tag reports (0 when none). */
type KnownTag = { body: Buffer; tag: string; rows: number };
const TAG_CACHE_SIZE = 8;
const MAX_CACHED_TAG_BYTES = 64;

function knownTag(body: Buffer): KnownTag {
  const tag = decodeCommandComplete(body);
  return { body, tag, rows: rowCountOfTag(tag) ?? 0 };
}

/**
 * QueryTracker follows both directions of a session's messages and reports a `query` event
 * per simple Query, extended Execute and FunctionCall, and a `result` event when the backend
 * has answered it. Responses are matched to requests by order (PostgreSQL answers in order);
 * after an ErrorResponse the backend skips the rest of the extended batch until Sync.
 */
export class QueryTracker {
  private readonly statements = new Map<string, AuditSql>();
  private readonly portals = new Map<string, Portal>();
  private readonly pending: Pending[] = [];
  private readonly tagCache: KnownTag[] = [];
  private tagCacheNext = 0;
  private nextId = 1;
  /** queriesSinceFlush counts query events appended since the owner last flushed the sink. */
  queriesSinceFlush = 0;
  /** queries and errors are the session's totals. */
  queries = 0;
  errors = 0;

  constructor(
    private readonly session: string,
    private readonly sink: AuditSink,
    private readonly clock: Clock,
    private readonly params: ParamPolicy,
    private readonly maxSqlBytes = DEFAULT_MAX_SQL_BYTES,
  ) {}

  /** frontend handles one client message (body null when not collected). */
  frontend(code: number, body: Buffer | null, length: number): void {
    switch (code) {
      case 0x51 /* Q Query */:
        return this.query(decodeQuery(body!));
      case 0x50 /* P Parse */: {
        const p = decodeParse(body!);
        this.statements.set(p.statement, auditSql(p.query, this.maxSqlBytes));
        return void this.pending.push({ kind: 'parse' });
      }
      case 0x42 /* B Bind */: {
        const b = decodeBind(body!);
        const params = b.params.map((v) => auditParam(v.format, v.value, this.params));
        this.portals.set(b.portal, { sql: this.statements.get(b.statement) ?? NO_SQL, statement: b.statement, params });
        return void this.pending.push({ kind: 'bind' });
      }
      case 0x45 /* E Execute */:
        return this.execute(decodeExecute(body!).portal);
      case 0x44 /* D Describe */:
        return void this.pending.push({ kind: 'describe' });
      case 0x43 /* C Close */: {
        const c = decodeClose(body!);
        (c.target === 'S' ? this.statements : this.portals).delete(c.name);
        return void this.pending.push({ kind: 'close' });
      }
      case 0x53 /* S Sync */:
        return void this.pending.push({ kind: 'sync' });
      case 0x46 /* F FunctionCall */: {
        const f = decodeFunctionCall(body!);
        const params = f.args.map((v) => auditParam(v.format, v.value, this.params));
        return this.begin('function', { sql: { sql: `function ${f.oid}` }, params });
      }
      case 0x64 /* d CopyData */:
        return this.copyData('in', length);
    }
  }

  /** backend handles one server message (body null when not collected). */
  backend(code: number, body: Buffer | null, length: number): void {
    const head = this.pending[0];
    switch (code) {
      case 0x31 /* 1 ParseComplete */:
      case 0x32 /* 2 BindComplete */:
      case 0x33 /* 3 CloseComplete */:
      case 0x6e /* n NoData */:
      case 0x54 /* T RowDescription */:
        if (head && head.kind !== 'query' && head.kind !== 'execute' && head.kind !== 'function') this.pending.shift();
        return;
      case 0x44 /* D DataRow */:
        if (head && 'id' in head) head.dataRows++;
        return;
      case 0x43 /* C CommandComplete */:
        return this.commandComplete(this.tagOf(body!));
      case 0x49 /* I EmptyQueryResponse */:
        if (head?.kind === 'execute') this.finish(head, 'ok');
        return;
      case 0x73 /* s PortalSuspended */:
        if (head?.kind === 'execute') this.finish(head, 'suspended');
        return;
      case 0x45 /* E ErrorResponse */:
        return this.errorResponse(decodeErrorFields(body!));
      case 0x5a /* Z ReadyForQuery */:
        return this.readyForQuery();
      case 0x47 /* G CopyInResponse */:
      case 0x48 /* H CopyOutResponse */:
      case 0x57 /* W CopyBothResponse */:
        if (head && 'id' in head) head.copy = { direction: code === 0x47 ? 'in' : 'out', bytes: 0, messages: 0 };
        return;
      case 0x64 /* d CopyData */:
        return this.copyData('out', length);
    }
  }

  /** abandon reports every request still unanswered, e.g. when the session ends. */
  abandon(reason: string): void {
    for (const p of this.pending) {
      if ('id' in p) {
        p.error ??= { sqlstate: '08006', message: reason };
        this.finish(p, 'error', false);
      }
    }
    this.pending.length = 0;
  }

  private query(sql: string): void {
    if (/^\s*(discard\s+all|deallocate\s+all)\b/i.test(sql)) this.statements.clear();
    this.begin('query', { sql: auditSql(sql, this.maxSqlBytes) });
  }

  private execute(portalName: string): void {
    const portal = this.portals.get(portalName);
    this.begin('execute', { sql: portal?.sql ?? NO_SQL, statement: portal?.statement ?? '', portal: portalName, params: portal?.params ?? [] });
  }

  private begin(kind: Operation['kind'], fields: { sql: AuditSql; statement?: string; portal?: string; params?: AuditParam[] }): void {
    const id = this.nextId++;
    const protocol = kind === 'query' ? 'simple' : kind === 'execute' ? 'extended' : 'function';
    const start = this.clock.nowMicros();
    if (kind === 'query' && fields.sql.sql_length === undefined && this.sink.appendQuery !== undefined) this.sink.appendQuery(this.session, id, fields.sql.sql, start);
    else if (kind === 'execute' && fields.sql.sql_length === undefined && this.sink.appendExtendedQuery !== undefined) {
      this.sink.appendExtendedQuery(this.session, id, fields.sql.sql, fields.statement!, fields.portal!, fields.params!, start);
    } else this.sink.append({ type: 'query', session: this.session, query: id, protocol, sql: fields.sql.sql, sql_length: fields.sql.sql_length, sql_sha256: fields.sql.sql_sha256, statement: fields.statement, portal: fields.portal, params: fields.params }, start);
    this.queries++;
    this.queriesSinceFlush++;
    this.pending.push({ kind, id, start, tags: [], tagChars: 0, tagsOmitted: 0, rows: 0, dataRows: 0, error: null, copy: null });
  }

  // Tags repeat ("SELECT 1", "UPDATE 1", "COMMIT"): the last few are kept with their bytes, so
  // a repeat costs a byte comparison instead of a UTF-8 decode and a parse of its row count.
  private tagOf(body: Buffer): KnownTag {
    const n = body.length;
    if (n > MAX_CACHED_TAG_BYTES) return knownTag(body);
    const cache = this.tagCache;
    search: for (let i = 0; i < cache.length; i++) {
      const known = cache[i]!;
      const b = known.body;
      if (b.length !== n) continue;
      for (let j = 0; j < n; j++) if (b[j] !== body[j]) continue search;
      return known;
    }
    const known = knownTag(Buffer.from(body)); // a copy: body is a view of a chunk
    if (cache.length < TAG_CACHE_SIZE) cache.push(known);
    else cache[this.tagCacheNext++ % TAG_CACHE_SIZE] = known;
    return known;
  }

  private commandComplete({ tag, rows }: KnownTag): void {
    const head = this.pending[0];
    if (!head || !('id' in head)) return;
    if (head.tags.length < MAX_TAGS && head.tagChars + tag.length <= MAX_TAG_CHARS) {
      head.tags.push(tag);
      head.tagChars += tag.length;
    } else head.tagsOmitted++;
    head.rows += rows;
    this.endCopy(head);
    if (head.kind === 'execute') this.finish(head, 'ok');
  }

  private errorResponse(f: { code: string; message: string }): void {
    const head = this.pending[0];
    if (!head) return;
    const op = 'id' in head ? head : (this.pending.find((p) => p.kind === 'sync' || 'id' in p) as Pending | undefined);
    if (op && 'id' in op) {
      op.error = { sqlstate: f.code, message: auditSql(f.message, this.maxSqlBytes).sql };
      this.endCopy(op);
    }
    if (head.kind === 'query' || head.kind === 'function') return; // these end at their ReadyForQuery
    // Extended protocol: the backend discards everything up to the next Sync.
    while (this.pending.length > 0 && this.pending[0]!.kind !== 'sync') {
      const p = this.pending.shift()!;
      if ('id' in p) this.finish(p, p.error ? 'error' : 'skipped', false);
    }
  }

  private readyForQuery(): void {
    while (this.pending.length > 0) {
      const p = this.pending.shift()!;
      if ('id' in p) this.finish(p, p.error ? 'error' : p.kind === 'function' || p.kind === 'query' ? 'ok' : 'skipped', false);
      if (p.kind === 'sync' || p.kind === 'query' || p.kind === 'function') return;
    }
  }

  private copyData(direction: 'in' | 'out', length: number): void {
    const head = this.pending[0];
    if (head && 'id' in head && head.copy && head.copy.direction === direction) {
      head.copy.bytes += length;
      head.copy.messages++;
    }
  }

  private endCopy(op: Operation): void {
    if (!op.copy) return;
    this.sink.append({ type: 'copy', session: this.session, query: op.id, direction: op.copy.direction, bytes: op.copy.bytes, messages: op.copy.messages });
    op.copy = null;
  }

  private finish(op: Operation, status: 'ok' | 'error' | 'suspended' | 'skipped', shift = true): void {
    if (shift && this.pending[0] === op) this.pending.shift();
    if (op.error) status = 'error';
    if (status === 'error') this.errors++;
    const rows = status === 'suspended' ? op.dataRows : op.rows;
    const end = this.clock.nowMicros();
    const error = op.error;
    if (status === 'ok' && error === null && op.tags.length === 1 && op.tagsOmitted === 0 && this.sink.appendOkResult !== undefined) {
      return this.sink.appendOkResult(this.session, op.id, op.tags[0]!, rows, end - op.start, end);
    }
    this.sink.append(
      {
        type: 'result', session: this.session, query: op.id, status, tags: op.tags, tags_omitted: op.tagsOmitted > 0 ? op.tagsOmitted : undefined, rows,
        sqlstate: error?.sqlstate, message: error?.message, duration_us: end - op.start,
      },
      end,
    );
  }
}
