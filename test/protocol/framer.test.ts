import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageFramer, collectTable, MessageWriter, ProtocolError } from '../../src/protocol/index.js';

function stream(): Buffer {
  return Buffer.concat([
    new MessageWriter('Q').cstring('SELECT 1').finish(),
    new MessageWriter('D').int16(1).int32(3).bytes(Buffer.from('abc')).finish(),
    new MessageWriter('S').finish(),
    new MessageWriter('P').cstring('s1').cstring('SELECT $1').int16(0).finish(),
  ]);
}

function frame(chunks: Buffer[]): Array<[string, string | null, number]> {
  const out: Array<[string, string | null, number]> = [];
  const f = new MessageFramer(collectTable('QPS'), 1 << 20, (code, body, len) => {
    out.push([String.fromCharCode(code), body === null ? null : body.toString('hex'), len]);
  });
  for (const c of chunks) f.push(c);
  assert.equal(f.midMessage, false);
  return out;
}

test('framer yields the same messages however the stream is split', () => {
  const all = stream();
  const expected = frame([all]);
  assert.deepEqual(expected.map((m) => m[0]), ['Q', 'D', 'S', 'P']);
  assert.equal(expected[1]![1], null, 'uncollected bodies are skipped');
  assert.equal(expected[1]![2], 9);
  for (let i = 1; i < all.length; i++) {
    for (let j = i; j < all.length; j++) {
      assert.deepEqual(frame([all.subarray(0, i), all.subarray(i, j), all.subarray(j)]), expected, `split ${i},${j}`);
    }
  }
  const bytes: Buffer[] = [];
  for (let i = 0; i < all.length; i++) bytes.push(all.subarray(i, i + 1));
  assert.deepEqual(frame(bytes), expected);
});

test('framer rejects lengths below 4 and above the limit', () => {
  const f = new MessageFramer(collectTable('Q'), 100, () => {});
  assert.throws(() => f.push(Buffer.from([0x51, 0, 0, 0, 3])), (e) => e instanceof ProtocolError && e.code === 'protocol_violation');
  const g = new MessageFramer(collectTable('Q'), 100, () => {});
  assert.throws(() => g.push(Buffer.from([0x51, 0x7f, 0xff, 0xff, 0xff])), (e) => e instanceof ProtocolError && e.code === 'message_too_large');
});
