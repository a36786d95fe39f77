// A lower bound of a record line's length, computed without building the line. A query record
// whose bind values escape six-fold (control characters) could otherwise build a line of
// hundreds of megabytes before the store refuses it for exceeding MAX_LINE_BYTES (store.ts).
import type { LogRecord } from './record.js';

/** jsonStringBytes is the UTF-8 byte length of JSON.stringify(s), quotes included, without building it. */
export function jsonStringBytes(s: string): number {
  let n = 2;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c >= 0x20 && c !== 0x22 && c !== 0x5c) n += 1;
      else if (c === 0x22 || c === 0x5c || c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d) n += 2;
      else n += 6; // \u00XX
    } else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4; // a surrogate pair: one 4-byte character
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) n += 6; // a lone surrogate: \udXXX
    else n += 3;
  }
  return n;
}

// Below this many UTF-16 code units (each is at least one byte of the line, and at most six),
// a query record cannot approach MAX_LINE_BYTES, and nothing is counted.
const CHEAP_UNITS = 1 << 20;

/**
 * recordLineAtLeast returns a number the record's line is at least as long as: its SQL text and
 * bind values as JSON strings, plus a minimal object per value. Only query records carry enough
 * unbounded text to matter; for the others, and for queries far below the limit, it returns 0.
 */
export function recordLineAtLeast(record: LogRecord): number {
  if (record.type !== 'query') return 0;
  const params = record.params;
  let units = record.sql.length;
  if (params !== undefined) for (let i = 0; i < params.length; i++) units += params[i]!.value?.length ?? 0;
  if (units < CHEAP_UNITS) return 0;
  let bytes = jsonStringBytes(record.sql);
  for (const p of params ?? []) bytes += MIN_PARAM_BYTES + (p.value === undefined ? 0 : jsonStringBytes(p.value));
  return bytes;
}

// `{"format":"null"}`: the least a bind value adds besides its text.
const MIN_PARAM_BYTES = 17;
