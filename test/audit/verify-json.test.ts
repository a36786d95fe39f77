// The verifier's byte-level record checks: the fixed head, compact JSON validity (checked
// against JSON.parse on mutated real records), and line splitting at every chunk boundary.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LineSplitter, LineTooLongError } from '../../src/audit/log-reader-lines.js';
import { encodeRecord } from '../../src/audit/record.js';
import { isCompactJson, isCompactJsonAt, isCompactRecordAt, parseRecordHead, parseRecordHeadAt } from '../../src/audit/verify-json.js';
import { sessionEvents } from './fixtures.js';

const TS = '2026-11-26T13:24:59.247441Z';
const lines = sessionEvents(40).map((e, i) => encodeRecord(i * 37, TS, e));
lines.push(encodeRecord(5, TS, { type: 'query', session: 's', query: 1, protocol: 'extended', sql: 'SELECT "x\\y" \u00e9 \u{1f600} \n\t', params: [{ format: 'binary', value: 'ff00', length: 2 }, { format: 'null' }] }));
lines.push(encodeRecord(6, TS, { type: 'checkpoint', tree_size: 6, root: 'AAAA', note: 'o\n6\nAAAA\n\n\u2014 k AAAA\n' }));

function jsonValid(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

test('parseRecordHead reads seq and type from records the store writes', () => {
  lines.forEach((l, i) => {
    const head = parseRecordHead(Buffer.from(l));
    assert.equal(typeof head, 'object', String(head));
    assert.equal((head as { seq: number }).seq, (JSON.parse(l) as { seq: number }).seq, `line ${i}`);
    assert.equal((head as { type: string }).type, (JSON.parse(l) as { type: string }).type);
  });
  assert.deepEqual(parseRecordHead(Buffer.from(`{"seq":0,"ts":"${TS}","type":"segment.start"}`)), { seq: 0, type: 'segment.start' });
  assert.deepEqual(parseRecordHead(Buffer.from(`{"seq":9007199254740991,"ts":"${TS}","type":"x"}`)), { seq: 9007199254740991, type: 'x' });
});

test('parseRecordHead rejects heads that are not exactly seq, ts, type', () => {
  const bad = [
    '',
    `{"ts":"${TS}","seq":1,"type":"query"}`,
    `{"seq":01,"ts":"${TS}","type":"query"}`,
    `{"seq":-1,"ts":"${TS}","type":"query"}`,
    `{"seq":1.0,"ts":"${TS}","type":"query"}`,
    `{"seq":9007199254740992,"ts":"${TS}","type":"query"}`,
    `{"seq":99999999999999999,"ts":"${TS}","type":"query"}`,
    `{"seq": 1,"ts":"${TS}","type":"query"}`,
    `{"seq":1,"ts":"2026-11-26T13:24:59.24744Z","type":"query"}`,
    `{"seq":1,"ts":"2026-11-26 13:24:59.247441Z","type":"query"}`,
    `{"seq":1,"ts":"2026-11-26T13:24:59.247441+00:00","type":"query"}`,
    `{"seq":1,"ts":"${TS}","type":""}`,
    `{"seq":1,"ts":"${TS}","type":"Query"}`,
    `{"seq":1,"ts":"${TS}","type":"query"`,
    `{"seq":1,"ts":"${TS}","type":"query" }`,
    `{"seq":1,"ts":"${TS}","kind":"query"}`,
  ];
  for (const b of bad) assert.equal(typeof parseRecordHead(Buffer.from(b)), 'string', b);
});

test('isCompactJson accepts every record line and agrees with JSON.parse on thousands of mutations', () => {
  for (const l of lines) assert.ok(isCompactJson(Buffer.from(l)), l);
  let state = 12345;
  const rand = (n: number): number => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
  const alphabet = '{}[]",:\\0123456789.eE+-tfnrul aAbu\t\n\u0001';
  let checked = 0;
  for (let round = 0; round < 20_000; round++) {
    const base = lines[rand(lines.length)]!;
    let s = base;
    for (let k = 1 + rand(3); k > 0; k--) {
      const at = rand(s.length + 1);
      const op = rand(3);
      const ch = alphabet[rand(alphabet.length)]!;
      s = op === 0 ? s.slice(0, at) + ch + s.slice(at) : op === 1 ? s.slice(0, at) + s.slice(at + 1) : s.slice(0, at) + ch + s.slice(at + 1);
    }
    const compact = isCompactJson(Buffer.from(s));
    const head = parseRecordHeadAt(Buffer.from(s), 0, Buffer.byteLength(s), { seq: 0, type: '', next: 0 });
    if (typeof head !== 'string') assert.equal(isCompactRecordAt(Buffer.from(s), 0, Buffer.byteLength(s), head), compact, `from the head on: ${s}`);
    if (compact) assert.ok(jsonValid(s), `accepted invalid JSON: ${s}`);
    // Whitespace outside strings is valid JSON but not what JSON.stringify writes: the only allowed difference.
    const hasLooseWhitespace = /[ \t\n\r]/.test(s.replace(/"(?:[^"\\]|\\.)*"/g, '""'));
    if (!compact && !hasLooseWhitespace) assert.ok(!jsonValid(s), `rejected valid compact JSON: ${s}`);
    checked += 1;
  }
  assert.equal(checked, 20_000);
});

test('isCompactJson edge cases', () => {
  const ok = ['{}', '[]', '{"a":[]}', '{"a":[1,-0,0.5,1e9,1E-2,true,false,null,"\\u00e9\\n"]}', '"x"', '0'];
  const bad = ['', '{', '}', '{"a"}', '{"a":}', '{"a":1,}', '[1,]', '{"a":01}', '{"a":1.}', '{"a":.5}', '{"a":tru}', '{"a":"\\x"}',
    '{"a":"\\u12"}', '{"a":"\u0001"}', '{} {}', '{}x', '{"a":1} ', '{ "a":1}', `${'['.repeat(65)}${']'.repeat(65)}`];
  for (const s of ok) assert.ok(isCompactJson(Buffer.from(s)), s);
  for (const s of bad) assert.ok(!isCompactJson(Buffer.from(s)), s);
  assert.ok(isCompactJson(Buffer.from(`${'['.repeat(64)}${']'.repeat(64)}`)), 'depth 64 is allowed');
});

test('LineSplitter yields the same lines wherever the chunks are cut', () => {
  const text = Buffer.from(`${lines.slice(0, 6).join('\n')}\n${'x'.repeat(10)}`);
  const want = lines.slice(0, 6);
  for (let cut = 0; cut <= text.length; cut++) {
    for (const step of [1, 7, text.length]) {
      const splitter = new LineSplitter(1 << 20);
      const got: string[] = [];
      const chunks = [text.subarray(0, cut)];
      for (let i = cut; i < text.length; i += step) chunks.push(text.subarray(i, Math.min(text.length, i + step)));
      for (const c of chunks) splitter.push(c, (l) => got.push(l.toString()));
      assert.deepEqual(got, want, `cut ${cut} step ${step}`);
      assert.equal(splitter.end()?.toString(), 'x'.repeat(10));
    }
  }
});

test('LineSplitter enforces its cap on complete and on partial lines', () => {
  const s = new LineSplitter(10);
  const got: string[] = [];
  s.push(Buffer.from('0123456789\n'), (l) => got.push(l.toString()));
  assert.deepEqual(got, ['0123456789']);
  assert.throws(() => s.push(Buffer.from('0123456789a\n'), () => {}), LineTooLongError);
  const partial = new LineSplitter(10);
  partial.push(Buffer.from('012345'), () => {});
  assert.throws(() => partial.push(Buffer.from('6789ab'), () => {}), LineTooLongError, 'an unterminated line past the cap');
  const empty = new LineSplitter(10);
  assert.equal(empty.end(), null);
});

test('isCompactJson checks UTF-8 inside strings, and rejects bytes >= 0x80 outside them', () => {
  assert.ok(isCompactJson(Buffer.from('{"a":"\\u00e9 \u00e9 \u{1f600}"}')));
  const bad = [
    [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d], // {"a":"<ff>"}
    [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x22, 0x7d], // a truncated 2-byte sequence
    [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d], // an encoded surrogate
    [0x7b, 0x22, 0x61, 0x22, 0x3a, 0xc3, 0xa9, 0x7d], // é as a bare value
  ];
  for (const b of bad) assert.equal(isCompactJson(Buffer.from(b)), false, Buffer.from(b).toString('hex'));
});

test('the in-place forms read only their range: the bytes around a line never change the verdict', () => {
  // Suffixes that would complete a cut literal, string, escape, number or object if read past the end.
  const after = ['', '\n', '}', 'ue}', 'e}', '0}', '5e1}', '"}', '0"}', '":1}', ':1}', ']}', ',"type":"query"}', '0000"}'];
  const before = ['', '{', '{"seq":1,', '\n'];
  let state = 777;
  const rand = (n: number): number => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
  const cases: Buffer[] = lines.map((l) => Buffer.from(l));
  for (const l of lines) {
    const b = Buffer.from(l);
    for (let k = 0; k < 40; k++) cases.push(b.subarray(0, rand(b.length))); // cut anywhere
  }
  cases.push(Buffer.from('{"a":"\\u12'), Buffer.from('{"a":"\\'), Buffer.from('{"a":-'), Buffer.from('{"a":1.'), Buffer.from('{"a":1e'));
  cases.push(Buffer.from(`{"seq":1,"ts":"${TS}","type":"query`), Buffer.from(`{"seq":1,"ts":"${TS.slice(0, 10)}`), Buffer.from('{"seq":12'));
  for (const line of cases) {
    const compact = isCompactJson(line);
    const head = parseRecordHead(line);
    for (const pre of before) {
      for (const post of after) {
        const buf = Buffer.concat([Buffer.from(pre), line, Buffer.from(post)]);
        const start = Buffer.byteLength(pre);
        const end = start + line.length;
        const what = `${pre}|${line.toString()}|${post}`;
        assert.equal(isCompactJsonAt(buf, start, end), compact, what);
        const at = parseRecordHeadAt(buf, start, end, { seq: 0, type: '', next: 0 });
        if (typeof head === 'string') {
          assert.equal(at, head, what);
        } else {
          assert.ok(typeof at === 'object' && at.seq === head.seq && at.type === head.type, what);
          assert.equal(isCompactRecordAt(buf, start, end, at), compact, `${what} (from the head on)`);
        }
      }
    }
  }
});

test('LineSplitter.split gives the same lines as push, as ranges of the chunks', () => {
  const text = Buffer.from(`${lines.slice(0, 6).join('\n')}\n${'x'.repeat(10)}`);
  for (const step of [1, 5, 64, text.length]) {
    const splitter = new LineSplitter(1 << 20);
    const got: string[] = [];
    for (let i = 0; i < text.length; i += step) {
      splitter.split(text.subarray(i, Math.min(text.length, i + step)), (buf, start, end) => got.push(buf.toString('utf8', start, end)));
    }
    assert.deepEqual(got, lines.slice(0, 6), `step ${step}`);
    assert.equal(splitter.end()?.toString(), 'x'.repeat(10));
  }
});

test('isCompactJson finds a special byte at any position of a long string (the scan reads words of four bytes)', () => {
  const specials = [[0x00], [0x01], [0x1f], [0x20], [0x21], [0x22], [0x23], [0x5b], [0x5c], [0x5c, 0x6e], [0x5d], [0x7f], [0x80], [0xc3, 0xa9], [0xc3], [0xff]];
  for (let len = 0; len < 24; len++) {
    for (let pos = 0; pos <= len; pos++) {
      for (const sp of specials) {
        const bytes = Buffer.concat([Buffer.from('{"a":"'), Buffer.alloc(pos, 0x78), Buffer.from(sp), Buffer.alloc(len - pos, 0x78), Buffer.from('"}')]);
        const text = bytes.toString('utf8');
        const valid = Buffer.from(text).equals(bytes) && jsonValid(text);
        assert.equal(isCompactJson(bytes), valid, bytes.toString('hex'));
        assert.equal(isCompactJsonAt(Buffer.concat([Buffer.from('x'), bytes, Buffer.from('"}')]), 1, 1 + bytes.length), valid, `in place: ${bytes.toString('hex')}`);
      }
    }
  }
});
