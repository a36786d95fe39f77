// Proofs from a real log: every record's inclusion proof against the checkpoint that covers it,
// consistency between checkpoints, and bent proofs, records and notes that must fail.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { openLog } from '../../src/audit/log-reader.js';
import { leafHash } from '../../src/audit/merkle.js';
import { proveInclusion } from '../../src/audit/merkle-proof.js';
import { checkProof, makeConsistencyProof, makeInclusionProof } from '../../src/audit/verify-proof.js';
import { PgsealError } from '../../src/errors.js';
import { find, records, removeDir, rootOf, signedNote, tempDir, verifier, writeLog } from './fixtures.js';

let master: string;
let cpSizes: number[];
const keys = [verifier('a'), verifier('b')];

before(async () => {
  master = await tempDir();
  writeLog(master);
  cpSizes = (await find(master, 'checkpoint')).map((c) => c.record.seq as number);
});

after(() => removeDir(master));

const log = () => openLog([master]);

test('every record covered by a checkpoint has an inclusion proof that checks against the signed note', async () => {
  const all = await records(master);
  const leaves = all.map((r) => leafHash(Buffer.from(r.line)));
  const last = cpSizes.at(-1)!;
  for (let seq = 0; seq < last; seq += 5) {
    const p = await makeInclusionProof(await log(), seq);
    assert.equal(p.tree_size, last, 'defaults to the newest checkpoint');
    assert.equal(p.record, all[seq]!.line);
    assert.deepEqual(p.hashes, proveInclusion(seq, last, leaves).map((h) => h.toString('base64')));
    const c = checkProof(p, keys, []);
    assert.equal(c.ok, true, c.message);
  }
});

test('inclusion at an explicit checkpoint size embeds that note; at other sizes it needs one from elsewhere', async () => {
  const size = cpSizes[2]!;
  const p = await makeInclusionProof(await log(), 7, size);
  assert.equal(p.tree_size, size);
  assert.ok(p.checkpoint?.includes(`\n${size}\n`));
  assert.equal(checkProof(p, [verifier('a')], []).ok, true);
  const odd = await makeInclusionProof(await log(), 7, size + 1);
  assert.equal(odd.checkpoint, null);
  const unsigned = checkProof(odd, keys, []);
  assert.equal(unsigned.ok, false);
  assert.match(unsigned.message, /no checkpoint note of size/);
  const note = signedNote(size + 1, await rootOf(master, size + 1), ['a']);
  assert.equal(checkProof(odd, keys, [note]).ok, true, 'a note kept elsewhere signs the root');
});

test('bent inclusion proofs, records and notes fail', async () => {
  const p = await makeInclusionProof(await log(), 30);
  const cases: Array<[string, Record<string, unknown>]> = [
    ['flipped hash', { ...p, hashes: p.hashes.map((h, i) => (i === 1 ? Buffer.alloc(32, 1).toString('base64') : h)) }],
    ['dropped hash', { ...p, hashes: p.hashes.slice(1) }],
    ['other index', { ...p, leaf_index: 31 }],
    ['edited record', { ...p, record: p.record.replace('"seq":30', '"seq":30 ') }],
    ['other record', { ...p, record: (await records(master))[31]!.line }],
    ['other root', { ...p, root: Buffer.alloc(32, 2).toString('base64') }],
    ['forged note', { ...p, checkpoint: signedNote(p.tree_size, Buffer.from(p.root, 'base64'), ['evil']) }],
  ];
  for (const [what, bent] of cases) assert.equal(checkProof(bent, keys, []).ok, false, what);
  assert.equal(checkProof(p, [verifier('evil')], []).ok, false, 'untrusted key');
});

test('consistency proofs between checkpoints check; bent ones fail', async () => {
  for (let i = 0; i < cpSizes.length; i++) {
    for (let j = i; j < cpSizes.length; j++) {
      const p = await makeConsistencyProof(await log(), cpSizes[i]!, cpSizes[j]!);
      assert.ok(p.checkpoint1 !== null && p.checkpoint2 !== null);
      const c = checkProof(p, keys, []);
      assert.equal(c.ok, true, `${cpSizes[i]} -> ${cpSizes[j]}: ${c.message}`);
    }
  }
  const p = await makeConsistencyProof(await log(), cpSizes[1]!);
  assert.equal(p.size2, cpSizes.at(-1));
  assert.equal(checkProof({ ...p, root1: p.root2 }, keys, []).ok, false);
  assert.equal(checkProof({ ...p, hashes: p.hashes.slice(0, -1) }, keys, []).ok, false);
  assert.equal(checkProof({ ...p, size1: p.size1 + 1 }, keys, []).ok, false);
});

test('malformed proofs and arguments are usage errors', async () => {
  const usage = (err: unknown) => err instanceof PgsealError && err.code === 'usage';
  assert.throws(() => checkProof(null, keys, []), usage);
  assert.throws(() => checkProof({ type: 'inclusion', origin: 'o' }, keys, []), usage);
  assert.throws(() => checkProof({ type: 'other', origin: 'o' }, keys, []), usage);
  await assert.rejects(async () => makeInclusionProof(await log(), 5, 5), usage);
  await assert.rejects(async () => makeInclusionProof(await log(), 10_000), usage);
  await assert.rejects(async () => makeConsistencyProof(await log(), 0, 5), usage);
  await assert.rejects(async () => makeConsistencyProof(await log(), 5, 100_000), usage);
});
