import { PgsealError } from '../errors.js';

/** UpstreamError is a failure to reach or log in to PostgreSQL; clients get SQLSTATE 08001 (or the upstream's own error). */
export class UpstreamError extends PgsealError {
  constructor(
    code: 'upstream_unavailable' | 'upstream_tls' | 'upstream_protocol',
    message: string,
    /** upstreamError is the upstream's own ErrorResponse bytes, forwarded to the client as they came. */
    readonly upstreamError: Buffer | null = null,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}
