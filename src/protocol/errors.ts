import { PgsealError, type PgsealErrorCode } from '../errors.js';

/** ProtocolError is a malformed or unexpected wire message; clients get SQLSTATE 08P01. */
export class ProtocolError extends PgsealError {
  constructor(code: Extract<PgsealErrorCode, 'protocol_violation' | 'message_too_large' | 'startup_invalid' | 'unsupported_feature'>, message: string) {
    super(code, message);
  }
}
