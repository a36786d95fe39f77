// Test helpers for SealedLog: temporary log directories, sample events, a fake clock, and an
// independent re-check of a log directory (tree recomputed from the files with rootFromLeaves).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

import { openCheckpoint } from '../../src/audit/checkpoint.js';
import type { Clock } from '../../src/audit/clock.js';
import type { AuditEvent } from '../../src/audit/events.js';
import { MerkleFrontier, leafHash, rootFromLeaves } from '../../src/audit/merkle.js';
import type { NoteVerifier } from '../../src/audit/note.js';

/** ORIGIN is the log origin used by the store tests. */
export const ORIGIN = 'pgseal.test/audit';

/** tempDir returns a fresh directory removed after the test; the log goes in its `audit` child. */
export function tempDir(t: TestContext): string {
  const root = mkdtempSync(join(tmpdir(), 'pgseal-store-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return join(root, 'audit');
}

/** queryEvent returns a query event with bind parameters, keys deliberately out of contract order. */
export function queryEvent(i: number, session = 's1'): AuditEvent {
  return {
    params: [{ value: `v${i}`, format: 'text' }, { format: 'null' }],
    sql: `SELECT ${i}`,
    type: 'query',
    protocol: 'extended',
    query: i,
    session,
  };
}

/** FakeClock is a settable microsecond clock. */
export class FakeClock implements Clock {
  constructor(public micros = Date.UTC(2026, 10, 26, 13, 24, 59) * 1000 + 247_441) {}

  nowMicros(): number {
    return this.micros;
  }

  /** advance moves the clock forward by ms milliseconds. */
  advance(ms: number): void {
    this.micros += ms * 1000;
  }
}

/** LogLine is one record line with where it was found. */
export type LogLine = { text: string; record: Record<string, unknown>; segment: string; line: number };

/** segmentNames lists the segment files of dir in order. */
export function segmentNames(dir: string): string[] {
  return readdirSync(dir).filter((n) => /^seg-\d{20}\.jsonl$/.test(n)).sort();
}

/** readLog returns every line of every segment; each file must end in a newline (the open one after its zero-filled reserved space). */
export function readLog(dir: string): LogLine[] {
  const lines: LogLine[] = [];
  const names = segmentNames(dir);
  for (const segment of names) {
    let text = readFileSync(join(dir, segment), 'utf8');
    if (segment === names.at(-1)) text = text.replace(/\0+$/, '');
    assert.ok(text.endsWith('\n'), `${segment} ends in a newline`);
    text.slice(0, -1).split('\n').forEach((t, i) => lines.push({ text: t, record: JSON.parse(t), segment, line: i + 1 }));
  }
  return lines;
}

/** checkLog re-verifies a log from its files: seq, segment.start frontiers, and every checkpoint's root and signature. */
export function checkLog(dir: string, verifiers: readonly NoteVerifier[]): { lines: LogLine[]; leaves: Buffer[]; checkpoints: LogLine[] } {
  const lines = readLog(dir);
  const leaves: Buffer[] = [];
  const checkpoints: LogLine[] = [];
  let segment = 0;
  lines.forEach((l, seq) => {
    const r = l.record;
    assert.equal(r.seq, seq, `seq of ${l.segment} line ${l.line}`);
    assert.deepEqual(Object.keys(r).slice(0, 3), ['seq', 'ts', 'type']);
    assert.match(r.ts as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.equal(l.line === 1, r.type === 'segment.start', `segment.start exactly first in ${l.segment}`);
    if (r.type === 'segment.start') {
      assert.equal(l.segment, `seg-${String(seq).padStart(20, '0')}.jsonl`);
      assert.equal(r.segment, segment++);
      assert.equal(r.origin, ORIGIN);
      assert.equal(r.tree_size, seq);
      const frontier = MerkleFrontier.fromJSON({ size: r.tree_size, hashes: r.frontier });
      assert.deepEqual(frontier.root(), rootFromLeaves(leaves), `segment.start frontier of ${l.segment}`);
    }
    if (r.type === 'checkpoint') {
      assert.equal(r.tree_size, seq);
      const root = rootFromLeaves(leaves);
      assert.equal(r.root, root.toString('base64'), `checkpoint root at ${seq}`);
      const opened = openCheckpoint(r.note as string, verifiers, ORIGIN);
      assert.equal(opened.checkpoint.size, seq);
      assert.deepEqual(opened.checkpoint.root, root);
      checkpoints.push(l);
    }
    leaves.push(leafHash(Buffer.from(l.text)));
  });
  return { lines, leaves, checkpoints };
}

/** waitFor polls cond every 5 ms until it holds, failing after timeoutMs. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
