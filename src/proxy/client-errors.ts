import { PgsealError } from '../errors.js';
import { encodeErrorResponse, SQLSTATE } from '../protocol/index.js';

/** ClientFacingError is an error that pgseal reports to the client with a chosen SQLSTATE and text. */
export class ClientFacingError extends PgsealError {
  constructor(
    readonly sqlstate: string,
    message: string,
    readonly hint?: string,
  ) {
    super('admission_denied', message);
  }
}

const SQLSTATE_BY_CODE: Record<string, string> = {
  protocol_violation: SQLSTATE.protocolViolation,
  message_too_large: SQLSTATE.protocolViolation,
  startup_invalid: SQLSTATE.protocolViolation,
  unsupported_feature: SQLSTATE.featureNotSupported,
  auth_failed: SQLSTATE.invalidPassword,
  auth_unavailable: SQLSTATE.invalidAuthorization,
  admission_denied: SQLSTATE.invalidAuthorization,
  upstream_unavailable: SQLSTATE.cannotConnect,
  upstream_tls: SQLSTATE.cannotConnect,
  upstream_protocol: SQLSTATE.cannotConnect,
  audit_error: SQLSTATE.ioError,
  audit_record_too_large: SQLSTATE.programLimitExceeded,
};

/** sqlstateOf picks the SQLSTATE for any error; unknown errors are internal (XX000). */
export function sqlstateOf(err: unknown): string {
  if (err instanceof ClientFacingError) return err.sqlstate;
  if (err instanceof PgsealError) return SQLSTATE_BY_CODE[err.code] ?? SQLSTATE.internalError;
  return SQLSTATE.internalError;
}

/** clientErrorResponse renders an error as a FATAL ErrorResponse without leaking internals. */
export function clientErrorResponse(err: unknown): Buffer {
  const code = sqlstateOf(err);
  const message = err instanceof PgsealError ? err.message : 'internal error in pgseal';
  const hint = err instanceof ClientFacingError ? err.hint : undefined;
  return encodeErrorResponse({ severity: 'FATAL', code, message, ...(hint ? { hint } : {}) });
}
