import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { AuditParam } from './events.js';

/** ParamPolicy says how bind values are recorded. */
export type ParamPolicy = { maxBytes: number; redact: boolean };

/** auditParam renders one bind value for the log: text as text, binary (or invalid UTF-8) as hex, truncated with length and SHA-256. */
export function auditParam(format: 0 | 1, value: Buffer | null, policy: ParamPolicy): AuditParam {
  if (value === null) return { format: 'null' };
  if (policy.redact) return { format: 'redacted', length: value.length, sha256: sha256(value) };
  const isText = format === 0 && isUtf8(value);
  const truncated = value.length > policy.maxBytes;
  const shown = truncated ? value.subarray(0, policy.maxBytes) : value;
  const p: AuditParam = { format: isText ? 'text' : 'binary', value: isText ? shown.toString('utf8') : shown.toString('hex') };
  if (truncated) {
    p.length = value.length;
    p.truncated = true;
    p.sha256 = sha256(value);
  }
  return p;
}

/** AuditSql is an SQL text as recorded: whole, or its first bytes with the whole text's length and SHA-256. */
export type AuditSql = { sql: string; sql_length?: number; sql_sha256?: string };

/** DEFAULT_MAX_SQL_BYTES is audit.max_sql_bytes's default (1 MiB). */
export const DEFAULT_MAX_SQL_BYTES = 1 << 20;

/**
 * auditSql bounds an SQL text (or a server message) for the log: texts of more than maxBytes
 * UTF-8 bytes keep their first maxBytes bytes, cut at a character boundary, with the whole
 * text's byte length and SHA-256. A record line is limited to MAX_LINE_BYTES (record.ts), and
 * an unbounded text could make one longer, which the log could no longer be reopened with.
 */
export function auditSql(text: string, maxBytes: number): AuditSql {
  if (text.length * 3 <= maxBytes) return { sql: text };
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return { sql: text };
  let cut = maxBytes;
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--; // not inside a multi-byte character
  return { sql: bytes.toString('utf8', 0, cut), sql_length: bytes.length, sql_sha256: sha256(bytes) };
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

