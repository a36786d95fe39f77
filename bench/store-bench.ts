// Micro-measure (not a test): SealedLog throughput for ~350-byte query records, durability os
// (BATCH appends then one flush, and one flush per record) and fsync (group commit: BATCH
// appends + commits per event-loop turn). Checkpoints at the default cadence (every 1000). Run: npx tsc -p . && node dist/bench/store-bench.js
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { AuditEvent } from '../src/audit/events.js';
import { generateSignerKey } from '../src/audit/note.js';
import { SealedLog } from '../src/audit/store.js';

const RECORDS = 200_000;
const RUNS = 5;
const BATCH = 100;

function event(i: number): AuditEvent {
  return {
    type: 'query',
    session: '3f2a9c1e7b4d4e0a',
    query: i,
    protocol: 'extended',
    sql: 'SELECT id, name, email, created_at FROM customers WHERE region = $1 AND status = $2 ORDER BY created_at DESC LIMIT 50',
    statement: 's1',
    params: [
      { format: 'text', value: 'eu-west' },
      { format: 'text', value: 'active' },
    ],
  };
}

function open(dir: string, durability: 'os' | 'fsync'): SealedLog {
  return SealedLog.open({ dir, origin: 'bench.pgseal/log', signer: generateSignerKey('bench'), durability });
}

function runOs(batch: number): number {
  const dir = mkdtempSync(join(tmpdir(), 'pgseal-bench-'));
  try {
    const log = open(dir, 'os');
    const start = performance.now();
    for (let i = 0; i < RECORDS; i += batch) {
      for (let j = 0; j < batch; j++) log.append(event(i + j));
      log.flush();
    }
    log.close();
    return performance.now() - start;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runFsync(records: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'pgseal-bench-'));
  try {
    const log = open(dir, 'fsync');
    const start = performance.now();
    let done = 0;
    await new Promise<void>((resolve, reject) => {
      const turn = (base: number) => {
        for (let j = 0; j < BATCH && base + j < records; j++) {
          log.append(event(base + j));
          log.commit((err) => (err ? reject(err) : ++done === records && resolve()));
        }
        if (base + BATCH < records) setImmediate(() => turn(base + BATCH));
      };
      turn(0);
    });
    log.close();
    return performance.now() - start;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(label: string, records: number, times: number[]): void {
  times.sort((a, b) => a - b);
  const perSec = (ms: number) => Math.round((records / ms) * 1000).toLocaleString('en');
  console.log(`${label}: best ${perSec(times[0]!)} records/s, median ${perSec(times[times.length >> 1]!)} records/s`);
}

const line = Buffer.byteLength(JSON.stringify({ seq: 123456, ts: '2026-11-26T13:24:59.247441Z', ...event(1) }));
console.log(`record size ~${line} bytes, ${RECORDS} records, ${BATCH} per flush`);
report(`durability os, ${BATCH} records per flush`, RECORDS, Array.from({ length: RUNS }, () => runOs(BATCH)));
report('durability os, 1 record per flush', RECORDS, Array.from({ length: RUNS }, () => runOs(1)));
const fsyncTimes: number[] = [];
for (let r = 0; r < 3; r++) fsyncTimes.push(await runFsync(RECORDS / 4));
report('durability fsync (group commit)', RECORDS / 4, fsyncTimes);
