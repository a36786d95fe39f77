import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LineBuffer } from '../../src/audit/line-buffer.js';

// Each held line's bytes, without its newline, as the store hashes them: bytes() cut at ends.
function forEachLine(b: LineBuffer, fn: (line: Buffer) => void): void {
  const bytes = b.bytes();
  let start = 0;
  for (let i = 0; i < b.count; i++) {
    fn(bytes.subarray(start, b.ends[i]));
    start = b.ends[i]! + 1;
  }
}

test('LineBuffer holds UTF-8 lines with their newlines and hands out each line exactly', () => {
  const b = new LineBuffer();
  const lines = ['{"a":1}', '', 'naïve 日本語 😀', 'x'.repeat(70_000), '\ud800 lone surrogate', 'é'.repeat(30_000)];
  for (const l of lines) b.push(l);
  assert.equal(b.count, lines.length);
  assert.deepEqual(b.bytes(), Buffer.from(lines.map((l) => `${l}\n`).join('')));
  const seen: string[] = [];
  forEachLine(b, (line) => seen.push(line.toString('utf8')));
  assert.deepEqual(seen, lines.map((l) => Buffer.from(l).toString('utf8')));
  b.clear();
  assert.equal(b.count, 0);
  assert.equal(b.bytes().length, 0);
  b.push('after clear');
  assert.equal(b.bytes().toString(), 'after clear\n');
});

test('LineBuffer grows for many small lines and one huge line, and starts small again after a huge batch', () => {
  const b = new LineBuffer();
  for (let i = 0; i < 20_000; i++) b.push(`{"seq":${i}}`);
  let n = 0;
  forEachLine(b, (line) => assert.equal(line.toString(), `{"seq":${n++}}`));
  assert.equal(n, 20_000);
  b.clear();
  const huge = 'q'.repeat(6 * 1024 * 1024);
  b.push(huge);
  assert.equal(b.bytes().length, huge.length + 1);
  b.clear();
  b.push('small');
  assert.equal(b.bytes().toString(), 'small\n');
});
