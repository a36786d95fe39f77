import type { AuditEvent, AuditParam, AuditSink } from './events.js';

/** NullSink records nothing; it exists only to measure the proxy with the audit log off (audit.enabled: false). */
export class NullSink implements AuditSink {
  readonly healthy = true;
  append(_event: AuditEvent, _atMicros?: number): void {}
  appendQuery(_session: string, _query: number, _sql: string, _atMicros: number): void {}
  appendExtendedQuery(_session: string, _query: number, _sql: string, _statement: string, _portal: string, _params: readonly AuditParam[], _atMicros: number): void {}
  appendOkResult(_session: string, _query: number, _tag: string, _rows: number, _durationUs: number, _atMicros: number): void {}
  flush(): void {}
  commit(done: (err: Error | null) => void): void {
    done(null);
  }
  close(): void {}
}
