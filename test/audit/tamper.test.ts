// DESIGN §4's tamper list, case by case, on copies of a real log written by SealedLog: 7
// segments, 8 checkpoints, a key rotation (a → b) and an unsealed tail. Each case asserts the
// kind of the first fault and exactly where it is.
import assert from 'node:assert/strict';
import { readFile, rename, rm, truncate, writeFile, appendFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { openLog } from '../../src/audit/log-reader.js';
import { verifyLog, type VerifyOptions, type VerifyReport } from '../../src/audit/verify.js';
import {
  copyLog, editLine, find, readLines, records, removeDir, replaceNote, rootOf, segmentNames, signedNote, tempDir,
  verifier, writeLines, writeLog, type Located,
} from './fixtures.js';

let master: string;
const copies: string[] = [];

before(async () => {
  master = await tempDir();
  writeLog(master);
});

after(async () => {
  await Promise.all([master, ...copies].map(removeDir));
});

async function copy(): Promise<string> {
  const dir = await copyLog(master);
  copies.push(dir);
  return dir;
}

function verifyDir(dir: string, o: Partial<VerifyOptions> = {}): Promise<VerifyReport> {
  return openLog([dir]).then((sources) => verifyLog(sources, { trustedKey: verifier('a'), ...o }));
}

function assertFault(r: VerifyReport, want: { kind: string; segment: string; line: number; seqFrom: number; seqTo: number }): void {
  assert.equal(r.ok, false, 'verify must fail');
  const f = r.fault!;
  assert.deepEqual({ kind: f.kind, segment: f.segment, line: f.line, seqFrom: f.seqFrom, seqTo: f.seqTo }, want, f.message);
}

const seqOf = (r: Located): number => r.record.seq as number;
const at = (r: Located): { segment: string; line: number } => ({ segment: r.segment, line: r.index + 1 });

// The checkpoints before and after a record: the fault range for an edit that keeps JSON valid.
async function sealedRange(dir: string, seq: number): Promise<{ from: Located; to: Located }> {
  const cps = await find(dir, 'checkpoint');
  const from = cps.filter((c) => seqOf(c) <= seq).at(-1)!;
  const to = cps.find((c) => seqOf(c) > seq)!;
  return { from, to };
}

// A query whose next commitment is a checkpoint in its own segment (not a later segment.start's frontier).
async function queryInSealedRange(dir: string, nth = 10): Promise<Located> {
  const cps = await find(dir, 'checkpoint');
  const queries = (await find(dir, 'query')).slice(nth);
  return queries.find((q) => cps.find((c) => seqOf(c) > seqOf(q))?.segment === q.segment)!;
}

test('the intact log verifies, with the root recomputed independently and the unsealed tail counted', async () => {
  const all = await records(master);
  const r = await verifyDir(master);
  assert.equal(r.ok, true, r.fault?.message);
  assert.equal(r.records, all.length);
  assert.equal(r.treeSize, all.length);
  assert.equal(r.segments, (await segmentNames(master)).length);
  assert.ok(r.segments >= 5, 'fixture has several segments');
  const cps = await find(master, 'checkpoint');
  assert.ok(cps.length >= 5);
  assert.equal(r.checkpoints, cps.length);
  assert.equal(r.lastCheckpointSize, seqOf(cps.at(-1)!));
  assert.equal(r.unsealed, all.length - seqOf(cps.at(-1)!) - 1);
  assert.ok(r.unsealed > 0, 'run 2 crashed: its tail is unsealed');
  assert.equal(r.root, (await rootOf(master, all.length)).toString('base64'));
  assert.equal((await find(master, 'key.rotate')).length, 1);
});

test('an edited byte in a query SQL (still valid JSON) is bounded by the checkpoints around it', async () => {
  const dir = await copy();
  const q = await queryInSealedRange(dir);
  await editLine(dir, q, (l) => l.replace('SELECT', 'SELECt'));
  const { from, to } = await sealedRange(dir, seqOf(q));
  const r = await verifyDir(dir);
  assertFault(r, { kind: 'checkpoint-root-mismatch', ...at(from), seqFrom: seqOf(from), seqTo: seqOf(to) - 1 });
  assert.deepEqual(r.fault!.detectedAt, at(to));
  assert.ok(r.fault!.seqFrom <= seqOf(q) && seqOf(q) <= r.fault!.seqTo);
});

test('an edited byte that breaks JSON is named by its exact line', async () => {
  const dir = await copy();
  const q = await queryInSealedRange(dir, 12);
  await editLine(dir, q, (l) => l.replace('"sql":"', '"sql":\u0001"'));
  assertFault(await verifyDir(dir), { kind: 'malformed-line', ...at(q), seqFrom: seqOf(q), seqTo: seqOf(q) });
});

test('every single-byte edit of a record line is detected', async () => {
  const dir = await copy();
  const q = await queryInSealedRange(dir, 3);
  const original = q.line;
  for (let i = 0; i < original.length; i += 7) {
    const ch = original.charCodeAt(i);
    await editLine(dir, q, () => original.slice(0, i) + String.fromCharCode(ch === 0x41 ? 0x42 : ch ^ 1) + original.slice(i + 1));
    const r = await verifyDir(dir);
    assert.equal(r.ok, false, `edit at byte ${i} went unnoticed`);
  }
});

test('an edited byte in a checkpoint note fails its signature', async () => {
  const dir = await copy();
  const cp = (await find(dir, 'checkpoint'))[2]!;
  await editLine(dir, cp, (l) => l.replace(`\\n${seqOf(cp)}\\n`, `\\n${seqOf(cp) + 1}\\n`));
  const r = await verifyDir(dir);
  assertFault(r, { kind: 'checkpoint-signature', ...at(cp), seqFrom: seqOf(cp), seqTo: seqOf(cp) });
  assert.match(r.fault!.message, /invalid signature/);
});

test('an edited checkpoint root field (note intact) is a checkpoint-mismatch at that line', async () => {
  const dir = await copy();
  const cp = (await find(dir, 'checkpoint'))[1]!;
  await editLine(dir, cp, (l) => JSON.stringify({ ...JSON.parse(l), root: Buffer.alloc(32, 7).toString('base64') }));
  assertFault(await verifyDir(dir), { kind: 'checkpoint-mismatch', ...at(cp), seqFrom: seqOf(cp), seqTo: seqOf(cp) });
});

test('an edited byte in a segment.start frontier is a frontier-mismatch', async () => {
  const dir = await copy();
  const starts = await find(dir, 'segment.start');
  const s = starts[2]!;
  const frontier = s.record.frontier as string[];
  const forged = [Buffer.alloc(32, 9).toString('base64'), ...frontier.slice(1)];
  await editLine(dir, s, (l) => l.replace(frontier[0]!, forged[0]!));
  const { from } = await sealedRange(dir, seqOf(s) - 1);
  const r = await verifyDir(dir);
  assertFault(r, { kind: 'frontier-mismatch', ...at(from), seqFrom: seqOf(from), seqTo: seqOf(s) - 1 });
  assert.deepEqual(r.fault!.detectedAt, at(s));
});

test('a deleted record is a seq-gap at the line where it was', async () => {
  const dir = await copy();
  const q = await queryInSealedRange(dir, 20);
  const lines = await readLines(dir, q.segment);
  lines.splice(q.index, 1);
  await writeLines(dir, q.segment, lines);
  assertFault(await verifyDir(dir), { kind: 'seq-gap', ...at(q), seqFrom: seqOf(q), seqTo: seqOf(q) });
});

test('several deleted records are one seq-gap naming the range', async () => {
  const dir = await copy();
  const q = await queryInSealedRange(dir, 20);
  const lines = await readLines(dir, q.segment);
  lines.splice(q.index, 3);
  await writeLines(dir, q.segment, lines);
  assertFault(await verifyDir(dir), { kind: 'seq-gap', ...at(q), seqFrom: seqOf(q), seqTo: seqOf(q) + 2 });
});

test('an inserted record with a repeated seq is a seq-repeat at the inserted line', async () => {
  const dir = await copy();
  const q = await queryInSealedRange(dir, 8);
  const lines = await readLines(dir, q.segment);
  const forged = JSON.stringify({ ...q.record, sql: 'DROP TABLE audit_evidence' });
  lines.splice(q.index + 1, 0, forged);
  await writeLines(dir, q.segment, lines);
  assertFault(await verifyDir(dir), { kind: 'seq-repeat', segment: q.segment, line: q.index + 2, seqFrom: seqOf(q), seqTo: seqOf(q) });
});

test('an inserted record with the rest renumbered fails the next checkpoint', async () => {
  const dir = await copy();
  const q = await queryInSealedRange(dir, 8);
  const { from, to } = await sealedRange(dir, seqOf(q));
  assert.equal(to.segment, q.segment, 'fixture: the next checkpoint is in the same segment');
  const lines = await readLines(dir, q.segment);
  const renumber = (l: string, d: number): string => {
    const r = JSON.parse(l) as Record<string, unknown>;
    return JSON.stringify({ ...r, seq: (r.seq as number) + d });
  };
  const forged = JSON.stringify({ ...q.record, seq: seqOf(q) + 1, sql: 'SELECT 1' });
  const rest = lines.slice(q.index + 1, to.index + 1).map((l) => renumber(l, 1));
  lines.splice(q.index + 1, to.index - q.index, forged, ...rest);
  await writeLines(dir, q.segment, lines);
  const r = await verifyDir(dir);
  assertFault(r, { kind: 'checkpoint-root-mismatch', ...at(from), seqFrom: seqOf(from), seqTo: seqOf(to) });
  assert.match(r.fault!.message, /inserted or deleted/);
});

test('two swapped records are reordered', async () => {
  const dir = await copy();
  const q = await queryInSealedRange(dir, 15);
  const lines = await readLines(dir, q.segment);
  [lines[q.index], lines[q.index + 1]] = [lines[q.index + 1]!, lines[q.index]!];
  await writeLines(dir, q.segment, lines);
  assertFault(await verifyDir(dir), { kind: 'reordered', ...at(q), seqFrom: seqOf(q), seqTo: seqOf(q) + 1 });
});

test('a duplicated record is a seq-repeat on the copy', async () => {
  const dir = await copy();
  const q = await queryInSealedRange(dir, 15);
  const lines = await readLines(dir, q.segment);
  lines.splice(q.index, 0, q.line);
  await writeLines(dir, q.segment, lines);
  assertFault(await verifyDir(dir), { kind: 'seq-repeat', segment: q.segment, line: q.index + 2, seqFrom: seqOf(q), seqTo: seqOf(q) });
});

test('a removed middle segment is segment-missing at the next one', async () => {
  const dir = await copy();
  const names = await segmentNames(dir);
  const starts = await find(dir, 'segment.start');
  await rm(join(dir, names[2]!));
  assertFault(await verifyDir(dir), {
    kind: 'segment-missing', segment: names[3]!, line: 1, seqFrom: seqOf(starts[2]!), seqTo: seqOf(starts[3]!) - 1,
  });
});

test('a removed first segment is segment-missing; --partial verifies from the next one', async () => {
  const dir = await copy();
  const names = await segmentNames(dir);
  const second = (await find(dir, 'segment.start'))[1]!;
  await rm(join(dir, names[0]!));
  const r = await verifyDir(dir);
  assertFault(r, { kind: 'segment-missing', segment: names[1]!, line: 1, seqFrom: 0, seqTo: seqOf(second) - 1 });
  const partial = await verifyDir(dir, { partial: true });
  assert.equal(partial.ok, true, partial.fault?.message);
  assert.equal(partial.startSize, seqOf(second));
  assert.equal(partial.root, (await verifyDir(master)).root);
});

test('a segment copied under another name is segment-duplicate', async () => {
  const dir = await copy();
  const names = await segmentNames(dir);
  const copyName = 'seg-00000000000000099999.jsonl';
  await copyFile(join(dir, names[1]!), join(dir, copyName));
  const r = await verifyDir(dir);
  const start = (await find(master, 'segment.start'))[1]!;
  assert.equal(r.fault?.kind, 'segment-duplicate', r.fault?.message);
  assert.equal(r.fault!.segment, copyName);
  assert.equal(r.fault!.seqFrom, seqOf(start));
});

test('a segment renamed so that its name and first seq differ is segment-name', async () => {
  const dir = await copy();
  const names = await segmentNames(dir);
  const seq = Number(/\d{20}/.exec(names[3]!)![0]);
  const renamed = `seg-${String(seq + 1).padStart(20, '0')}.jsonl`;
  await rename(join(dir, names[3]!), join(dir, renamed));
  assertFault(await verifyDir(dir), { kind: 'segment-name', segment: renamed, line: 1, seqFrom: seq, seqTo: seq });
});

test('a segment renamed to sort earlier is segment-missing where its records were expected', async () => {
  const dir = await copy();
  const names = await segmentNames(dir);
  const starts = await find(dir, 'segment.start');
  await rename(join(dir, names[3]!), join(dir, 'seg-00000000000000000001.jsonl'));
  assertFault(await verifyDir(dir), {
    kind: 'segment-missing', segment: 'seg-00000000000000000001.jsonl', line: 1, seqFrom: seqOf(starts[1]!), seqTo: seqOf(starts[3]!) - 1,
  });
});

test('a segment from another log is segment-foreign', async () => {
  const dir = await copy();
  const other = await tempDir();
  copies.push(other);
  writeLog(other, { origin: 'other.example/audit', tag: 'x' });
  const names = await segmentNames(dir);
  const foreign = (await segmentNames(other))[2]!;
  await rm(join(dir, names[2]!));
  await copyFile(join(other, foreign), join(dir, names[2]!));
  const r = await verifyDir(dir);
  assertFault(r, { kind: 'segment-foreign', segment: names[2]!, line: 1, seqFrom: r.fault!.seqFrom, seqTo: r.fault!.seqFrom });
  assert.match(r.fault!.message, /other\.example/);
});

test('a segment truncated mid-line inside the sealed range is torn-line', async () => {
  const dir = await copy();
  const names = await segmentNames(dir);
  const path = join(dir, names[2]!);
  const data = await readFile(path);
  const cut = Math.floor(data.length / 2);
  await truncate(path, cut);
  const complete = data.subarray(0, cut).toString('utf8').split('\n').length - 1;
  const r = await verifyDir(dir);
  assert.equal(r.fault?.kind, 'torn-line', r.fault?.message);
  assert.equal(r.fault!.segment, names[2]);
  assert.equal(r.fault!.line, complete + 1);
});

test('a segment cut at a line boundary is a seq-gap before the next segment', async () => {
  const dir = await copy();
  const names = await segmentNames(dir);
  const lines = await readLines(dir, names[2]!);
  const lastSeq = JSON.parse(lines.at(-1)!).seq as number;
  await writeLines(dir, names[2]!, lines.slice(0, -4));
  assertFault(await verifyDir(dir), { kind: 'seq-gap', segment: names[3]!, line: 1, seqFrom: lastSeq - 3, seqTo: lastSeq });
});

test('a forged checkpoint (records edited, root recomputed, note signed by another key) fails its signature', async () => {
  const dir = await copy();
  const q = await queryInSealedRange(dir, 6);
  await editLine(dir, q, (l) => l.replace('SELECT', 'DELETE'));
  const { to } = await sealedRange(dir, seqOf(q));
  const root = await rootOf(dir, seqOf(to));
  await editLine(dir, to, (l) => replaceNote(l, signedNote(seqOf(to), root, ['evil']), root));
  const r = await verifyDir(dir);
  assertFault(r, { kind: 'checkpoint-signature', ...at(to), seqFrom: seqOf(to), seqTo: seqOf(to) });
  assert.match(r.fault!.message, /wrong --key/);
});

test('the wrong --key fails at the first checkpoint', async () => {
  const first = (await find(master, 'checkpoint'))[0]!;
  const r = await verifyDir(master, { trustedKey: verifier('evil') });
  assertFault(r, { kind: 'checkpoint-signature', ...at(first), seqFrom: seqOf(first), seqTo: seqOf(first) });
  const r2 = await verifyDir(master, { trustedKey: verifier('b') });
  assert.equal(r2.fault?.kind, 'checkpoint-signature', 'the rotated-to key does not vouch for the start');
});

test('a checkpoint signed by the retired key after the rotation is outside its validity', async () => {
  const dir = await copy();
  const rotate = (await find(dir, 'key.rotate'))[0]!;
  const later = (await find(dir, 'checkpoint')).filter((c) => seqOf(c) > seqOf(rotate) + 1)[0]!;
  const root = await rootOf(dir, seqOf(later));
  await editLine(dir, later, (l) => replaceNote(l, signedNote(seqOf(later), root, ['a']), root));
  const r = await verifyDir(dir);
  assertFault(r, { kind: 'checkpoint-key-validity', ...at(later), seqFrom: seqOf(later), seqTo: seqOf(later) });
  assert.match(r.fault!.message, /pgseal-a\+[0-9a-f]{8}/);
});

test('a checkpoint signed by the next key before its key.rotate, or a dual checkpoint missing a key, fails', async () => {
  const dir = await copy();
  const rotate = (await find(dir, 'key.rotate'))[0]!;
  const cps = await find(dir, 'checkpoint');
  const early = cps.filter((c) => seqOf(c) < seqOf(rotate))[0]!;
  const root = await rootOf(dir, seqOf(early));
  await editLine(dir, early, (l) => replaceNote(l, signedNote(seqOf(early), root, ['b']), root));
  assert.equal((await verifyDir(dir)).fault?.kind, 'checkpoint-signature');

  const dir2 = await copy();
  const dual = cps.find((c) => seqOf(c) === seqOf(rotate) + 1)!;
  const root2 = await rootOf(dir2, seqOf(dual));
  await editLine(dir2, dual, (l) => replaceNote(l, signedNote(seqOf(dual), root2, ['b']), root2));
  const r = await verifyDir(dir2);
  assertFault(r, { kind: 'checkpoint-signature', ...at(dual), seqFrom: seqOf(dual), seqTo: seqOf(dual) });
  assert.match(r.fault!.message, /old and the new key/);
});

test('an invalid key.rotate record is key-rotate', async () => {
  const dir = await copy();
  const rotate = (await find(dir, 'key.rotate'))[0]!;
  await editLine(dir, rotate, (l) => JSON.stringify({ ...JSON.parse(l), old_key_id: '00000000' }));
  assertFault(await verifyDir(dir), { kind: 'key-rotate', ...at(rotate), seqFrom: seqOf(rotate), seqTo: seqOf(rotate) });
});

test('an older genuine note pasted into a later checkpoint is checkpoint-shrink', async () => {
  const dir = await copy();
  const cps = await find(dir, 'checkpoint');
  const rotate = (await find(dir, 'key.rotate'))[0]!;
  const dual = cps.findIndex((c) => seqOf(c) === seqOf(rotate) + 1);
  const older = cps[dual]!;
  const later = cps[dual + 1]!;
  await editLine(dir, later, (l) => JSON.stringify({ ...JSON.parse(l), note: older.record.note }));
  assertFault(await verifyDir(dir), { kind: 'checkpoint-shrink', ...at(later), seqFrom: seqOf(later), seqTo: seqOf(later) });
});

test('with --checkpoint: the log\'s own latest checkpoint matches', async () => {
  const note = await readFile(join(master, 'checkpoint.latest'), 'utf8');
  const r = await verifyDir(master, { externalCheckpoint: note });
  assert.equal(r.ok, true, r.fault?.message);
  assert.equal(r.externalCheckpoint?.size, Number(note.split('\n')[1]));
});

test('with --checkpoint: a truncated tail is external-checkpoint-ahead', async () => {
  const dir = await copy();
  const note = await readFile(join(master, 'checkpoint.latest'), 'utf8');
  const size = Number(note.split('\n')[1]);
  const signed = (await find(dir, 'checkpoint')).find((c) => seqOf(c) === size)!;
  const lines = await readLines(dir, signed.segment);
  await writeLines(dir, signed.segment, lines.slice(0, signed.index - 5)); // cut inside the signed range
  for (const name of (await segmentNames(dir)).filter((n) => n > signed.segment)) await rm(join(dir, name));
  const r0 = await verifyDir(dir);
  assert.equal(r0.ok, true, 'without --checkpoint a cut tail cannot be seen');
  const r = await verifyDir(dir, { externalCheckpoint: note });
  assertFault(r, { kind: 'external-checkpoint-ahead', segment: signed.segment, line: signed.index - 4, seqFrom: size - 5, seqTo: size - 1 });
});

test('with --checkpoint: a rollback to an older copy is external-checkpoint-ahead', async () => {
  const old = await tempDir();
  copies.push(old);
  writeLog(old, { runs: [{ events: 120, signer: 'a', rotateAfter: 70 }] }); // the same first run: an older state of the log
  const note = await readFile(join(master, 'checkpoint.latest'), 'utf8');
  assert.equal((await verifyDir(old)).ok, true);
  assert.equal((await verifyDir(old, { externalCheckpoint: note })).fault?.kind, 'external-checkpoint-ahead');
});

test('with --checkpoint: a forked history is external-checkpoint-fork', async () => {
  const base = await tempDir();
  copies.push(base);
  writeLog(base, { runs: [{ events: 120, signer: 'a', rotateAfter: 70 }] });
  const forkA = await copyLog(base);
  const forkB = await copyLog(base);
  copies.push(forkA, forkB);
  writeLog(forkA, { runs: [{ events: 30, signer: 'b' }], tag: 'A' });
  writeLog(forkB, { runs: [{ events: 30, signer: 'b' }], tag: 'B' });
  const noteA = await readFile(join(forkA, 'checkpoint.latest'), 'utf8');
  assert.equal((await verifyDir(forkB)).ok, true, 'each fork is a valid log on its own');
  const r = await verifyDir(forkB, { externalCheckpoint: noteA });
  assert.equal(r.fault?.kind, 'external-checkpoint-fork', r.fault?.message);
  assert.equal(r.fault!.seqTo, Number(noteA.split('\n')[1]) - 1);
});

test('with --checkpoint: a note signed by another key, or of another log, is external-checkpoint-invalid', async () => {
  const root = await rootOf(master, 50);
  const forged = signedNote(50, root, ['evil']);
  assert.equal((await verifyDir(master, { externalCheckpoint: forged })).fault?.kind, 'external-checkpoint-invalid');
  const foreign = signedNote(50, root, ['a'], 'other.example/audit');
  assert.equal((await verifyDir(master, { externalCheckpoint: foreign })).fault?.kind, 'external-checkpoint-invalid');
  assert.equal((await verifyDir(master, { externalCheckpoint: 'not a note' })).fault?.kind, 'external-checkpoint-invalid');
  const mid = signedNote(50, root, ['a']);
  assert.equal((await verifyDir(master, { externalCheckpoint: mid })).ok, true, 'a genuine note at any size matches');
});

test('--strict fails on unsealed records and passes a cleanly closed log', async () => {
  const r = await verifyDir(master, { strict: true });
  assert.equal(r.fault?.kind, 'unsealed');
  const last = (await find(master, 'checkpoint')).at(-1)!;
  const all = await records(master);
  const first = all[seqOf(last) + 1]!;
  assertFault(r, { kind: 'unsealed', ...at(first), seqFrom: seqOf(first), seqTo: all.length - 1 });
  const clean = await tempDir();
  copies.push(clean);
  writeLog(clean, { runs: [{ events: 50, signer: 'a' }] });
  const ok = await verifyDir(clean, { strict: true });
  assert.equal(ok.ok, true, ok.fault?.message);
  assert.equal(ok.unsealed, 0);
});

test('a torn final line (crash mid-write) is reported, fails only --strict, and is repaired by the store', async () => {
  const dir = await copy();
  const names = await segmentNames(dir);
  await appendFile(join(dir, names.at(-1)!), '{"seq":999,"ts":"2026-11-26T13:');
  const r = await verifyDir(dir);
  assert.equal(r.ok, true, r.fault?.message);
  assert.deepEqual(r.torn, { segment: names.at(-1), bytes: 31 });
  assert.equal((await verifyDir(dir, { strict: true })).fault?.kind, 'torn-line');
  writeLog(dir, { runs: [{ events: 10, signer: 'b' }], tag: 'r' });
  const repaired = await verifyDir(dir);
  assert.equal(repaired.ok, true, repaired.fault?.message);
  assert.equal(repaired.torn, undefined);
  assert.equal((await find(dir, 'log.repair')).length, 1);
});

test('an empty directory, or only garbage, is not an intact log', async () => {
  const empty = await tempDir();
  copies.push(empty);
  assert.equal((await verifyDir(empty)).fault?.kind, 'segment-missing');
  await writeFile(join(empty, 'seg-00000000000000000000.jsonl'), Buffer.from([0xff, 0x00, 0x0a, 0x7b, 0x0a]));
  assertFault(await verifyDir(empty), { kind: 'malformed-line', segment: 'seg-00000000000000000000.jsonl', line: 1, seqFrom: 0, seqTo: 0 });
});
