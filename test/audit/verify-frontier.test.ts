// The verifier's frontiers against the reference MerkleFrontier (merkle.ts): same leaf hashes,
// roots and compact ranges at every size, and the same strict deserialisation. Both kinds are
// tested whichever SHA-256 backend is loaded (newVerifyFrontier picks one by the backend).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MerkleError, MerkleFrontier, leafHash } from '../../src/audit/merkle.js';
import { NativeFrontier, StringFrontier, leafHashAt, newVerifyFrontier, type VerifyFrontier } from '../../src/audit/verify-frontier.js';

test('leafHashAt is leafHash of the range, for short and long lines, wherever they sit in the buffer', () => {
  for (const size of [0, 1, 31, 32, 33, 300, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 100_000]) {
    const data = Buffer.alloc(size + 7);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131 + size) & 0xff;
    const want = leafHash(data.subarray(5, 5 + size));
    assert.deepEqual(Buffer.from(leafHashAt(data, 5, 5 + size), 'latin1'), want, `size ${size}`);
    assert.deepEqual(Buffer.from(leafHashAt(new Uint8Array(data), 5, 5 + size), 'latin1'), want, `size ${size} in a Uint8Array`);
  }
});

const kinds: [string, () => VerifyFrontier, (json: unknown) => VerifyFrontier][] = [
  ['StringFrontier', () => new StringFrontier(), (json) => StringFrontier.fromJSON(json)],
  ['NativeFrontier', () => NativeFrontier.of(new MerkleFrontier()), (json) => NativeFrontier.of(MerkleFrontier.fromJSON(json))],
  ['newVerifyFrontier', () => newVerifyFrontier(), (json) => newVerifyFrontier(json)],
];

for (const [kind, fresh, fromJSON] of kinds) {
  test(`${kind} has MerkleFrontier's root and compact range at every size up to 300, for lines read in place`, () => {
    const reference = new MerkleFrontier();
    const frontier = fresh();
    assert.deepEqual(frontier.root(), reference.root(), 'empty tree');
    for (let i = 0; i < 300; i++) {
      const line = Buffer.from(`{"seq":${i},"x":"${'y'.repeat(i)}"}`);
      reference.append(leafHash(line));
      const chunk = Buffer.concat([Buffer.from('prev\n'), line, Buffer.from('\nnext')]);
      frontier.appendLine(chunk, 5, 5 + line.length);
      assert.equal(frontier.size, reference.size);
      assert.deepEqual(frontier.root(), reference.root(), `size ${i + 1}`);
      assert.deepEqual(frontier.base64Hashes(), reference.toJSON().hashes, `size ${i + 1}`);
    }
  });

  test(`${kind} rebuilt from JSON resumes where MerkleFrontier left off, and rejects what it rejects`, () => {
    const reference = new MerkleFrontier();
    for (let i = 0; i < 77; i++) reference.append(leafHash(Buffer.from(`leaf ${i}`)));
    const resumed = fromJSON(JSON.parse(JSON.stringify(reference)));
    assert.equal(resumed.size, 77);
    assert.deepEqual(resumed.base64Hashes(), reference.toJSON().hashes);
    for (let i = 77; i < 100; i++) {
      const line = Buffer.from(`leaf ${i}`);
      reference.append(leafHash(line));
      resumed.appendLine(line, 0, line.length);
    }
    assert.deepEqual(resumed.root(), reference.root());
    const good = reference.toJSON();
    for (const bad of [null, [], { size: 100 }, { ...good, size: 99 }, { ...good, hashes: [...good.hashes.slice(1), 'AAAA'] }, { ...good, extra: 1 }]) {
      assert.throws(() => fromJSON(bad), MerkleError, JSON.stringify(bad));
    }
  });
}
