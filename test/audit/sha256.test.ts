import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { prefixedSha256, sha256Backend } from '../../src/audit/sha256.js';

const reference = (prefix: number, a: Uint8Array, b?: Uint8Array): string => {
  const h = createHash('sha256').update(Buffer.of(prefix)).update(a);
  if (b) h.update(b);
  return h.digest('hex');
};
// Sizes around SHA-256 block edges and the fallback's 16 KiB scratch buffer.
const SIZES = [0, 1, 31, 32, 54, 55, 56, 63, 64, 65, 183, 1000, 16383, 16384, 20000];

test('the native SHA-256 is built and in use (npm run build compiles it; PGSEAL_NATIVE=0 opts out)', () => {
  assert.equal(sha256Backend, process.env['PGSEAL_NATIVE'] === '0' ? 'node:crypto' : 'native');
});

test('prefixedSha256 equals SHA-256(prefix ‖ a ‖ b) for every size and prefix', () => {
  for (const n of SIZES) {
    const a = randomBytes(n);
    for (const prefix of [0, 1, 255]) {
      assert.equal(prefixedSha256(prefix, a).toString('hex'), reference(prefix, a), `size ${n} prefix ${prefix}`);
      const b = randomBytes(32);
      assert.equal(prefixedSha256(prefix, a, b).toString('hex'), reference(prefix, a, b), `size ${n}+32 prefix ${prefix}`);
    }
  }
  // Views into a larger buffer hash only their own bytes.
  const big = randomBytes(300);
  assert.equal(prefixedSha256(0, big.subarray(17, 117)).toString('hex'), reference(0, big.subarray(17, 117)));
  // Each call returns a fresh buffer.
  const x = prefixedSha256(1, big);
  const y = prefixedSha256(1, big);
  assert.notEqual(x, y);
  assert.deepEqual(x, y);
});

test('the node:crypto fallback gives the same hashes as the native addon', () => {
  const module = fileURLToPath(new URL('../../src/audit/sha256.js', import.meta.url));
  const script = `
    const { prefixedSha256, sha256Backend } = await import(${JSON.stringify(module)});
    const out = [sha256Backend];
    for (const n of ${JSON.stringify(SIZES)}) {
      const a = Buffer.alloc(n, n % 251);
      out.push(prefixedSha256(0, a).toString('hex'), prefixedSha256(1, a, Buffer.alloc(32, 7)).toString('hex'));
    }
    process.stdout.write(JSON.stringify(out));`;
  const run = (native: string): string[] =>
    JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, PGSEAL_NATIVE: native }, encoding: 'utf8' })) as string[];
  const fallback = run('0');
  const native = run('1');
  assert.equal(fallback[0], 'node:crypto');
  assert.equal(native[0], 'native');
  assert.deepEqual(fallback.slice(1), native.slice(1));
  assert.equal(fallback[1], reference(0, Buffer.alloc(0)));
});

test('the native batch append refuses line ends that do not sit on newlines in order', async (t) => {
  const { nativeAppendLeaves } = await import('../../src/audit/sha256.js');
  if (!nativeAppendLeaves) return t.skip('PGSEAL_NATIVE=0');
  const slab = Buffer.alloc(54 * 32);
  const data = Buffer.from('ab\ncd\n');
  assert.equal(nativeAppendLeaves(slab, 0, 0, data, Uint32Array.of(2, 5), 2), 1); // two leaves merge into one root
  assert.throws(() => nativeAppendLeaves(slab, 0, 0, data, Uint32Array.of(1, 5), 2), RangeError);
  assert.throws(() => nativeAppendLeaves(slab, 0, 0, data, Uint32Array.of(5, 2), 2), RangeError);
  assert.throws(() => nativeAppendLeaves(slab, 0, 0, data, Uint32Array.of(2, 5), 3), TypeError);
  assert.throws(() => nativeAppendLeaves(Buffer.alloc(32), 0, 0, data, Uint32Array.of(2), 1), TypeError);
  assert.throws(() => nativeAppendLeaves(slab, 54, 0, data, Uint32Array.of(2), 1), TypeError);
  // A count that does not match the size would merge below the slab: refused, not written.
  assert.throws(() => nativeAppendLeaves(slab, 0, 1, data, Uint32Array.of(2), 1), TypeError);
  assert.throws(() => nativeAppendLeaves(slab, 1, 3, data, Uint32Array.of(2), 1), TypeError);
  assert.throws(() => nativeAppendLeaves(slab, 0, 0.5, data, Uint32Array.of(2), 1), TypeError);
});
