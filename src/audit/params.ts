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

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

