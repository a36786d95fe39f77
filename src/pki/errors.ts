import { PgsealError } from '../errors.js';

/** PkiError is the PgsealError (code 'pki_error') that every src/pki failure raises. */
export class PkiError extends PgsealError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('pki_error', message, options);
  }
}
