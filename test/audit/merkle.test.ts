import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import {
  MerkleError,
  MerkleFrontier,
  emptyRoot,
  leafHash,
  nodeHash,
  popCount,
  rootFromLeaves,
} from '../../src/audit/merkle.js';

// The RFC 6962 test tree of transparency-dev/merkle (test/vectors/README.md) and its roots for sizes 1..8.
const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const leafHashes = (n: number): Buffer[] => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));

test('hashes follow RFC 9162 §2.1.1 domain separation', () => {
  assert.equal(emptyRoot().toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(leafHash(new Uint8Array()).toString('hex'), ROOTS[0]);
  const [a, b] = leafHashes(2) as [Buffer, Buffer];
  assert.notDeepEqual(nodeHash(a, b), nodeHash(b, a));
  assert.notDeepEqual(leafHash(Buffer.concat([a, b])), nodeHash(a, b));
  assert.throws(() => nodeHash(a, b.subarray(1)), MerkleError);
});

test('leafHash is SHA-256(0x00 ‖ data) for small and large records alike', () => {
  for (const size of [0, 1, 1023, 1024, 16 * 1024 - 2, 16 * 1024 - 1, 16 * 1024, 100_000]) {
    const data = Buffer.alloc(size, size % 251);
    const expected = createHash('sha256').update(Buffer.concat([Buffer.from([0]), data])).digest();
    assert.deepEqual(leafHash(data), expected, `size ${size}`);
    assert.deepEqual(leafHash(new Uint8Array(data)), expected, `size ${size} as Uint8Array`);
  }
});

test('frontier and reference root reproduce the published roots for sizes 1..8', () => {
  const hashes = LEAVES.map((hex) => leafHash(Buffer.from(hex, 'hex')));
  const frontier = new MerkleFrontier();
  hashes.forEach((h, i) => {
    frontier.append(h);
    assert.equal(frontier.root().toString('hex'), ROOTS[i], `frontier size ${i + 1}`);
    assert.equal(rootFromLeaves(hashes.slice(0, i + 1)).toString('hex'), ROOTS[i], `reference size ${i + 1}`);
  });
});

test('frontier root equals rootFromLeaves for sizes 0..300 and keeps popcount(size) hashes', () => {
  const hashes = leafHashes(300);
  const frontier = new MerkleFrontier();
  for (let n = 0; n <= 300; n++) {
    assert.equal(frontier.size, n);
    assert.deepEqual(frontier.root(), rootFromLeaves(hashes.slice(0, n)), `size ${n}`);
    assert.equal(frontier.toJSON().hashes.length, popCount(n), `state at size ${n}`);
    if (n < 300) frontier.append(hashes[n]!);
  }
});

test('frontier copies appended leaves and hands out roots the caller may change', () => {
  const frontier = new MerkleFrontier();
  const leaf = leafHash(Buffer.from('x'));
  const expected = Buffer.from(leaf);
  frontier.append(leaf);
  leaf.fill(0);
  frontier.root().fill(0);
  assert.deepEqual(frontier.root(), expected);
});

test('frontier rejects leaf hashes that are not 32 bytes', () => {
  const frontier = new MerkleFrontier();
  assert.throws(() => frontier.append(Buffer.alloc(31)), MerkleError);
  assert.throws(() => frontier.append(Buffer.alloc(33)), MerkleError);
  assert.equal(frontier.size, 0);
});

test('frontier JSON round trip resumes the same tree', () => {
  const hashes = leafHashes(77);
  for (const cut of [0, 1, 2, 31, 32, 33, 63, 64]) {
    const first = new MerkleFrontier();
    hashes.slice(0, cut).forEach((h) => first.append(h));
    const resumed = MerkleFrontier.fromJSON(JSON.parse(JSON.stringify(first)));
    assert.equal(resumed.size, cut);
    assert.deepEqual(resumed.toJSON(), first.toJSON());
    hashes.slice(cut).forEach((h) => resumed.append(h));
    assert.deepEqual(resumed.root(), rootFromLeaves(hashes), `resumed at ${cut}`);
  }
});

test('frontier JSON parsing is strict', () => {
  const good = new MerkleFrontier();
  leafHashes(5).forEach((h) => good.append(h));
  const json = good.toJSON(); // size 5: two hashes
  const h = json.hashes[0]!;
  const bad: Array<[string, unknown]> = [
    ['null', null],
    ['array', [5, json.hashes]],
    ['string', JSON.stringify(json)],
    ['missing hashes', { size: 5 }],
    ['extra key', { ...json, root: h }],
    ['negative size', { size: -1, hashes: [] }],
    ['fractional size', { size: 1.5, hashes: [h] }],
    ['string size', { size: '5', hashes: json.hashes }],
    ['unsafe size', { size: 2 ** 53, hashes: [h] }],
    ['too few hashes', { size: 5, hashes: [h] }],
    ['too many hashes', { size: 4, hashes: json.hashes }],
    ['hashes for empty tree', { size: 0, hashes: [h] }],
    ['non-string hash', { size: 1, hashes: [1] }],
    ['short hash', { size: 1, hashes: [Buffer.alloc(31).toString('base64')] }],
    ['unpadded base64', { size: 1, hashes: [h.replace(/=+$/, '')] }],
    ['base64url', { size: 1, hashes: [Buffer.alloc(32, 0xfb).toString('base64url') + '='] }],
    ['whitespace in base64', { size: 1, hashes: [` ${h}`] }],
  ];
  for (const [name, value] of bad) {
    assert.throws(() => MerkleFrontier.fromJSON(value), MerkleError, name);
  }
  assert.deepEqual(MerkleFrontier.fromJSON({ hashes: json.hashes, size: 5 }).root(), good.root());
});

test('appendLeafOf (in-place hashing) builds the same tree as append(leafHash) and the reference, across fromJSON', () => {
  const records = Array.from({ length: 70 }, (_, i) => Buffer.from(`{"seq":${i},"type":"query"}`));
  const a = new MerkleFrontier();
  const b = new MerkleFrontier();
  for (let i = 0; i < records.length; i++) {
    a.appendLeafOf(records[i]!);
    b.append(leafHash(records[i]!));
    const expected = rootFromLeaves(records.slice(0, i + 1).map((r) => leafHash(r)));
    assert.deepEqual(a.root(), expected, `size ${i + 1}`);
    assert.deepEqual(b.root(), expected);
    assert.deepEqual(a.toJSON(), b.toJSON());
  }
  // A frontier restored mid-way keeps growing into the same tree.
  const c = MerkleFrontier.fromJSON(new MerkleFrontier().toJSON());
  for (const r of records.slice(0, 37)) c.appendLeafOf(r);
  const d = MerkleFrontier.fromJSON(c.toJSON());
  for (const r of records.slice(37)) d.appendLeafOf(r);
  assert.deepEqual(d.root(), a.root());
  // root() returns a copy: changing it does not change the frontier.
  const r1 = a.root();
  r1.fill(0);
  assert.notDeepEqual(a.root(), r1);
});

test('appendLines (one call per batch) builds the same tree as appendLeafOf, for batches of every size', async () => {
  const { LineBuffer } = await import('../../src/audit/line-buffer.js');
  const records = Array.from({ length: 300 }, (_, i) => `{"seq":${i},"sql":"${'x'.repeat(i % 37)}é"}`);
  const a = new MerkleFrontier();
  const b = new MerkleFrontier();
  let i = 0;
  for (const batch of [1, 2, 3, 0, 7, 64, 1, 100, 122]) {
    const lines = new LineBuffer();
    for (const r of records.slice(i, i + batch)) lines.push(r);
    a.appendLines(lines.bytes(), lines.ends, lines.count);
    for (const r of records.slice(i, i + batch)) b.appendLeafOf(Buffer.from(r));
    i += batch;
    assert.equal(a.size, i);
    assert.deepEqual(a.toJSON(), b.toJSON(), `after ${i} records`);
  }
  assert.deepEqual(a.root(), rootFromLeaves(records.map((r) => leafHash(Buffer.from(r)))));
});
