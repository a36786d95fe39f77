/** AuditParam is one bind parameter as recorded: text, hex for binary, or redacted; truncated values keep length and digest. */
export type AuditParam = {
  format: 'text' | 'binary' | 'null' | 'redacted';
  value?: string;
  length?: number;
  truncated?: boolean;
  sha256?: string;
};

/** ClientAddress is where a connection came from. */
export type ClientAddress = { address: string; port: number };

/** TlsInfo describes the client leg's TLS. */
export type TlsInfo = { version: string; cipher: string; alpn: string | null; direct: boolean } | null;

/** CertificateInfo is the client certificate's identity, when one was presented. */
export type CertificateInfo = { subject: string; serial: string; fingerprint: string; identity: string } | null;

/** AuditEvent is every event a session reports; `type` names the record written for it. */
export type AuditEvent =
  | {
      type: 'session.start';
      session: string;
      client: ClientAddress;
      tls: TlsInfo;
      certificate: CertificateInfo;
      user: string;
      database: string;
      application_name: string;
      auth_method: string;
      upstream: string;
    }
  | {
      type: 'session.reject';
      session: string;
      client: ClientAddress;
      certificate: CertificateInfo;
      user: string | null;
      database: string | null;
      sqlstate: string;
      reason: string;
    }
  | { type: 'auth.failure'; session: string; client: ClientAddress; certificate: CertificateInfo; user: string; database: string; sqlstate: string; reason: string }
  | {
      type: 'query';
      session: string;
      query: number;
      protocol: 'simple' | 'extended' | 'function';
      sql: string;
      /** sql_length and sql_sha256 describe the whole text when sql holds only its first audit.max_sql_bytes bytes. */
      sql_length?: number;
      sql_sha256?: string;
      statement?: string;
      portal?: string;
      params?: AuditParam[];
    }
  | {
      type: 'result';
      session: string;
      query: number;
      status: 'ok' | 'error' | 'suspended' | 'skipped';
      tags: string[];
      /** tags_omitted counts the CommandComplete tags beyond the first 1000 (or 64 Ki characters), which are not listed. */
      tags_omitted?: number;
      rows: number;
      sqlstate?: string;
      message?: string;
      duration_us: number;
    }
  | { type: 'copy'; session: string; query: number; direction: 'in' | 'out'; bytes: number; messages: number }
  | { type: 'cancel'; session: string | null; client: ClientAddress; matched: boolean }
  | {
      type: 'session.end';
      session: string;
      reason: string;
      queries: number;
      errors: number;
      bytes_from_client: number;
      bytes_from_server: number;
      duration_us: number;
    };

/** AuditSink receives a session's events. `append` buffers; `flush` hands buffered records to the kernel and throws if it cannot. */
export interface AuditSink {
  /** append records event, stamped atMicros when the caller has just read the clock, otherwise now. */
  append(event: AuditEvent, atMicros?: number): void;
  flush(): void;
  /**
   * appendQuery, appendExtendedQuery and appendOkResult record the events of almost every query
   * (a simple-protocol query or an Execute; an ok result with one tag) from their fields, without an event object; a sink without
   * them gets the same events through append. A sink may write such a record at once (SealedLog
   * on a mapped segment): commit is then called all the same, and answers at once.
   */
  appendQuery?(session: string, query: number, sql: string, atMicros: number): void;
  appendOkResult?(session: string, query: number, tag: string, rows: number, durationUs: number, atMicros: number): void;
  /** appendExtendedQuery is appendQuery for an extended-protocol Execute: its statement, portal and bind values. */
  appendExtendedQuery?(session: string, query: number, sql: string, statement: string, portal: string, params: readonly AuditParam[], atMicros: number): void;
  /** commit makes every appended record durable per the configured durability, then calls back (synchronously when it can). */
  commit(done: (err: Error | null) => void): void;
  /** healthy is false while the log cannot be written (pgseal then fails closed). */
  readonly healthy: boolean;
}
