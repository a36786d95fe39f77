/** PgsealErrorCode is the stable string code every pgseal error carries. */
export type PgsealErrorCode =
  | 'protocol_violation'
  | 'message_too_large'
  | 'startup_invalid'
  | 'unsupported_feature'
  | 'auth_failed'
  | 'auth_unavailable'
  | 'admission_denied'
  | 'upstream_unavailable'
  | 'upstream_tls'
  | 'upstream_protocol'
  | 'config_invalid'
  | 'pki_error'
  | 'audit_error'
  | 'audit_record_too_large'
  | 'usage'
  | 'io';

/** PgsealError is the base of every error pgseal raises on purpose. */
export class PgsealError extends Error {
  constructor(
    readonly code: PgsealErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * PrivateReasonError is an error whose message is all a client hears, while `reason`, which may
 * name roles, queries or upstream errors, goes only to the audit record and the operational log.
 */
export class PrivateReasonError extends PgsealError {
  constructor(
    code: PgsealErrorCode,
    message: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}
