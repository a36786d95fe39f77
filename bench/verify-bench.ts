// Micro-measure (not a test): verifyLog throughput on a log of BENCH_RECORDS (default 1,000,000)
// records written by SealedLog (query/result pairs of realistic size, checkpoints every 1000
// records, 64 MiB segments), read from the page cache. The log is written by a child process, so
// verification runs in a fresh process as `pgseal verify` does (sharing the writer's JIT and heap
// state costs about a third). Prints records/s and MB/s per run (wall and CPU time), and the peak
// RSS, which must not grow with the log (the verifier keeps only the frontier): compare
// BENCH_RECORDS=1000000 with BENCH_RECORDS=4000000.
// Run: npx tsc -p . && node dist/bench/verify-bench.js
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { AuditEvent } from '../src/audit/events.js';
import { openLog } from '../src/audit/log-reader.js';
import { generateSignerKey, parseVerifierKey } from '../src/audit/note.js';
import { SealedLog } from '../src/audit/store.js';
import { verifyLog } from '../src/audit/verify.js';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BATCH = 100;

function event(i: number): AuditEvent {
  const q = i >> 1;
  if (i % 2 === 0) {
    return {
      type: 'query', session: '3f2a9c1e7b4d4e0a', query: q, protocol: 'extended',
      sql: 'SELECT id, name, email, created_at FROM customers WHERE region = $1 AND status = $2 ORDER BY created_at DESC LIMIT 50',
      statement: 's1', params: [{ format: 'text', value: 'eu-west' }, { format: 'text', value: String(q) }],
    };
  }
  return { type: 'result', session: '3f2a9c1e7b4d4e0a', query: q, status: 'ok', tags: ['SELECT 50'], rows: 50, duration_us: 800 + (q % 500) };
}

// Child process: write the log into dir and its vkey into dir/bench.vkey (not a segment: ignored by verify).
function writeBenchLog(dir: string): void {
  const signer = generateSignerKey('bench');
  writeFileSync(join(dir, 'bench.vkey'), signer.verifier().toString());
  const log = SealedLog.open({ dir, origin: 'bench.pgseal/log', signer, checkpointMs: 2_000_000_000 });
  for (let i = 0; i < RECORDS; i += BATCH) {
    for (let j = 0; j < BATCH && i + j < RECORDS; j++) log.append(event(i + j));
    log.flush();
  }
  log.close();
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pgseal-verify-bench-'));
  try {
    const t0 = performance.now();
    execFileSync(process.execPath, [process.argv[1]!, '--write', dir], { stdio: 'inherit' });
    const vkey = parseVerifierKey(readFileSync(join(dir, 'bench.vkey'), 'utf8'));
    const segments = readdirSync(dir).filter((n) => n.startsWith('seg-'));
    const bytes = segments.reduce((sum, n) => sum + statSync(join(dir, n)).size, 0);
    console.log(`wrote ${RECORDS.toLocaleString('en')} records, ${(bytes / 1e6).toFixed(0)} MB in ${segments.length} segments in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 50);
    const rates: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const start = performance.now();
      const cpu0 = process.cpuUsage();
      const report = await verifyLog(await openLog([dir]), { trustedKey: vkey });
      const s = (performance.now() - start) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const cpuS = (cpu.user + cpu.system) / 1e6;
      if (!report.ok) throw new Error(`bench log does not verify: ${report.fault?.message}`);
      rates.push(report.records / s);
      console.log(`run ${run + 1}: ${report.records.toLocaleString('en')} records, ${report.checkpoints} checkpoints in ${s.toFixed(2)} s => ` +
        `${Math.round(report.records / s).toLocaleString('en')} records/s, ${(bytes / 1e6 / s).toFixed(0)} MB/s ` +
        `(CPU ${cpuS.toFixed(2)} s: ${Math.round(report.records / cpuS).toLocaleString('en')} records/s)`);
    }
    clearInterval(sampler);
    rates.sort((a, b) => b - a);
    console.log(`best ${Math.round(rates[0]!).toLocaleString('en')} records/s; peak RSS ${(peak / 1e6).toFixed(0)} MB`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--write') writeBenchLog(process.argv[3]!);
else await main();
