// verify over .tar and .tar.gz archives made by the system tar, and hostile archives: garbage,
// truncation, path traversal, absurd sizes, links posing as segments.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';

import { ArchiveError } from '../../src/audit/archive-tar.js';
import { openLog } from '../../src/audit/log-reader.js';
import { verifyLog, type VerifyReport } from '../../src/audit/verify.js';
import { PgsealError } from '../../src/errors.js';
import { copyLog, editLine, find, removeDir, segmentNames, tempDir, verifier, writeLog } from './fixtures.js';

let master: string;
let work: string;
let intact: VerifyReport;

before(async () => {
  master = await tempDir();
  work = await tempDir();
  writeLog(master);
  intact = await verify(master);
});

after(async () => {
  await removeDir(master);
  await removeDir(work);
});

async function verify(path: string): Promise<VerifyReport> {
  return verifyLog(await openLog([path]), { trustedKey: verifier('a') });
}

function tar(args: string[]): void {
  execFileSync('tar', args, { stdio: 'ignore' });
}

async function spillDirs(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((n) => n.startsWith('pgseal-spill-'));
}

test('the system tar\'s .tar and .tar.gz of a log verify like the directory', async () => {
  assert.equal(intact.ok, true);
  const plain = join(work, 'log.tar');
  const gz = join(work, 'log.tar.gz');
  tar(['-C', master, '-cf', plain, '.']);
  tar(['-C', master, '-czf', gz, '.']);
  for (const path of [plain, gz]) {
    const r = await verify(path);
    assert.equal(r.ok, true, r.fault?.message);
    assert.deepEqual({ ...r }, { ...intact }, path);
  }
});

test('a .tar.gz in reverse name order verifies (early members spilled, spill removed) and one in name order too', async () => {
  const names = await segmentNames(master);
  const reversed = join(work, 'reversed.tgz');
  const sorted = join(work, 'sorted.tgz');
  tar(['-C', master, '-czf', reversed, ...[...names].reverse()]);
  tar(['-C', master, '-czf', sorted, 'checkpoint.latest', ...names]);
  const before = await spillDirs();
  for (const path of [reversed, sorted]) {
    const r = await verify(path);
    assert.equal(r.ok, true, r.fault?.message);
    assert.equal(r.root, intact.root);
  }
  assert.deepEqual(await spillDirs(), before, 'no spill directory is left behind');
});

test('members in a subdirectory are found by base name; other members are ignored', async () => {
  const parent = await tempDir();
  try {
    await copyLogInto(parent, 'audit');
    await writeFile(join(parent, 'README'), 'not a segment\n');
    const path = join(work, 'nested.tar.gz');
    tar(['-C', parent, '-czf', path, 'README', 'audit']);
    assert.equal((await verify(path)).root, intact.root);
  } finally {
    await removeDir(parent);
  }
});

async function copyLogInto(parent: string, name: string): Promise<void> {
  execFileSync('cp', ['-r', master, join(parent, name)]);
}

test('long member names (GNU L records and pax path records) are read', async () => {
  const parent = await tempDir();
  try {
    const deep = `${'d'.repeat(90)}/${'e'.repeat(90)}`;
    execFileSync('mkdir', ['-p', join(parent, deep)]);
    execFileSync('cp', ['-r', master, join(parent, deep, 'audit')]);
    for (const format of ['gnu', 'posix']) {
      const path = join(work, `long-${format}.tar`);
      tar([`--format=${format}`, '-C', parent, '-cf', path, deep.split('/')[0]!]);
      const r = await verify(path);
      assert.equal(r.root, intact.root, `${format}: ${r.fault?.message}`);
    }
  } finally {
    await removeDir(parent);
  }
});

test('a tampered log in a .tar.gz reports the same fault as the directory', async () => {
  const dir = await copyLog(master);
  try {
    const q = (await find(dir, 'query'))[3]!;
    await editLine(dir, q, (l) => l.replace('"sql":"', '"sql":"\\x'));
    const want = await verify(dir);
    assert.equal(want.fault?.kind, 'malformed-line');
    const path = join(work, 'tampered.tgz');
    tar(['-C', dir, '-czf', path, '.']);
    assert.deepEqual((await verify(path)).fault, want.fault);
  } finally {
    await removeDir(dir);
  }
});

test('two members with the same base name are segment-duplicate', async () => {
  const parent = await tempDir();
  try {
    await copyLogInto(parent, 'a');
    await copyLogInto(parent, 'b');
    const path = join(work, 'twice.tar');
    tar(['-C', parent, '-cf', path, 'a', 'b']);
    const r = await verify(path);
    assert.equal(r.fault?.kind, 'segment-duplicate');
    assert.equal(r.fault!.segment, (await segmentNames(master))[0]);
  } finally {
    await removeDir(parent);
  }
});

// A ustar header (POSIX.1 ustar, GNU tar's layout) for hand-made hostile archives.
function header(name: string, size: number | Buffer, type = '0'): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  if (typeof size === 'number') h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  else size.copy(h, 124);
  h.write('00000000000\0', 136);
  h.write(type, 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

function member(name: string, data: Buffer, type = '0'): Buffer {
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header(name, data.length, type), data, pad]);
}

const END = Buffer.alloc(1024);

async function expectArchiveError(name: string, bytes: Buffer, pattern: RegExp): Promise<void> {
  const path = join(work, name);
  await writeFile(path, bytes);
  await assert.rejects(async () => verify(path), (err: unknown) => err instanceof ArchiveError && err.code === 'io' && pattern.test(err.message));
}

test('hand-made tar: a valid minimal archive verifies, proving the header writer below is right', async () => {
  const names = await segmentNames(master);
  const parts = await Promise.all(names.map(async (n) => member(`log/${n}`, await readFile(join(master, n)))));
  const path = join(work, 'hand.tar.gz');
  await writeFile(path, gzipSync(Buffer.concat([...parts, END])));
  assert.equal((await verify(path)).root, intact.root);
});

test('hostile archives fail cleanly with ArchiveError (exit 2)', async () => {
  const seg = 'seg-00000000000000000000.jsonl';
  const data = await readFile(join(master, seg));
  await expectArchiveError('garbage.tar', Buffer.alloc(4096, 0x41), /not a tar or gzip archive/);
  await expectArchiveError('short.tar.gz', gzipSync(Buffer.from('hello')), /not a tar archive/);
  await expectArchiveError('traversal.tar', Buffer.concat([member(`../${seg}`, data), END]), /escapes the archive/);
  await expectArchiveError('absolute.tar', Buffer.concat([member(`/tmp/${seg}`, data), END]), /escapes the archive/);
  const huge = Buffer.alloc(12);
  huge[0] = 0x80;
  huge.writeUIntBE(2 ** 41, 6, 6);
  await expectArchiveError('huge.tar', Buffer.concat([header(seg, huge), END]), /absurd tar entry size/);
  const bad = member(seg, data);
  bad[148] = 0x37; // checksum digit
  await expectArchiveError('checksum.tar', Buffer.concat([bad, END]), /checksum mismatch/);
  await expectArchiveError('symlink.tar', Buffer.concat([member(seg, Buffer.alloc(0), '2'), END]), /not a regular file/);
  await expectArchiveError('truncated.tar', member(seg, data).subarray(0, 700), /truncated/);
  const gz = gzipSync(Buffer.concat([member(seg, data), END]));
  await expectArchiveError('truncated.tar.gz', gz.subarray(0, gz.length - 20), /gzip|truncated/);
  const notGzip = Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(100, 0x55)]);
  await expectArchiveError('fake.tgz', notGzip, /gzip/);
});

test('a valid archive holding a garbage segment is a log fault (exit 1), not an archive error', async () => {
  const path = join(work, 'garbage-segment.tar');
  await writeFile(path, Buffer.concat([member('seg-00000000000000000000.jsonl', Buffer.from('\u0000\u0001garbage\n')), END]));
  const r = await verify(path);
  assert.equal(r.fault?.kind, 'malformed-line');
  const empty = join(work, 'no-segments.tar');
  await writeFile(empty, Buffer.concat([member('README', Buffer.from('hi\n')), END]));
  assert.equal((await verify(empty)).fault?.kind, 'segment-missing');
});

test('paths that are not a log are usage errors', async () => {
  const path = join(work, 'notes.txt');
  await writeFile(path, 'hello\n');
  await assert.rejects(openLog([path]), (err: unknown) => err instanceof PgsealError && err.code === 'usage');
  await assert.rejects(openLog([master, join(work, 'log.tar')]), (err: unknown) => err instanceof PgsealError && err.code === 'usage');
  await assert.rejects(openLog([join(work, 'missing')]), (err: unknown) => err instanceof PgsealError && err.code === 'io');
});

test('explicit segment files are verified in name order, whatever the argument order', async () => {
  const names = await segmentNames(master);
  const paths = names.map((n) => join(master, n)).reverse();
  const r = await verifyLog(await openLog(paths), { trustedKey: verifier('a') });
  assert.equal(r.root, intact.root);
  const missing = await verifyLog(await openLog(paths.filter((_, i) => i !== 2)), { trustedKey: verifier('a') });
  assert.equal(missing.fault?.kind, 'segment-missing');
});
