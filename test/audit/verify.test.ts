// verifyLog's API over in-memory segments: the faults that need hand-made lines (too long, CR,
// misplaced segment.start, double key.rotate, edited tree_size), chunking independence, and
// the reports of partial verification.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import type { SegmentSource } from '../../src/audit/log-reader.js';
import { verifyLog, type VerifyOptions, type VerifyReport } from '../../src/audit/verify.js';
import { formatFault, formatReport } from '../../src/audit/verify-report.js';
import { find, readLines, removeDir, rootOf, segmentNames, signedNote, tempDir, verifier, writeLog } from './fixtures.js';

let master: string;
let segments: Array<{ name: string; lines: string[] }>;

before(async () => {
  master = await tempDir();
  writeLog(master);
  segments = await Promise.all((await segmentNames(master)).map(async (name) => ({ name, lines: await readLines(master, name) })));
});

after(() => removeDir(master));

// In-memory sources, each segment's bytes cut into chunks of `chunk` bytes.
function sources(segs: Array<{ name: string; lines: string[]; raw?: Buffer }>, chunk = 1 << 20): SegmentSource[] {
  return segs.map((s) => ({
    name: s.name,
    label: s.name,
    open: async function* () {
      const data = s.raw ?? Buffer.from(s.lines.map((l) => `${l}\n`).join(''));
      for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
    },
  }));
}

function verify(segs: Array<{ name: string; lines: string[]; raw?: Buffer }>, o: Partial<VerifyOptions> = {}, chunk?: number): Promise<VerifyReport> {
  return verifyLog(sources(segs, chunk), { trustedKey: verifier('a'), ...o });
}

function edited(segment: number, edit: (lines: string[]) => string[]): Array<{ name: string; lines: string[] }> {
  return segments.map((s, i) => (i === segment ? { name: s.name, lines: edit([...s.lines]) } : s));
}

test('the verdict does not depend on how the bytes are chunked', async () => {
  const whole = await verify(segments);
  assert.equal(whole.ok, true);
  for (const chunk of [1, 3, 64, 1000]) assert.deepEqual(await verify(segments, {}, chunk), whole, `chunk ${chunk}`);
});

test('a line longer than 16 MiB is malformed-line, without reading it whole', async () => {
  const big = { name: segments[1]!.name, lines: [], raw: Buffer.concat([Buffer.from(`${segments[1]!.lines[0]!}\n`), Buffer.alloc(17 * 1024 * 1024, 0x61)]) };
  const r = await verify([segments[0]!, big]);
  assert.equal(r.fault?.kind, 'malformed-line');
  assert.equal(r.fault!.line, 2);
  assert.match(r.fault!.message, /longer than 16777216 bytes/);
});

test('a carriage return, a second segment.start, or a non-segment.start first record is malformed-line', async () => {
  const cr = await verify(edited(1, (l) => [l[0]!, `${l[1]!}\r`, ...l.slice(2)]));
  assert.equal(cr.fault?.kind, 'malformed-line');
  assert.equal(cr.fault!.line, 2);
  const twice = await verify(edited(1, (l) => {
    const start = JSON.parse(l[0]!) as Record<string, unknown>;
    l[3] = JSON.stringify({ ...start, seq: (start.seq as number) + 3, tree_size: (start.seq as number) + 3 });
    return l;
  }));
  assert.deepEqual([twice.fault?.kind, twice.fault?.line], ['malformed-line', 4]);
  assert.match(twice.fault!.message, /second segment\.start/);
  const headless = await verify(edited(1, (l) => {
    const first = JSON.parse(l[1]!) as Record<string, unknown>;
    l[0] = JSON.stringify({ ...first, seq: first.seq as number - 1 });
    return l;
  }));
  assert.deepEqual([headless.fault?.kind, headless.fault?.line], ['malformed-line', 1]);
});

test('a segment.start whose segment.start was deleted is a seq-gap', async () => {
  const r = await verify(edited(2, (l) => l.slice(1)));
  assert.equal(r.fault?.kind, 'seq-gap');
  assert.equal(r.fault!.segment, segments[2]!.name);
  assert.equal(r.fault!.seqFrom, (JSON.parse(segments[2]!.lines[0]!) as { seq: number }).seq);
});

test('an edited checkpoint tree_size is checkpoint-mismatch; a second key.rotate before its checkpoint is key-rotate', async () => {
  const cp = (await find(master, 'checkpoint'))[0]!;
  const segIndex = segments.findIndex((s) => s.name === cp.segment);
  const r = await verify(edited(segIndex, (l) => {
    l[cp.index] = JSON.stringify({ ...cp.record, tree_size: 3 });
    return l;
  }));
  assert.deepEqual([r.fault?.kind, r.fault?.line], ['checkpoint-mismatch', cp.index + 1]);

  const rot = (await find(master, 'key.rotate'))[0]!;
  const rotIndex = segments.findIndex((s) => s.name === rot.segment);
  const r2 = await verify(edited(rotIndex, (l) => {
    const prev = JSON.parse(l[rot.index - 1]!) as Record<string, unknown>;
    l[rot.index - 1] = JSON.stringify({ seq: prev.seq, ts: prev.ts, type: 'key.rotate', new_key: verifier('evil').toString(), old_key_id: (rot.record.old_key_id as string) });
    return l;
  }));
  assert.equal(r2.fault?.kind, 'key-rotate');
  assert.equal(r2.fault!.line, rot.index + 1);
});

test('partial verification reports its starting size and refuses an older external checkpoint', async () => {
  const later = segments.slice(3);
  const r = await verify(later, { partial: true, trustedKey: verifier('b') }); // after the rotation: b is the key in force
  assert.equal(r.ok, true, r.fault?.message);
  const start = (JSON.parse(later[0]!.lines[0]!) as { seq: number }).seq;
  assert.equal(r.startSize, start);
  assert.equal(r.records, r.treeSize - start);
  assert.match(formatReport(r), /verified from \d+: earlier segments not given/);
  const note = signedNote(10, await rootOf(master, 10), ['a']);
  const old = await verify(later, { partial: true, trustedKey: verifier('b'), externalCheckpoint: note });
  assert.equal(old.fault?.kind, 'external-checkpoint-invalid');
});

test('formatFault names kind, segment, line, seq range and where it was detected', () => {
  assert.equal(
    formatFault({ kind: 'checkpoint-root-mismatch', segment: 'seg-1.jsonl', line: 3, seqFrom: 5, seqTo: 9, message: 'm', detectedAt: { segment: 'seg-2.jsonl', line: 4 } }),
    'TAMPERED checkpoint-root-mismatch: seg-1.jsonl line 3, seq 5..9: m (detected at seg-2.jsonl line 4)',
  );
  assert.equal(formatFault({ kind: 'seq-gap', segment: 's', line: 1, seqFrom: 2, seqTo: 2, message: 'x' }), 'TAMPERED seq-gap: s line 1, seq 2: x');
});

test('random byte edits and cuts anywhere in the sealed range are all detected, and never crash the verifier', async () => {
  const raw = segments.map((s) => ({ name: s.name, lines: [], raw: Buffer.from(s.lines.map((l) => `${l}\n`).join('')) }));
  // The sealed range ends where the last checkpoint record starts (its own ts is covered by no signature).
  const last = (await find(master, 'checkpoint')).at(-1)!;
  const lastSeg = raw.findIndex((s) => s.name === last.segment);
  const lastOffset = segments[lastSeg]!.lines.slice(0, last.index).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
  let state = 99;
  const rand = (n: number): number => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
  for (let round = 0; round < 150; round++) {
    const seg = rand(lastSeg + 1);
    const limit = seg === lastSeg ? lastOffset : raw[seg]!.raw.length;
    const data = Buffer.from(raw[seg]!.raw);
    const at = rand(limit);
    let mutated: Buffer;
    if (round % 3 === 2) {
      mutated = Buffer.concat([data.subarray(0, at), data.subarray(Math.min(limit, at + 1 + rand(400)))]); // cut a range
    } else {
      data[at] = (data[at]! + 1 + rand(255)) % 256; // change one byte to any other value
      mutated = data;
    }
    const r = await verify(raw.map((s, i) => (i === seg ? { ...s, raw: mutated } : s)));
    assert.equal(r.ok, false, `round ${round}: ${seg}@${at} went unnoticed`);
    assert.ok(r.fault!.seqFrom <= r.fault!.seqTo);
  }
});
