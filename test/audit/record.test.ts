import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { AuditParam } from '../../src/audit/events.js';
import type { LogRecord } from '../../src/audit/record.js';
import { formatTimestamp } from '../../src/audit/clock.js';
import { encodeGeneric, encodeRecord, param } from '../../src/audit/record.js';
import { appendRecordBytes, nativeRecordEncoder, paramsJson } from '../../src/audit/record-bytes.js';
import { nativeAddon } from '../../src/native-addon.js';
import { LineBuffer } from '../../src/audit/line-buffer.js';

// Strings that exercise every escaping rule of JSON.stringify: quotes, backslashes, control
// characters, DEL, non-ASCII, astral characters, lone surrogates, and both sides of the fast
// path's length threshold.
const STRINGS = [
  '', 'ok', 'SELECT 1', 'say "hi"', 'C:\\temp', 'line\nbreak', 'tab\there', '\u0000nul', '\u001f', '\u007fdel',
  'naïve café', '日本語', '😀 emoji', '\ud800 lone high', 'lone low \udc00', '\udc00\ud800', '</script>', '\u2028\u2029',
  'x'.repeat(255) + '"', 'y'.repeat(256) + '\\', 'z'.repeat(300), 'q'.repeat(1000) + '\n',
  '12345678', '1234567"', '123456789', '12345678\n', 'a'.repeat(55) + '\u0001',
];

function records(): LogRecord[] {
  const out: LogRecord[] = [];
  for (const s of STRINGS) {
    out.push({ type: 'query', session: s, query: 7, protocol: 'simple', sql: s });
    out.push({ type: 'query', session: 'abc', query: 2 ** 40, protocol: 'extended', sql: s, statement: s, portal: s });
    out.push({ type: 'query', session: 'abc', query: 1, protocol: 'extended', sql: s, statement: '', params: [
      { format: 'text', value: s }, { format: 'null' }, { format: 'binary', value: 'deadbeef', length: 9000, truncated: true, sha256: 'ab' },
      { format: 'redacted', length: 3, sha256: s },
    ] });
    out.push({ type: 'result', session: 's', query: 3, status: 'ok', tags: [s, 'SELECT 1', s], rows: 0, duration_us: 12 });
    out.push({ type: 'result', session: 's', query: 3, status: 'error', tags: [], rows: 5, sqlstate: '42P01', message: s, duration_us: 0 });
    out.push({ type: 'copy', session: s, query: 4, direction: 'in', bytes: 123456789, messages: 3 });
  }
  return out;
}

test('encodeRecord puts seq, ts and type first, whatever the values', () => {
  let n = 0;
  for (const r of records()) {
    for (const seq of [0, 1, 9_007_199_254_740_991]) {
      const fast = encodeRecord(seq, '2026-11-26T15:00:00.000001Z', r);
      assert.equal(fast, encodeGeneric(seq, '2026-11-26T15:00:00.000001Z', r));
      assert.deepEqual(Object.keys(JSON.parse(fast)).slice(0, 3), ['seq', 'ts', 'type']);
      n++;
    }
  }
  assert.ok(n > 300);
});

test('values of the wrong type are written as JSON.stringify writes them, never unquoted', () => {
  const odd = [
    { type: 'result', session: 's', query: 1.5, status: 'ok', tags: ['x'], rows: 1, duration_us: 1 },
    { type: 'result', session: 's', query: 1, status: 'ok', tags: [7], rows: Number.NaN, duration_us: 1 },
    { type: 'query', session: 1, query: 1, protocol: 'simple', sql: 'x' },
    { type: 'query', session: 's', query: 1, protocol: 'simple', sql: { toJSON: () => 'sneaky' } },
    { type: 'copy', session: 's', query: 1, direction: 'in', bytes: Infinity, messages: 1 },
  ] as unknown as LogRecord[];
  for (const r of odd) {
    const line = encodeRecord(1, 't', r);
    assert.equal(line, encodeGeneric(1, 't', r));
    JSON.parse(line); // always valid JSON
  }
  assert.match(encodeRecord(1, 't', odd[1]!), /"rows":null/);
});

test('a timestamp given in microseconds is formatted exactly as formatTimestamp does', () => {
  const base = Date.UTC(2026, 10, 26, 23, 59, 59) * 1000;
  for (const micros of [0, 1, base, base + 999_999, base + 1_000_000, base + 1_000_001, base + 100_000, base + 99_999]) {
    for (const r of records().slice(0, 12)) {
      assert.equal(encodeRecord(5, micros, r), encodeGeneric(5, formatTimestamp(micros), r));
    }
  }
  assert.throws(() => encodeRecord(1, -1, records()[0]!), /invalid record timestamp/);
  assert.throws(() => encodeRecord(1, 1.5, records()[0]!), /invalid record timestamp/);
});

test('the byte writers append exactly the line encodeRecord makes, newline included', () => {
  const lines = new LineBuffer();
  const base = Date.UTC(2026, 10, 26, 23, 59, 59) * 1000;
  let n = 0;
  for (const r of records()) {
    for (const [seq, micros] of [[0, 0], [1, base + 99_999], [9_007_199_254_740_991, base + 1_000_000], [-0, base + 999_999], [12_345, 1]] as const) {
      lines.clear();
      lines.push('before'); // a line already held must stay as it is
      assert.equal(appendRecordBytes(lines, seq, micros, r), true);
      const expected = `before\n${encodeRecord(seq, micros, r)}\n`;
      assert.equal(lines.bytes().toString('utf8'), expected);
      assert.deepEqual([...lines.ends.subarray(0, lines.count)], [6, Buffer.byteLength(expected) - 1]);
      n++;
    }
  }
  assert.ok(n > 500);
});

test('the byte writers refuse what the string path must handle: other types, odd values, bad timestamps', () => {
  const lines = new LineBuffer();
  const odd = [
    { type: 'result', session: 's', query: 1.5, status: 'ok', tags: ['x'], rows: 1, duration_us: 1 },
    { type: 'result', session: 's', query: 1, status: 'ok', tags: [7], rows: 1, duration_us: 1 },
    { type: 'result', session: 's', query: 1, status: 'ok', tags: ['x'], rows: Number.NaN, duration_us: 1 },
    { type: 'query', session: 1, query: 1, protocol: 'simple', sql: 'x' },
    { type: 'query', session: 's', query: 1, protocol: 'simple', sql: { toJSON: () => 'sneaky' } },
    { type: 'query', session: 's', query: 1, protocol: 'simple', sql: 'x', params: 'nope' },
    { type: 'copy', session: 's', query: 1, direction: 'in', bytes: Infinity, messages: 1 },
    { type: 'session.end', session: 's', reason: 'x', queries: 1, errors: 0, bytes_from_client: 1, bytes_from_server: 1, duration_us: 1 },
  ] as unknown as LogRecord[];
  for (const r of odd) assert.equal(appendRecordBytes(lines, 1, 1, r), false, JSON.stringify(r));
  const ok = records()[0]!;
  for (const micros of [-1, 1.5, Number.NaN]) assert.equal(appendRecordBytes(lines, 1, micros, ok), false);
  assert.equal(appendRecordBytes(lines, 0.5, 1, ok), false);
  assert.equal(lines.count, 0);
});

test('a huge SQL text grows the buffer and is written whole', () => {
  const lines = new LineBuffer();
  const sql = 'SELECT ' + "'é😀\\n'".repeat(200_000);
  const r: LogRecord = { type: 'query', session: 's', query: 1, protocol: 'simple', sql };
  assert.equal(appendRecordBytes(lines, 3, 4, r), true);
  assert.equal(lines.bytes().toString('utf8'), `${encodeRecord(3, 4, r)}\n`);
});

test('seeded fuzz: random strings and numbers, byte writer against JSON.stringify', () => {
  let seed = 12345;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  const pool = ['a', 'Z', '0', ' ', '"', '\\', '\n', '\u0001', '\u001f', '\u007f', 'é', '日', '😀', '\ud800', '\udc00', '\u2028', '/', "'", '\t'];
  const str = () => {
    let s = '';
    for (let i = Math.floor(rnd() * rnd() * 40); i > 0; i--) s += pool[Math.floor(rnd() * pool.length)];
    return s;
  };
  const int = () => {
    const k = rnd();
    return k < 0.3 ? Math.floor(rnd() * 10) : k < 0.6 ? -Math.floor(rnd() * 1e6) : k < 0.8 ? Math.floor(rnd() * Number.MAX_SAFE_INTEGER) : 0;
  };
  const lines = new LineBuffer();
  for (let i = 0; i < 20_000; i++) {
    const t = rnd();
    let r: LogRecord;
    if (t < 0.4) {
      r = { type: 'query', session: str(), query: int(), protocol: str() as 'simple', sql: str() };
      if (rnd() < 0.4) r.statement = str();
      if (rnd() < 0.4) r.portal = str();
      if (rnd() < 0.3) r.params = [{ format: 'text', value: str() }, { format: 'null' }];
    } else if (t < 0.8) {
      r = { type: 'result', session: str(), query: int(), status: str() as 'ok', tags: Array.from({ length: Math.floor(rnd() * 4) }, str), rows: int(), duration_us: int() };
      if (rnd() < 0.3) r.sqlstate = str();
      if (rnd() < 0.3) r.message = str();
    } else {
      r = { type: 'copy', session: str(), query: int(), direction: str() as 'in', bytes: int(), messages: int() };
    }
    const seq = int();
    const micros = Math.floor(rnd() * 2e15);
    lines.clear();
    assert.equal(appendRecordBytes(lines, seq, micros, r), true);
    // Bytes, not decoded text: a wrongly written lone surrogate would decode to U+FFFD on both sides.
    assert.ok(lines.bytes().equals(Buffer.from(`${encodeGeneric(seq, formatTimestamp(micros), r)}\n`)), JSON.stringify(r));
  }
});

test('the native encoder of simple and extended queries and ok results writes exactly what JSON.stringify does, or leaves the record to JavaScript', () => {
  assert.equal(nativeRecordEncoder, nativeAddon !== null, 'the addon encodes records whenever it is loaded');
  let seed = 777;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  // Mostly ASCII, which the addon writes (controls escaped); now and then a character it leaves to JavaScript.
  const pool = ['a', 'Z', '0', ' ', '"', '\\', '\n', '\r', '\t', '\b', '\f', '\u0000', '\u0001', '\u001f', '\u007f', '/', "'", 'SELECT ', ';', 'é', '😀', '\ud800'];
  const str = (max: number) => {
    let s = '';
    for (let i = Math.floor(rnd() * max); i > 0; i--) s += pool[Math.floor(rnd() * (rnd() < 0.9 ? pool.length - 3 : pool.length))];
    return s;
  };
  const num = () => (rnd() < 0.1 ? -1 : rnd() < 0.5 ? Math.floor(rnd() * 1000) : Math.floor(rnd() * Number.MAX_SAFE_INTEGER));
  const lines = new LineBuffer();
  const base = Date.UTC(2026, 10, 26, 23, 59, 59) * 1000;
  for (let i = 0; i < 20_000; i++) {
    const session = rnd() < 0.9 ? `s${Math.floor(rnd() * 20)}` : str(20);
    const k = rnd();
    const randomParam = (): AuditParam => {
      const f = rnd();
      if (f < 0.2) return { format: 'null' };
      if (f < 0.3) return { format: 'redacted', length: num(), sha256: str(64) };
      if (f < 0.4) return { format: 'binary', value: str(30), length: num(), truncated: true, sha256: str(64) };
      return { format: f < 0.5 ? 'binary' : 'text', value: str(rnd() < 0.02 ? 2000 : 30) };
    };
    const r: LogRecord = k < 0.35
      ? { type: 'query', session, query: num(), protocol: 'simple', sql: str(rnd() < 0.02 ? 3000 : 80) }
      : k < 0.65
        ? { type: 'query', session, query: num(), protocol: 'extended', sql: str(rnd() < 0.02 ? 3000 : 80), statement: str(rnd() < 0.05 ? 120 : 10), portal: str(rnd() < 0.05 ? 120 : 5), params: Array.from({ length: Math.floor(rnd() * 5) }, randomParam) }
        : { type: 'result', session, query: num(), status: 'ok', tags: [str(rnd() < 0.02 ? 3000 : 20)], rows: num(), duration_us: num() };
    if (r.type === 'query' && r.params !== undefined) assert.equal(paramsJson(r.params), JSON.stringify(r.params.map(param)));
    const seq = rnd() < 0.05 ? 9_007_199_254_740_991 : num();
    const micros = rnd() < 0.5 ? base + Math.floor(rnd() * 3_000_000) : Math.floor(rnd() * 2e15);
    lines.clear();
    lines.push('before');
    assert.equal(appendRecordBytes(lines, seq, micros, r), true);
    assert.ok(lines.bytes().equals(Buffer.from(`before\n${encodeGeneric(seq, formatTimestamp(micros), r)}\n`)), JSON.stringify([seq, micros, r]));
  }
  // Text longer than the addon takes, and a full buffer, go the JavaScript way with the same result.
  const long: LogRecord = { type: 'query', session: 's', query: 1, protocol: 'simple', sql: 'x'.repeat(5000) };
  lines.clear();
  assert.equal(appendRecordBytes(lines, 1, base, long), true);
  assert.equal(lines.bytes().toString(), `${encodeRecord(1, base, long)}\n`);
});
