import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditParam } from '../../src/audit/events.js';
import { encodeRecord, type LogRecord } from '../../src/audit/record.js';
import { jsonStringBytes, recordLineAtLeast } from '../../src/audit/record-size.js';

// Characters that JSON.stringify writes in each of its ways: plain, short escape, \u00XX,
// two- and three-byte UTF-8, a surrogate pair (four bytes), and lone surrogates (\udXXX).
const ALPHABET = ['a', ' ', '~', '"', '\\', '\n', '\t', '\b', '\f', '\r', '\u0000', '\u0001', '\u001f', '\u007f', 'é', '\u07ff', '\u0800', '€', '\uffff', '😀', '\ud800', '\udfff', '\udc00'];

function randomString(rand: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(rand() * ALPHABET.length)];
  return s;
}

function prng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

test('jsonStringBytes is the UTF-8 length of JSON.stringify for every kind of character', () => {
  const rand = prng(0x9e3779b9);
  for (const s of ['', ...ALPHABET, '\ud83d', '\ud83d\ud83d\ude00', '\ude00\ud83d']) {
    assert.equal(jsonStringBytes(s), Buffer.byteLength(JSON.stringify(s)), JSON.stringify(s));
  }
  for (let i = 0; i < 2000; i++) {
    const s = randomString(rand, Math.floor(rand() * 40));
    assert.equal(jsonStringBytes(s), Buffer.byteLength(JSON.stringify(s)), JSON.stringify(s));
  }
});

test('recordLineAtLeast never exceeds the line it bounds, and costs nothing for ordinary records', () => {
  const rand = prng(42);
  const query = (sql: string, params?: AuditParam[]): LogRecord => ({ type: 'query', session: 's1', query: 1, protocol: params ? 'extended' : 'simple', sql, statement: params ? 'st' : undefined, portal: params ? '' : undefined, params });
  assert.equal(recordLineAtLeast(query('SELECT 1')), 0);
  assert.equal(recordLineAtLeast({ type: 'result', session: 's1', query: 1, status: 'ok', tags: ['x'.repeat(2 << 20)], rows: 0, duration_us: 1 }), 0);
  for (let i = 0; i < 6; i++) {
    const params: AuditParam[] = Array.from({ length: 25 + Math.floor(rand() * 25) }, (_, k) =>
      k % 7 === 0 ? { format: 'null' } : { format: k % 2 ? 'text' : 'binary', value: randomString(rand, 60_000 + Math.floor(rand() * 20_000)) },
    );
    const r = query(randomString(rand, 1000), params);
    const bound = recordLineAtLeast(r);
    const line = Buffer.byteLength(encodeRecord(7, 1_764_000_000_000_000, r));
    assert.ok(bound > 0 && bound <= line, `bound ${bound} <= line ${line}`);
    assert.ok(bound > line * 0.9, `the bound is close: ${bound} of ${line}`);
  }
});
