import type { AuditEvent, AuditParam, AuditSink } from '../audit/events.js';

/** Counters are pgseal's operational totals since start. */
export type Counters = {
  sessionsStarted: number;
  sessionsEnded: number;
  sessionsRejected: number;
  authFailures: number;
  queries: number;
  queryErrors: number;
  cancels: number;
  bytesFromClients: number;
  bytesFromServers: number;
  auditRecords: number;
  auditWriteFailures: number;
};

/**
 * MeteredSink counts what passes through to the audit log, so the metrics are exactly the
 * audited events (a session is counted when its `session.start` is recorded, and so on).
 */
export class MeteredSink implements AuditSink {
  readonly counters: Counters = {
    sessionsStarted: 0,
    sessionsEnded: 0,
    sessionsRejected: 0,
    authFailures: 0,
    queries: 0,
    queryErrors: 0,
    cancels: 0,
    bytesFromClients: 0,
    bytesFromServers: 0,
    auditRecords: 0,
    auditWriteFailures: 0,
  };
  /** lastCheckpointAt is when the audit log last signed a checkpoint (ms since the epoch), or when pgseal started. */
  lastCheckpointAt = Date.now();

  constructor(private readonly inner: AuditSink & { close?(): void }) {}

  /** healthy is false while the audit log cannot be written (pgseal is failing closed). */
  get healthy(): boolean {
    return this.inner.healthy;
  }

  /** append counts the event and passes it on. */
  append(e: AuditEvent, atMicros?: number): void {
    this.inner.append(e, atMicros); // a refused record is not counted
    const c = this.counters;
    c.auditRecords++;
    switch (e.type) {
      case 'session.start':
        c.sessionsStarted++;
        break;
      case 'session.end':
        c.sessionsEnded++;
        c.bytesFromClients += e.bytes_from_client;
        c.bytesFromServers += e.bytes_from_server;
        break;
      case 'session.reject':
        c.sessionsRejected++;
        break;
      case 'auth.failure':
        c.authFailures++;
        break;
      case 'query':
        c.queries++;
        break;
      case 'result':
        if (e.status === 'error') c.queryErrors++;
        break;
      case 'cancel':
        c.cancels++;
        break;
    }
  }

  /** appendQuery counts a query and passes it on (as an event if the inner sink has no appendQuery). */
  appendQuery(session: string, query: number, sql: string, atMicros: number): void {
    const inner = this.inner;
    if (inner.appendQuery !== undefined) inner.appendQuery(session, query, sql, atMicros);
    else inner.append({ type: 'query', session, query, protocol: 'simple', sql }, atMicros);
    this.counters.auditRecords++;
    this.counters.queries++;
  }

  /** appendExtendedQuery counts a query and passes it on (as an event if the inner sink has no appendExtendedQuery). */
  appendExtendedQuery(session: string, query: number, sql: string, statement: string, portal: string, params: readonly AuditParam[], atMicros: number): void {
    const inner = this.inner;
    if (inner.appendExtendedQuery !== undefined) inner.appendExtendedQuery(session, query, sql, statement, portal, params, atMicros);
    else inner.append({ type: 'query', session, query, protocol: 'extended', sql, statement, portal, params: [...params] }, atMicros);
    this.counters.auditRecords++;
    this.counters.queries++;
  }

  /** appendOkResult counts the record and passes it on (as an event if the inner sink has no appendOkResult). */
  appendOkResult(session: string, query: number, tag: string, rows: number, durationUs: number, atMicros: number): void {
    const inner = this.inner;
    if (inner.appendOkResult !== undefined) inner.appendOkResult(session, query, tag, rows, durationUs, atMicros);
    else inner.append({ type: 'result', session, query, status: 'ok', tags: [tag], rows, duration_us: durationUs }, atMicros);
    this.counters.auditRecords++;
  }

  /** flush passes through, counting failures. */
  flush(): void {
    try {
      this.inner.flush();
    } catch (err) {
      this.counters.auditWriteFailures++;
      throw err;
    }
  }

  /** commit passes through, counting failures. */
  commit(done: (err: Error | null) => void): void {
    this.inner.commit((err) => {
      if (err) this.counters.auditWriteFailures++;
      done(err);
    });
  }

  /** close closes the inner sink. */
  close(): void {
    this.inner.close?.();
  }
}

/** renderMetrics writes the Prometheus text exposition format (version 0.0.4). */
export function renderMetrics(m: MeteredSink, connections: number, now = Date.now()): string {
  const c = m.counters;
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[string, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`);
  };
  metric('pgseal_client_connections', 'gauge', 'Open client connections (including ones still negotiating).', [['', connections]]);
  metric('pgseal_sessions_active', 'gauge', 'Sessions past login and not yet ended.', [['', c.sessionsStarted - c.sessionsEnded]]);
  metric('pgseal_sessions_total', 'counter', 'Sessions that logged in.', [['', c.sessionsStarted]]);
  metric('pgseal_sessions_rejected_total', 'counter', 'Connections refused (admission, TLS, upstream, limits).', [['', c.sessionsRejected]]);
  metric('pgseal_auth_failures_total', 'counter', 'Failed client authentications.', [['', c.authFailures]]);
  metric('pgseal_queries_total', 'counter', 'Queries recorded (simple Query, Execute, FunctionCall).', [['', c.queries]]);
  metric('pgseal_query_errors_total', 'counter', 'Queries that ended in an error.', [['', c.queryErrors]]);
  metric('pgseal_cancel_requests_total', 'counter', 'Cancel requests received.', [['', c.cancels]]);
  metric('pgseal_bytes_total', 'counter', 'Bytes relayed by ended sessions.', [
    ['{direction="from_client"}', c.bytesFromClients],
    ['{direction="from_server"}', c.bytesFromServers],
  ]);
  metric('pgseal_audit_records_total', 'counter', 'Audit records appended by sessions.', [['', c.auditRecords]]);
  metric('pgseal_audit_write_failures_total', 'counter', 'Failed audit log writes.', [['', c.auditWriteFailures]]);
  metric('pgseal_audit_seconds_since_checkpoint', 'gauge', 'Seconds since the audit log last signed a checkpoint.', [['', Math.max(0, (now - m.lastCheckpointAt) / 1000)]]);
  metric('pgseal_audit_fail_closed', 'gauge', '1 while the audit log cannot be written and pgseal refuses queries.', [['', m.healthy ? 0 : 1]]);
  return lines.join('\n') + '\n';
}
