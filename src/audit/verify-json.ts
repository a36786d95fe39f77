// Byte-level checks of a record line (docs/audit-log-format.md §Records) without building
// objects: the fixed `{"seq":N,"ts":"…","type":"…"` head, and JSON validity of the whole line in
// the compact form JSON.stringify writes (no whitespace outside strings). This is the verifier's
// hot path: JSON.parse would cost more than hashing; records the verifier must read are parsed.
import { isUtf8 } from 'node:buffer';

/** RecordHead is what every line starts with. */
export type RecordHead = { seq: number; type: string };

/** HeadAt is a RecordHead read in place, with `next`, the index just after the head (at the ',' or '}' that follows the type). */
export type HeadAt = RecordHead & { next: number };

const Q = 0x22; // "
const COLON = 0x3a;
const COMMA = 0x2c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const BACKSLASH = 0x5c;
const MAX_DEPTH = 64;
const SEQ_PREFIX = Buffer.from('{"seq":');
const TS_PREFIX = Buffer.from(',"ts":"');
const TYPE_PREFIX = Buffer.from('","type":"');
// ts is RFC 3339 UTC with six fractional digits: YYYY-MM-DDTHH:MM:SS.ffffffZ ('d' marks a digit).
const TS_PATTERN = Buffer.from('dddd-dd-ddTdd:dd:dd.ddddddZ');
const D = 0x64;
const stack = new Uint8Array(MAX_DEPTH); // isCompactJson's container stack (1: object, 2: array); it never re-enters

// The record types of docs/audit-log-format.md §Types, matched without allocating a string.
const KNOWN_TYPES = [
  'query', 'result', 'checkpoint', 'segment.start', 'key.rotate', 'log.repair', 'session.start', 'session.end',
  'session.reject', 'auth.failure', 'copy', 'cancel',
].map((t) => ({ name: t, bytes: Buffer.from(t) }));

/** parseRecordHead reads seq and type from the line's fixed head into out (a fresh object by default), or returns why the head is malformed. */
export function parseRecordHead(line: Uint8Array, out: RecordHead = { seq: 0, type: '' }): RecordHead | string {
  const next = readHead(line, 0, line.length, out);
  return typeof next === 'string' ? next : out;
}

/** parseRecordHeadAt is parseRecordHead of the line buf[start, end), read in place; out.next tells where the rest starts. */
export function parseRecordHeadAt(buf: Uint8Array, start: number, end: number, out: HeadAt): HeadAt | string {
  const next = readHead(buf, start, end, out);
  if (typeof next === 'string') return next;
  out.next = next;
  return out;
}

// Reads the head of buf[start, end) into out; returns the index after it, or why it is malformed.
function readHead(buf: Uint8Array, start: number, end: number, out: RecordHead): number | string {
  if (!startsWith(buf, end, SEQ_PREFIX, start)) return 'line does not start with {"seq":';
  let i = start + SEQ_PREFIX.length;
  const digits = i;
  let seq = 0;
  while (i < end && isDigit(buf[i])) seq = seq * 10 + (buf[i++]! - 0x30);
  const n = i - digits;
  if (n === 0 || n > 16 || (n > 1 && buf[digits] === 0x30) || !Number.isSafeInteger(seq)) return 'seq is not a canonical non-negative integer';
  if (!startsWith(buf, end, TS_PREFIX, i)) return 'ts does not follow seq';
  i += TS_PREFIX.length;
  if (end - i < TS_PATTERN.length) return TS_WRONG;
  for (let k = 0; k < TS_PATTERN.length; k++, i++) {
    const want = TS_PATTERN[k]!;
    const got = buf[i]!;
    if (want === D ? !isDigit(got) : got !== want) return TS_WRONG;
  }
  if (!startsWith(buf, end, TYPE_PREFIX, i)) return 'type does not follow ts';
  i += TYPE_PREFIX.length;
  const from = i;
  while (i < end && isTypeChar(buf[i]!)) i++;
  const after = i + 1 < end ? buf[i + 1] : undefined;
  if (i === from || i >= end || buf[i] !== Q || (after !== COMMA && after !== RBRACE)) return 'type is not a record type name';
  out.seq = seq;
  out.type = typeName(buf, from, i);
  return i + 1;
}

const TS_WRONG = 'ts is not RFC 3339 UTC with six fractional digits';

function typeName(buf: Uint8Array, start: number, end: number): string {
  for (const t of KNOWN_TYPES) {
    if (t.bytes.length === end - start && startsWith(buf, end, t.bytes, start)) return t.name;
  }
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
}

/** isCompactJson reports whether line is valid UTF-8 holding one JSON value with no whitespace outside strings. */
export function isCompactJson(line: Uint8Array): boolean {
  return isCompactJsonAt(line, 0, line.length);
}

/** isCompactJsonAt is isCompactJson of the line buf[start, end), which it reads in place. */
export function isCompactJsonAt(buf: Uint8Array, start: number, end: number): boolean {
  nonAscii = false;
  return scanJson(buf, start, end, 0, 0) && utf8Checked(buf, start, end);
}

/**
 * isCompactRecordAt is isCompactJsonAt for a line whose head parseRecordHeadAt accepted: it scans
 * only the rest, from head.next, as the continuation of the record object (the head is plain
 * ASCII, so the verdict on the whole line is the same).
 */
export function isCompactRecordAt(buf: Uint8Array, start: number, end: number, head: HeadAt): boolean {
  nonAscii = false;
  stack[0] = 1; // inside the record object, just after the type's value
  return scanJson(buf, head.next, end, 1, 2) && utf8Checked(buf, start, end);
}

// ASCII lines (the usual case) skip the UTF-8 pass.
function utf8Checked(buf: Uint8Array, start: number, end: number): boolean {
  return !nonAscii || isUtf8(new Uint8Array(buf.buffer, buf.byteOffset + start, end - start));
}

// Scans line[start, n) from the given depth and state (the container stack below depth is set).
function scanJson(line: Uint8Array, start: number, n: number, fromDepth: number, fromState: number): boolean {
  let depth = fromDepth;
  let i = start;
  // 0: a value is expected; 1: a key or '}' (just after '{'); 2: ',' or a closing bracket; 3: a key (after ',').
  let state = fromState;
  while (i < n) {
    const c = line[i]!;
    if (state === 0) {
      if (c === Q) {
        i = skipString(line, i + 1, n);
      } else if (c === LBRACE || c === LBRACKET) {
        if (depth === MAX_DEPTH) return false;
        stack[depth++] = c === LBRACE ? 1 : 2;
        i++;
        if (c === LBRACE) {
          state = 1;
          continue;
        }
        if (at(line, i, n) === RBRACKET) {
          depth--;
          i++;
        } else {
          continue; // state stays 0: the array's first value
        }
      } else {
        i = skipLiteral(line, i, n);
      }
      if (i < 0) return false;
      state = 2;
      if (depth === 0) return i === n;
    } else if (state === 1 || state === 3) {
      if (c === RBRACE && state === 1) {
        depth--;
        i++;
        state = 2;
        if (depth === 0) return i === n;
        continue;
      }
      if (c !== Q) return false;
      i = skipString(line, i + 1, n);
      if (i < 0 || at(line, i, n) !== COLON) return false;
      i++;
      state = 0;
    } else {
      const top = stack[depth - 1];
      if (c === COMMA) {
        state = top === 1 ? 3 : 0;
        i++;
      } else if ((c === RBRACE && top === 1) || (c === RBRACKET && top === 2)) {
        depth--;
        i++;
        if (depth === 0) return i === n;
      } else {
        return false;
      }
    }
  }
  return false;
}

// Byte classes inside a string: 0 plain ASCII, 1 '"', 2 '\\', 3 a control character (not allowed
// raw), 4 a byte of a multi-byte UTF-8 sequence (the line is then checked with isUtf8).
const STRING_CLASS = new Uint8Array(256);
STRING_CLASS.fill(3, 0, 0x20);
STRING_CLASS.fill(4, 0x80, 0x100);
STRING_CLASS[Q] = 1;
STRING_CLASS[BACKSLASH] = 2;
let nonAscii = false; // set by skipString; isCompactJson never re-enters

// A DataView over the buffer being scanned, made once per buffer (a chunk holds thousands of lines).
let wordsBuf: Uint8Array | null = null;
let words: DataView = new DataView(new ArrayBuffer(0));
function wordsOf(b: Uint8Array): DataView {
  if (b !== wordsBuf) {
    wordsBuf = b;
    words = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  return words;
}

// After the opening quote: returns the index after the closing quote, or -1. RFC 8259 §7.
function skipString(b: Uint8Array, i: number, n: number): number {
  const words = wordsOf(b);
  for (;;) {
    // The hot loop: four bytes at a time while none is '"', '\\', a control character or >= 0x80
    // (exact: a word is skipped only when it holds none), then one table lookup per byte.
    while (i + 4 <= n) {
      const x = words.getInt32(i, true);
      const q = x ^ 0x22222222;
      const s = x ^ 0x5c5c5c5c;
      if (((x | ((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s)) & 0x80808080) !== 0) break;
      i += 4;
    }
    while (i < n && STRING_CLASS[b[i]!] === 0) i++;
    if (i >= n) return -1;
    const c = b[i++]!;
    if (c === Q) return i;
    if (c >= 0x80) {
      nonAscii = true;
      continue;
    }
    if (c !== BACKSLASH) return -1;
    const e = at(b, i++, n);
    if (e === 0x75) {
      for (let k = 0; k < 4; k++) if (!isHex(at(b, i++, n))) return -1;
    } else if (e !== Q && e !== BACKSLASH && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) {
      return -1;
    }
  }
}

// A number (RFC 8259 §6), true, false or null: returns the index after it, or -1.
function skipLiteral(b: Uint8Array, i: number, n: number): number {
  const c = b[i];
  if (c === 0x74) return word(b, i, n, 'true');
  if (c === 0x66) return word(b, i, n, 'false');
  if (c === 0x6e) return word(b, i, n, 'null');
  if (c === 0x2d) i++;
  if (at(b, i, n) === 0x30) i++;
  else if (isDigit19(at(b, i, n))) while (isDigit(at(b, i, n))) i++;
  else return -1;
  if (at(b, i, n) === 0x2e) {
    i++;
    if (!isDigit(at(b, i, n))) return -1;
    while (isDigit(at(b, i, n))) i++;
  }
  const e = at(b, i, n);
  if (e === 0x65 || e === 0x45) {
    i++;
    const sign = at(b, i, n);
    if (sign === 0x2b || sign === 0x2d) i++;
    if (!isDigit(at(b, i, n))) return -1;
    while (isDigit(at(b, i, n))) i++;
  }
  return i;
}

function word(b: Uint8Array, i: number, n: number, w: string): number {
  if (i + w.length > n) return -1;
  for (let k = 0; k < w.length; k++) if (b[i + k] !== w.charCodeAt(k)) return -1;
  return i + w.length;
}

// The byte at i of a line ending at n, or -1 past its end (a line is a range of a larger buffer).
const at = (b: Uint8Array, i: number, n: number): number => (i < n ? b[i]! : -1);

function startsWith(buf: Uint8Array, end: number, prefix: Uint8Array, from: number): boolean {
  if (end < from + prefix.length) return false;
  for (let k = 0; k < prefix.length; k++) if (buf[from + k] !== prefix[k]) return false;
  return true;
}

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;
const isDigit19 = (c: number): boolean => c >= 0x31 && c <= 0x39;
const isHex = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
// Record type names: lowercase letters, '.' and '_' (session.start, key.rotate, ...).
const isTypeChar = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || c === 0x2e || c === 0x5f;
