import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';

import { rootFromLeaves } from '../../src/audit/merkle.js';
import { generateSignerKey } from '../../src/audit/note.js';
import { SealedLog, crashForTest, type SealedLogOptions } from '../../src/audit/store.js';
import { ORIGIN, checkLog, queryEvent, readLog, segmentNames, tempDir } from './store-helpers.js';

const key = generateSignerKey('pgseal.test');
const verifiers = [key.verifier()];

function opener(t: TestContext, extra: Partial<SealedLogOptions> = {}): { dir: string; open: () => SealedLog } {
  const dir = tempDir(t);
  return { dir, open: () => SealedLog.open({ dir, origin: ORIGIN, signer: key, checkpointMs: 3_600_000, ...extra }) };
}

// Writes a closed log of n query records and returns the path of its (only) segment.
function closedLog(open: () => SealedLog, dir: string, n: number): string {
  const log = open();
  for (let i = 0; i < n; i++) log.append(queryEvent(i));
  log.close();
  return join(dir, segmentNames(dir).at(-1)!);
}

test('reopening continues seq and the tree in a new segment that starts with reason "start"', (t) => {
  const { dir, open } = opener(t, { checkpointEvery: 5 });
  closedLog(open, dir, 12);
  const before = readLog(dir).length;
  const log = open();
  assert.equal(log.size, before + 1); // the new segment.start
  for (let i = 0; i < 7; i++) log.append(queryEvent(100 + i));
  log.flush();
  const { lines, leaves } = checkLog(dir, verifiers);
  assert.deepEqual(log.root(), rootFromLeaves(leaves));
  assert.equal(log.size, lines.length);
  const start = lines[before]!;
  assert.deepEqual([start.segment, start.line, start.record.segment, start.record.reason], [segmentNames(dir)[1], 1, 1, 'start']);
  log.close();
  checkLog(dir, verifiers);
});

test('after a crash the count cadence continues from the last checkpoint in the last segment', (t) => {
  const { dir, open } = opener(t, { checkpointEvery: 10 });
  const crashed = open();
  for (let i = 0; i < 13; i++) {
    crashed.append(queryEvent(i)); // seq 1-9, checkpoint 10, seq 11-14
    crashed.flush();
  } // ... and no close: the process died here
  crashForTest(crashed);
  assert.deepEqual(checkLog(dir, verifiers).checkpoints.map((c) => c.record.seq), [10]);
  const log = open(); // segment.start at 15: 5 records since the checkpoint at 10
  for (let i = 0; i < 5; i++) {
    log.append(queryEvent(i));
    log.flush();
  }
  assert.deepEqual(checkLog(dir, verifiers).checkpoints.map((c) => c.record.seq), [10, 21]);
  log.close();
});

test('a torn final line is truncated and reported by a log.repair record', (t) => {
  const { dir, open } = opener(t);
  const segment = closedLog(open, dir, 5);
  const length = statSync(segment).size;
  const torn = '{"seq":7,"ts":"2026-11-26T13:24:59.2';
  appendFileSync(segment, torn);
  const log = open();
  log.close();
  assert.equal(statSync(segment).size, length);
  const { lines } = checkLog(dir, verifiers);
  const repair = lines.find((l) => l.record.type === 'log.repair')!;
  assert.equal(repair.line, 2);
  assert.equal(repair.segment, segmentNames(dir)[1]);
  assert.deepEqual(Object.keys(repair.record), ['seq', 'ts', 'type', 'segment', 'truncated_bytes', 'reason']);
  assert.deepEqual([repair.record.segment, repair.record.truncated_bytes, repair.record.reason], [
    segmentNames(dir)[0], torn.length, 'torn final line',
  ]);
});

test('a last segment without a complete record (crash right after creating it) is removed and reported', (t) => {
  for (const content of ['', '{"seq":7,"ts":"2026-11-']) {
    const { dir, open } = opener(t);
    closedLog(open, dir, 5);
    const next = `seg-${String(readLog(dir).length).padStart(20, '0')}.jsonl`;
    writeFileSync(join(dir, next), content, { mode: 0o600 });
    open().close();
    const { lines } = checkLog(dir, verifiers);
    assert.deepEqual(segmentNames(dir), ['seg-00000000000000000000.jsonl', next]);
    const repair = lines.find((l) => l.record.type === 'log.repair')!;
    assert.deepEqual([repair.record.segment, repair.record.truncated_bytes, repair.record.reason], [next, content.length, 'empty segment removed']);
  }
});

test('damage other than a torn final line makes open throw audit_error and leaves the files alone', (t) => {
  const cases: Array<[string, (lines: string[]) => string[], RegExp]> = [
    ['corrupt middle line', (l) => [...l.slice(0, 2), '{"seq":2,"ts":', ...l.slice(3)], /line 3: not valid JSON/],
    ['invalid complete last line', (l) => [...l.slice(0, -1), 'not json'], /line 8: not valid JSON/],
    ['missing record', (l) => [...l.slice(0, 2), ...l.slice(3)], /line 3: seq 3 where 2 was expected/],
    ['keys out of order', (l) => [...l.slice(0, 2), l[2]!.replace(/^\{"seq":2,"ts":("[^"]*"),/, '{"ts":$1,"seq":2,'), ...l.slice(3)], /line 3: keys/],
    ['second segment.start', (l) => [...l.slice(0, 2), l[0]!.replace('"seq":0', '"seq":2'), ...l.slice(3)], /line 3: a second segment\.start/],
    ['bad frontier', (l) => [l[0]!.replace('"frontier":[]', '"frontier":["AA=="]'), ...l.slice(1)], /line 1: segment\.start frontier/],
  ];
  for (const [what, damage, message] of cases) {
    const { dir, open } = opener(t);
    const segment = closedLog(open, dir, 6);
    const lines = readFileSync(segment, 'utf8').slice(0, -1).split('\n');
    const damaged = `${damage(lines).join('\n')}\n`;
    writeFileSync(segment, damaged);
    assert.throws(open, (err: Error & { code?: string }) => {
      assert.equal(err.code, 'audit_error', what);
      assert.match(err.message, /^corrupt audit segment seg-0{20}\.jsonl /, what);
      assert.match(err.message, message, what);
      return true;
    });
    assert.equal(readFileSync(segment, 'utf8'), damaged, what);
    assert.equal(segmentNames(dir).length, 1, what);
  }
});

test('open refuses a log of another origin and bad options', (t) => {
  const { dir, open } = opener(t);
  closedLog(open, dir, 1);
  assert.throws(() => SealedLog.open({ dir, origin: 'other.origin', signer: key }), { code: 'audit_error', message: /origin/ });
  assert.throws(() => SealedLog.open({ dir, origin: ORIGIN, signer: key, checkpointEvery: 0 }), { code: 'audit_error' });
  assert.throws(() => SealedLog.open({ dir, origin: 'bad\norigin', signer: key }), { code: 'audit_error' });
  assert.equal(segmentNames(dir).length, 1);
});
