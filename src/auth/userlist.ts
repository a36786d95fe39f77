import { PgsealError } from '../errors.js';

// PgBouncer's auth_file format (pgbouncer.ini docs, "Authentication file format"):
//   "role" "secret" [anything]
// Fields are double-quoted, a literal '"' is written '""'. Blank lines and lines whose first
// non-blank character is ';' or '#' are comments. As in PgBouncer, whatever follows the second
// field after white space is ignored (its mkauth.py writes a third field, `""`).

/** A cursor over one line; pos moves forward only. */
interface LineCursor {
  text: string;
  pos: number;
}

function malformed(lineNo: number, detail: string): PgsealError {
  return new PgsealError('config_invalid', `line ${lineNo}: ${detail}`);
}

/** Reads a "..." field with "" escapes, or returns null when the line is malformed there. */
function readQuoted(c: LineCursor): string | null {
  if (c.text[c.pos] !== '"') return null;
  let out = '';
  let i = c.pos + 1;
  for (;;) {
    const q = c.text.indexOf('"', i);
    if (q < 0) return null;
    out += c.text.slice(i, q);
    if (c.text[q + 1] === '"') {
      out += '"';
      i = q + 2;
      continue;
    }
    c.pos = q + 1;
    return out;
  }
}

/** Skips spaces and tabs; returns how many were skipped. */
function skipBlanks(c: LineCursor): number {
  const start = c.pos;
  while (c.text[c.pos] === ' ' || c.text[c.pos] === '\t') c.pos++;
  return c.pos - start;
}

function parseLine(c: LineCursor, lineNo: number): [string, string] {
  const role = readQuoted(c);
  if (role === null) throw malformed(lineNo, 'expected a double-quoted role name');
  if (role === '') throw malformed(lineNo, 'empty role name');
  if (skipBlanks(c) === 0) throw malformed(lineNo, 'expected white space after the role name');
  const secret = readQuoted(c);
  if (secret === null) throw malformed(lineNo, 'expected a double-quoted secret after the role name');
  if (c.pos < c.text.length && skipBlanks(c) === 0) {
    throw malformed(lineNo, 'unexpected text right after the closing quote of the secret');
  }
  return [role, secret];
}

/**
 * parseUserlist parses a PgBouncer auth_file into role → secret (kept as written: SCRAM
 * verifier, md5 hash or plain text). Throws PgsealError('config_invalid', 'line N: ...') on a
 * malformed line or a duplicate role; messages never quote a secret.
 */
export function parseUserlist(text: string): Map<string, string> {
  const users = new Map<string, string>();
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const c: LineCursor = { text: lines[i]!.replace(/\r$/, ''), pos: 0 };
    skipBlanks(c);
    const first = c.text[c.pos];
    if (first === undefined || first === ';' || first === '#') continue;
    const [role, secret] = parseLine(c, lineNo);
    if (users.has(role)) throw malformed(lineNo, `duplicate role ${JSON.stringify(role)}`);
    users.set(role, secret);
  }
  return users;
}
