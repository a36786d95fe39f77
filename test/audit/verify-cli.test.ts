// `pgseal verify`, `pgseal proof` and `pgseal log show` as child processes: exit codes and the
// one-line messages.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { copyLog, editLine, find, removeDir, tempDir, verifier, writeLog } from './fixtures.js';

let master: string;
let work: string;
let keyFile: string;
const KEY = verifier('a').toString();
const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

before(async () => {
  master = await tempDir();
  work = await tempDir();
  writeLog(master);
  keyFile = join(work, 'audit.vkey');
  await writeFile(keyFile, `${KEY}\n`);
});

after(async () => {
  await removeDir(master);
  await removeDir(work);
});

type Run = { code: number; stdout: string; stderr: string };

function pgseal(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

test('verify: an intact log exits 0 with one summary line', async () => {
  const r = await pgseal('verify', master, '--key', KEY);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^intact: 171 records in 7 segments, tree size 171, root [A-Za-z0-9+/]{43}=, 8 checkpoints \(last at size 153\), 17 unsealed records/);
  assert.equal(r.stderr, '');
});

test('verify: --key may be a file; --json prints the report', async () => {
  const r = await pgseal('verify', master, '--key', keyFile, '--json');
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { ok: boolean; records: number; unsealed: number };
  assert.equal(report.ok, true);
  assert.equal(report.records, 171);
  assert.equal(report.unsealed, 17);
});

test('verify: a tampered log exits 1 with one line naming kind, segment, line and seq range', async () => {
  const dir = await copyLog(master);
  try {
    const q = (await find(dir, 'query'))[20]!;
    const lines = (await readFile(join(dir, q.segment), 'utf8')).split('\n');
    lines.splice(q.index, 1);
    await writeFile(join(dir, q.segment), lines.join('\n'));
    const r = await pgseal('verify', dir, '--key', KEY);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const seq = q.record.seq as number;
    assert.equal(r.stderr, `pgseal: TAMPERED seq-gap: ${q.segment} line ${q.index + 1}, seq ${seq}: record ${seq} is missing before this line (deleted)\n`);
    const json = await pgseal('verify', dir, '--key', KEY, '--json');
    assert.equal(json.code, 1);
    assert.equal((JSON.parse(json.stdout) as { fault: { kind: string } }).fault.kind, 'seq-gap');
  } finally {
    await removeDir(dir);
  }
});

test('verify: the wrong key, --strict and a fork each exit 1', async () => {
  const wrong = await pgseal('verify', master, '--key', verifier('evil').toString());
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^pgseal: TAMPERED checkpoint-signature: seg-0+\.jsonl line 21, seq 20: .*wrong --key\n$/);
  const strict = await pgseal('verify', master, '--key', KEY, '--strict');
  assert.equal(strict.code, 1);
  assert.match(strict.stderr, /^pgseal: NOT SEALED unsealed: /);
  const dir = await copyLog(master);
  try {
    const q = (await find(dir, 'query'))[40]!;
    await editLine(dir, q, (l) => l.replace('SELECT', 'select'));
    const note = join(master, 'checkpoint.latest');
    const r = await pgseal('verify', dir, '--key', KEY, '--checkpoint', note);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^pgseal: TAMPERED (external-checkpoint-fork|checkpoint-root-mismatch|frontier-mismatch): /);
  } finally {
    await removeDir(dir);
  }
});

test('verify: usage and I/O errors exit 2 with one line', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['verify', master], /required option '--key/],
    [['verify', master, '--key', 'not-a-key'], /^pgseal: --key not-a-key is neither a vkey/],
    [['verify', join(work, 'missing'), '--key', KEY], /^pgseal: cannot read .*missing: ENOENT\n$/],
    [['verify', master, '--key', KEY, '--checkpoint', join(work, 'missing')], /ENOENT/],
  ];
  const garbage = join(work, 'garbage.tar.gz');
  await writeFile(garbage, Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(64, 0x33)]));
  cases.push([['verify', garbage, '--key', KEY], /^pgseal: .*garbage\.tar\.gz: not a valid gzip stream/]);
  const notes = join(work, 'notes.txt');
  await writeFile(notes, 'hello\n');
  cases.push([['verify', notes, '--key', KEY], /is not a log directory, a segment file/]);
  for (const [args, pattern] of cases) {
    const r = await pgseal(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
});

test('proof: inclusion and consistency proofs print JSON that `proof check` accepts; a bent proof fails', async () => {
  const inc = await pgseal('proof', 'inclusion', '--log', master, '--seq', '42');
  assert.equal(inc.code, 0, inc.stderr);
  const proof = JSON.parse(inc.stdout) as { tree_size: number; leaf_index: number; hashes: string[]; checkpoint: string | null };
  assert.equal(proof.leaf_index, 42);
  assert.equal(proof.tree_size, 153, 'the newest checkpoint');
  assert.ok(proof.checkpoint !== null);
  const file = join(work, 'inclusion.json');
  await writeFile(file, inc.stdout);
  const ok = await pgseal('proof', 'check', file, '--key', KEY, '--key', verifier('b').toString());
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^inclusion proof OK: record 42 is in the tree of size 153/);
  const bent = { ...proof, hashes: [...proof.hashes].reverse() };
  await writeFile(file, JSON.stringify(bent));
  const bad = await pgseal('proof', 'check', file, '--key', verifier('b').toString());
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^pgseal: proof invalid: /);

  const con = await pgseal('proof', 'consistency', '--log', master, '--from', '20', '--to', '98');
  assert.equal(con.code, 0, con.stderr);
  const cfile = join(work, 'consistency.json');
  await writeFile(cfile, con.stdout);
  const cok = await pgseal('proof', 'check', cfile, '--key', KEY, '--key', verifier('b').toString());
  assert.equal(cok.code, 0, cok.stderr);
  assert.match(cok.stdout, /^consistency proof OK: tree size 20 \(signed by pgseal-a\+[0-9a-f]{8}\) is a prefix of tree size 98 \(signed by pgseal-b\+/);
  const onlyA = await pgseal('proof', 'check', cfile, '--key', KEY);
  assert.equal(onlyA.code, 1, 'size 98 is signed by b only');

  await writeFile(file, 'not json');
  assert.equal((await pgseal('proof', 'check', file, '--key', KEY)).code, 2);
  assert.equal((await pgseal('proof', 'inclusion', '--log', master, '--seq', 'x')).code, 2);
  assert.equal((await pgseal('proof', 'inclusion', '--log', master, '--seq', '160')).code, 2, 'seq 160 is unsealed');
});

test('log show: one line per query and session event; filters; --json', async () => {
  const r = await pgseal('log', 'show', master);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const queries = (await find(master, 'query')).length;
  const starts = (await find(master, 'session.start')).length;
  const ends = (await find(master, 'session.end')).length;
  assert.equal(lines.length, queries + starts + ends);
  assert.match(lines[1]!, /^2026-11-26T13:00:00\.\d{6}Z s0-000001 bob #1 simple ok rows=1 0\.101ms SELECT 1 AS n, 'session s0-000001' AS tag FROM generate_series\(1, 1\)$/);
  const alice = await pgseal('log', 'show', master, '--user', 'alice', '--json');
  const records = alice.stdout.trim().split('\n').map((l) => JSON.parse(l) as { user: string; type: string });
  assert.ok(records.length > 0);
  assert.ok(records.every((x) => x.user === 'alice'));
  const late = await pgseal('log', 'show', master, '--since', '2026-11-26T13:01:00Z');
  assert.ok(late.stdout.trim().split('\n').every((l) => l.startsWith('2026-11-26T13:01')));
  assert.equal((await pgseal('log', 'show', master, '--since', 'yesterday-ish')).code, 2);
});
