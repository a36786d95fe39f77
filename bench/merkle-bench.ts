// Micro-measure (not a test): Merkle leaf-hash + append throughput for 1 KiB records, and the
// cost of 1M appends of ready leaf hashes. Run: npx tsc -p . && node dist/bench/merkle-bench.js
import { randomBytes } from 'node:crypto';

import sodium from 'sodium-native';

import { MerkleFrontier, hashChildren, leafHash } from '../src/audit/merkle.js';

const RUNS = 5;
const RECORDS = 200_000;
const APPENDS = 1_000_000;

function best(label: string, run: () => number): number {
  const times = Array.from({ length: RUNS }, run).sort((a, b) => a - b);
  console.log(`${label}: best ${times[0]!.toFixed(0)} ms, median ${times[RUNS >> 1]!.toFixed(0)} ms`);
  return times[0]!;
}

function time(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

const record = randomBytes(1024);
const ms = best(`leafHash + append, ${RECORDS} records of 1 KiB`, () =>
  time(() => {
    const frontier = new MerkleFrontier();
    for (let i = 0; i < RECORDS; i++) {
      record.writeUInt32BE(i, 0); // distinct records, no allocation
      frontier.append(leafHash(record));
    }
    frontier.root();
  }),
);
console.log(`  => ${Math.round((RECORDS / ms) * 1000).toLocaleString('en')} records/s`);

const leaves = Array.from({ length: APPENDS }, (_, i) => leafHash(Buffer.from(String(i))));
best(`append ${APPENDS} ready leaf hashes + root()`, () =>
  time(() => {
    const frontier = new MerkleFrontier();
    for (const leaf of leaves) frontier.append(leaf);
    frontier.root();
  }),
);

// Where the time goes: one 65-byte node hash through node:crypto versus libsodium.
const [a, b] = [leaves[0]!, leaves[1]!];
best(`${APPENDS} node hashes, node:crypto hash()`, () => time(() => { for (let i = 0; i < APPENDS; i++) hashChildren(a, b); }));
const input = Buffer.concat([Buffer.from([1]), a, b]);
best(`${APPENDS} node hashes, sodium crypto_hash_sha256`, () =>
  time(() => {
    for (let i = 0; i < APPENDS; i++) sodium.crypto_hash_sha256(Buffer.allocUnsafe(32), input);
  }),
);
