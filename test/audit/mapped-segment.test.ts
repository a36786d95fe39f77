// Segments appended through a shared mapping (native/segment-append.c): the bytes and the tree
// match write(2) and MerkleFrontier exactly; an open segment ends in zero-filled reserved space,
// which close cuts, recovery after kill -9 cuts (keeping every record), and verify reports
// without calling it tampering, unless it is followed by another segment.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

import type { SegmentSource } from '../../src/audit/log-reader.js';
import { MappedAppender, mappedSegmentsAvailable } from '../../src/audit/mapped-segment.js';
import { MerkleFrontier } from '../../src/audit/merkle.js';
import { SignerKey, generateSignerKey } from '../../src/audit/note.js';
import { SealedLog } from '../../src/audit/store.js';
import { nativeAddon } from '../../src/native-addon.js';
import { verifyLog } from '../../src/audit/verify.js';
import { formatReport } from '../../src/audit/verify-report.js';
import { ORIGIN, checkLog, queryEvent, readLog, segmentNames, tempDir } from './store-helpers.js';

const skip = mappedSegmentsAvailable ? false : 'the native addon is not built: segments are written with write(2)';
const key = generateSignerKey('pgseal.test');

// Lines of varied length, some long enough that one batch spans the appender's reservation and hashing steps.
function batchOf(from: number, n: number, width: number): Buffer {
  let text = '';
  for (let i = from; i < from + n; i++) text += `{"seq":${i},"pad":"${'x'.repeat((i * 37) % width)}"}\n`;
  return Buffer.from(text);
}

function appendTo(frontier: MerkleFrontier, batch: Buffer): void {
  let start = 0;
  for (let nl = batch.indexOf(0x0a); nl >= 0; nl = batch.indexOf(0x0a, start)) {
    frontier.appendLeafOf(batch.subarray(start, nl));
    start = nl + 1;
  }
}

test('a mapped appender stores exactly the bytes given and hashes the same tree as MerkleFrontier, continuing a tree', { skip }, (t) => {
  const dir = tempDir(t);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'seg');
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND, 0o600);
  t.after(() => closeSync(fd));
  const reference = new MerkleFrontier();
  appendTo(reference, batchOf(0, 5, 50)); // a tree of 5 leaves from earlier segments
  const appender = MappedAppender.open(fd, 0, reference.state());
  assert.ok(appender);
  const written: Buffer[] = [];
  let seq = 5;
  for (const [n, width] of [[1, 10], [200, 300], [3000, 400], [1, 10], [50, 70_000], [700, 20]] as const) {
    const batch = batchOf(seq, n, width);
    seq += n;
    appender.write(batch);
    appendTo(reference, batch);
    written.push(batch);
    const tree = appender.tree();
    assert.equal(tree.size, reference.size);
    assert.deepEqual(tree.hashes, reference.state().hashes);
  }
  const bytes = Buffer.concat(written);
  const open = readFileSync(file);
  assert.ok(open.length > bytes.length, 'space is reserved past the records while the segment is open');
  assert.deepEqual(open.subarray(0, bytes.length), bytes);
  assert.ok(open.subarray(bytes.length).every((b) => b === 0), 'the reserved space is zero-filled');
  appender.close();
  assert.deepEqual(readFileSync(file), bytes, 'close cuts the file to the records');
});

test('a log whose process is killed keeps every committed record; recovery cuts the zero tail without a log.repair and continues the tree', { skip }, async (t) => {
  const dir = tempDir(t);
  const store = pathToFileURL(join(import.meta.dirname, '../../src/audit/store.js')).href;
  const note = pathToFileURL(join(import.meta.dirname, '../../src/audit/note.js')).href;
  const child = `
    const { SealedLog } = await import(${JSON.stringify(store)});
    const { SignerKey } = await import(${JSON.stringify(note)});
    const log = SealedLog.open({ dir: ${JSON.stringify(dir)}, origin: ${JSON.stringify(ORIGIN)}, signer: new SignerKey('child', Buffer.alloc(32, 7)), checkpointEvery: 50 });
    for (let i = 0; i < 120; i++) {
      log.append({ type: 'query', session: 'k', query: i, protocol: 'simple', sql: 'SELECT ' + i });
      log.commit(() => {});
    }
    process.kill(process.pid, 'SIGKILL');
  `;
  assert.throws(() => execFileSync(process.execPath, ['--input-type=module', '-e', child], { stdio: 'pipe' }), { signal: 'SIGKILL' });
  const [name] = segmentNames(dir);
  const killed = readFileSync(join(dir, name!));
  const text = killed.subarray(0, killed.lastIndexOf(0x0a) + 1);
  assert.ok(killed.length > text.length && killed.subarray(text.length).every((b) => b === 0), 'the killed segment ends in reserved zeros');
  assert.equal(text.toString().split('\n').filter((l) => l.includes('"type":"query"')).length, 120, 'every committed query is in the file');

  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, checkpointMs: 3_600_000 });
  assert.equal(statSync(join(dir, name!)).size, text.length, 'recovery cut the zero tail');
  log.append(queryEvent(1000));
  log.close();
  const { lines } = checkLog(dir, [key.verifier(), new SignerKey('child', Buffer.alloc(32, 7)).verifier()]);
  assert.equal(lines.filter((l) => l.record.type === 'log.repair').length, 0, 'reserved space is not a repair');
  assert.deepEqual(lines.filter((l) => l.record.type === 'query').map((l) => l.record.query), [...Array.from({ length: 120 }, (_, i) => i), 1000]);
});

test('a partial line before the zero tail is a torn final line: recovery reports its bytes, not the zeros', { skip }, async (t) => {
  const dir = tempDir(t);
  const first = SealedLog.open({ dir, origin: ORIGIN, signer: key, checkpointMs: 3_600_000 });
  for (let i = 0; i < 3; i++) first.append(queryEvent(i));
  first.flush();
  first.close();
  const [name] = segmentNames(dir);
  // As a crash mid-copy leaves a mapped segment: the start of a record, then reserved zeros.
  const torn = Buffer.from('{"seq":5,"ts":"2026');
  const fd = openSync(join(dir, name!), 'r+');
  const size = fstatSync(fd).size;
  ftruncateSync(fd, size + 4096);
  writeSync(fd, torn, 0, torn.length, size);
  closeSync(fd);
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, checkpointMs: 3_600_000 });
  log.close();
  const repairs = readLog(dir).filter((l) => l.record.type === 'log.repair');
  assert.deepEqual(repairs.map((l) => [l.record.reason, l.record.truncated_bytes]), [['torn final line', torn.length]]);
});

function dirSources(dir: string, edit: (name: string, data: Buffer) => Buffer = (_n, d) => d): SegmentSource[] {
  return segmentNames(dir).map((name) => ({
    name,
    label: name,
    open: async function* () {
      yield edit(name, readFileSync(join(dir, name)));
    },
  }));
}

test('verify reads an open log: reserved zeros are reported, a fault only under --strict or when another segment follows', { skip }, async (t) => {
  const dir = tempDir(t);
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, checkpointMs: 3_600_000, segmentMaxBytes: 4096 });
  for (let i = 0; i < 60; i++) log.append(queryEvent(i));
  log.flush();
  log.checkpoint();
  assert.ok(segmentNames(dir).length >= 2);
  const trustedKey = key.verifier();

  const live = await verifyLog(dirSources(dir), { trustedKey });
  assert.equal(live.ok, true, formatReport(live));
  assert.equal(live.reserved?.segment, segmentNames(dir).at(-1));
  assert.ok((live.reserved?.bytes ?? 0) > 0);
  assert.match(formatReport(live), /zero bytes of reserved space end seg-/);

  const strict = await verifyLog(dirSources(dir), { trustedKey, strict: true });
  assert.equal(strict.fault?.kind, 'torn-line');
  assert.match(strict.fault?.message ?? '', /reserved space after the last record: the segment was not closed/);

  const first = segmentNames(dir)[0]!;
  const padded = await verifyLog(dirSources(dir, (n, d) => (n === first ? Buffer.concat([d, Buffer.alloc(100)]) : d)), { trustedKey });
  assert.equal(padded.fault?.kind, 'torn-line');
  assert.equal(padded.fault?.segment, first);
  assert.match(padded.fault?.message ?? '', /100 zero bytes after the last record followed by more segments/);
  log.close();
  const closed = await verifyLog(dirSources(dir), { trustedKey, strict: true });
  assert.equal(closed.ok, true, formatReport(closed));
  assert.equal(closed.reserved, undefined);
});

test('mapped segments and write(2) write the same log byte for byte: records, segment.start frontiers, checkpoints', { skip }, (t) => {
  const fixtures = pathToFileURL(join(import.meta.dirname, 'fixtures.js')).href;
  const write = (dir: string, mmap: boolean) => {
    const script = `
      const { writeLog } = await import(${JSON.stringify(fixtures)});
      writeLog(${JSON.stringify(dir)}, { runs: [{ events: 400, signer: 'a', rotateAfter: 150 }, { events: 90, signer: 'b' }], segmentMaxBytes: 16 * 1024 });
    `;
    execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, PGSEAL_SEGMENT_MMAP: mmap ? '1' : '0' } });
  };
  const mapped = tempDir(t);
  const plain = tempDir(t);
  write(mapped, true);
  write(plain, false);
  const names = segmentNames(mapped);
  assert.ok(names.length > 5, `${names.length} segments`);
  assert.deepEqual(segmentNames(plain), names);
  for (const name of names) assert.ok(readFileSync(join(mapped, name)).equals(readFileSync(join(plain, name))), name);
});

test('a record changed in the file after it was appended is caught: the tree is hashed from pgseal\'s own copy, not the file', { skip }, async (t) => {
  const dir = tempDir(t);
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, checkpointMs: 3_600_000 });
  log.append({ type: 'query', session: 'm', query: 1, protocol: 'simple', sql: 'SELECT 1' });
  await new Promise<void>((resolve) => log.commit(() => resolve()));
  // Whoever can write the segment edits the record before the appender's thread has hashed it.
  const [name] = segmentNames(dir);
  const file = join(dir, name!);
  const at = readFileSync(file).indexOf('SELECT 1');
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from('SELECT 2'), 0, 8, at);
  closeSync(fd);
  log.checkpoint();
  log.close();
  const report = await verifyLog(dirSources(dir), { trustedKey: key.verifier() });
  assert.equal(report.ok, false, 'the signed checkpoint covers the record as appended, not as edited');
  assert.match(formatReport(report), /TAMPERED/);
});

test('a second writer on the same audit directory is refused while the first has it open', { skip: nativeAddon === null ? 'no native addon: no directory lock' : false }, (t) => {
  const dir = tempDir(t);
  const first = SealedLog.open({ dir, origin: ORIGIN, signer: key, checkpointMs: 3_600_000 });
  assert.throws(() => SealedLog.open({ dir, origin: ORIGIN, signer: key }), { code: 'audit_error', message: /is in use by another process/ });
  first.append(queryEvent(1));
  first.close();
  const second = SealedLog.open({ dir, origin: ORIGIN, signer: key, checkpointMs: 3_600_000 }); // released by close
  second.close();
  assert.deepEqual(checkLog(dir, [key.verifier()]).lines.filter((l) => l.record.type === 'query').map((l) => l.record.query), [1]);
});

test('closing while the thread is busy reserving or hashing always leaves exactly the bytes written', { skip }, (t) => {
  const dir = tempDir(t);
  mkdirSync(dir, { recursive: true });
  const empty = new MerkleFrontier().state();
  for (let i = 0; i < 300; i++) {
    const file = join(dir, `seg-${i}`);
    const fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND, 0o600);
    const appender = MappedAppender.open(fd, 0, empty)!;
    const batch = batchOf(i, 1 + (i % 40), 200);
    appender.write(batch);
    if (i % 3 === 0) assert.equal(appender.tree().size, 1 + (i % 40));
    appender.close(); // the thread is usually still reserving ahead or hashing here
    closeSync(fd);
    assert.equal(statSync(file).size, batch.length, `round ${i}`);
  }
});

// A real full disk (a 4 MiB tmpfs; mounting needs root, which CI has) under the records that go
// straight into the mapping (store.ts #direct).
test('a full disk under records appended straight into the mapping: the commit fails closed, the record waits in order, and writing resumes when space returns', { skip }, async (t) => {
  const mount = mkdtempSync(join(tmpdir(), 'pgseal-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mount], { stdio: 'ignore' });
  } catch {
    rmSync(mount, { recursive: true, force: true });
    return t.skip('cannot mount a tmpfs here (needs root)');
  }
  t.after(() => {
    execFileSync('umount', ['-l', mount]);
    rmSync(mount, { recursive: true, force: true });
  });
  const dir = join(mount, 'audit');
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, checkpointMs: 3_600_000, checkpointEvery: 100_000 });
  assert.equal(log.mapped, true);
  const commit = () => new Promise<Error | null>((resolve) => log.commit(resolve));
  log.appendQuery('s', 0, 'SELECT 0', 1_000);
  assert.equal(await commit(), null);
  // Fill what the reservation left free, then append until the reservation runs out.
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${join(mount, 'filler')}`, 'bs=16k', 'count=256'], { stdio: 'ignore' });
  } catch {
    // ENOSPC once the tmpfs is full: the point
  }
  const sql = (i: number) => `SELECT ${i} -- ${'y'.repeat(3000)}`;
  let failed = 0;
  let error: Error | null = null;
  for (let i = 1; i < 2000 && error === null; i++) {
    log.appendQuery('s', i, sql(i), 1_000 + i);
    error = await commit();
    if (error !== null) failed = i;
    else log.appendOkResult('s', i, 'SELECT 1', 1, 3, 1_000 + i);
  }
  assert.ok(failed > 0, 'the reservation ran out');
  assert.match(String(error), /audit log write failed: ENOSPC/);
  assert.equal(log.healthy, false);
  log.appendQuery('s', failed + 1, 'SELECT 1', 5_000);
  assert.notEqual(await commit(), null, 'still failing closed: the next query is refused too');
  execFileSync('rm', [join(mount, 'filler')]);
  assert.equal(await commit(), null, 'space returned: the waiting records are written');
  assert.equal(log.healthy, true);
  log.appendQuery('s', failed + 2, 'SELECT 2', 5_001);
  log.close();
  const { lines } = checkLog(dir, [key.verifier()]);
  const queries = lines.filter((l) => l.record.type === 'query').map((l) => l.record['query']);
  assert.deepEqual(queries, Array.from({ length: failed + 3 }, (_, i) => i), 'every query once, in order, the refused ones included');
});
