import { PkiError } from './errors.js';

// index.txt in OpenSSL's CA database format (apps/ca.c, the TXT_DB used by `openssl ca`):
// six tab-separated fields per line —
//   status  V (valid) | R (revoked) | E (expired)
//   expiry  ASN1 time text: YYMMDDHHMMSSZ (UTCTime, years 1950-2049) or YYYYMMDDHHMMSSZ
//   revocation  empty, or "<time>" or "<time>,<reason>" when status is R
//   serial  uppercase hex, even number of digits
//   file    always "unknown"
//   subject OpenSSL one-line DN, e.g. /CN=alice
// Pure functions; the store does the file I/O.

/** IndexStatus is the first field of an index.txt line. */
export type IndexStatus = 'V' | 'R' | 'E';

/** RevocationReason lists the reasons pgseal revokes with (RFC 5280 §5.3.1 names, as OpenSSL spells them). */
export type RevocationReason = 'unspecified' | 'keyCompromise' | 'superseded' | 'cessationOfOperation';

/** REVOCATION_REASONS maps reason names OpenSSL writes in index.txt to RFC 5280 CRLReason codes. */
export const REVOCATION_REASONS: Readonly<Record<string, number>> = {
  unspecified: 0,
  keyCompromise: 1,
  CACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
};

/** IndexEntry is one certificate in index.txt. */
export interface IndexEntry {
  status: IndexStatus;
  expiry: Date;
  revokedAt: Date | null;
  reason: string | null;
  serial: string;
  subject: string;
}

/** formatIndexTime writes a date as OpenSSL does: UTCTime up to 2049, GeneralizedTime after. */
export function formatIndexTime(date: Date): string {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new PkiError(`date out of range: ${iso}`);
  return year < 2050 ? `${digits.slice(2)}Z` : `${digits}Z`;
}

/** parseIndexTime reads YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ (RFC 5280 §4.1.2.5 year rules). */
export function parseIndexTime(text: string): Date {
  const m = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) throw new PkiError(`invalid index.txt time "${text}"`);
  let year = Number(m[1]);
  if (m[1]!.length === 2) year += year < 50 ? 2000 : 1900;
  const [month, day, hour, minute, second] = m.slice(2).map(Number) as [number, number, number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    throw new PkiError(`invalid index.txt time "${text}"`);
  }
  return date;
}

/** normalizeSerial uppercases a hex serial, drops ':' separators and pads to whole bytes. */
export function normalizeSerial(serial: string): string {
  const hex = serial.replace(/:/g, '').toUpperCase();
  if (!/^[0-9A-F]+$/.test(hex)) throw new PkiError(`invalid serial "${serial}"`);
  return hex.length % 2 ? `0${hex}` : hex;
}

/** parseIndexLine parses one line of index.txt. */
export function parseIndexLine(line: string, lineNo = 1): IndexEntry {
  const fields = line.split('\t');
  const fail = (why: string): never => {
    throw new PkiError(`index.txt line ${lineNo}: ${why}`);
  };
  if (fields.length !== 6) fail(`expected 6 tab-separated fields, got ${fields.length}`);
  const [status, expiry, revocation, serial, , subject] = fields as [string, string, string, string, string, string];
  if (status !== 'V' && status !== 'R' && status !== 'E') return fail(`unknown status "${status}"`);
  if ((status === 'R') !== (revocation !== '')) fail('revocation field must be set exactly when status is R');
  const [revokedText, reason] = revocation === '' ? [] : revocation.split(',');
  if (!/^[0-9A-F]+$/.test(serial) || serial.length % 2) fail(`invalid serial "${serial}"`);
  return {
    status,
    expiry: parseIndexTime(expiry),
    revokedAt: revokedText ? parseIndexTime(revokedText) : null,
    reason: reason ?? null,
    serial,
    subject,
  };
}

/** parseIndex parses a whole index.txt (empty lines ignored). */
export function parseIndex(text: string): IndexEntry[] {
  return text
    .split('\n')
    .map((line, i) => ({ line, no: i + 1 }))
    .filter(({ line }) => line !== '')
    .map(({ line, no }) => parseIndexLine(line, no));
}

/** formatIndexLine writes one entry as an index.txt line (without the newline). */
export function formatIndexLine(e: IndexEntry): string {
  let revocation = '';
  if (e.status === 'R') {
    if (!e.revokedAt) throw new PkiError(`revoked entry ${e.serial} has no revocation date`);
    revocation = formatIndexTime(e.revokedAt) + (e.reason ? `,${e.reason}` : '');
  }
  return [e.status, formatIndexTime(e.expiry), revocation, e.serial, 'unknown', e.subject].join('\t');
}

/** formatIndex writes a whole index.txt, one line per entry, each ending in a newline. */
export function formatIndex(entries: readonly IndexEntry[]): string {
  return entries.map((e) => `${formatIndexLine(e)}\n`).join('');
}
