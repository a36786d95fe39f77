import { PkiError } from './errors.js';

// PEM as RFC 7468: a label line, base64 in 64-character lines, an end line.

/** PemLabel lists the PEM labels pgseal writes (RFC 7468 §5, §6, §10, §11). */
export type PemLabel = 'CERTIFICATE' | 'X509 CRL' | 'PRIVATE KEY' | 'ENCRYPTED PRIVATE KEY';

/** encodePem wraps DER bytes in a PEM block with the given label. */
export function encodePem(label: PemLabel, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** decodePem returns the DER bytes of the first PEM block with the given label. */
export function decodePem(text: string, label: PemLabel): Uint8Array {
  const re = new RegExp(`-----BEGIN ${label}-----\\r?\\n([A-Za-z0-9+/=\\r\\n]+?)-----END ${label}-----`);
  const m = re.exec(text);
  if (!m) throw new PkiError(`no PEM block labelled ${label}`);
  return new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

/** toDer accepts PEM text (label CERTIFICATE) or DER bytes and returns DER bytes. */
export function toDer(pemOrDer: string | Uint8Array, label: PemLabel = 'CERTIFICATE'): Uint8Array {
  return typeof pemOrDer === 'string' ? decodePem(pemOrDer, label) : pemOrDer;
}
