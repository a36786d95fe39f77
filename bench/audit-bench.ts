/**
 * Audit benchmark (not a test): what the sealed audit log costs, measured side by side in one run.
 *
 *   npx tsc -p . && node dist/bench/audit-bench.js
 *   AUDIT_BENCH_RECORDS=500000 BENCH_SECONDS=8 BENCH_ROUNDS=3 node dist/bench/audit-bench.js
 *
 * What it does (see bench/README.md, "Audit benchmark", for how to read the output):
 *   1. store: SealedLog appends of pgbench-like `query` + `result` event pairs, 8 sessions,
 *      AUDIT_BENCH_RECORDS records per variant, in a temp dir under os.tmpdir():
 *        - os, batched: many appends, then one flush per event-loop turn (the target's case);
 *        - os, commit per query: each session appends its query and commits (a synchronous
 *          write), as src/proxy/relay.ts does with durability os;
 *        - fsync, group commit: each session appends its query and awaits commit(cb) before
 *          the next one; one fdatasync answers every commit queued before it starts;
 *   2. verify: builds a log of AUDIT_BENCH_VERIFY_RECORDS (>= 1M) records with SealedLog
 *      (durability os, default checkpoint cadence) and times verifyLog (`pgseal verify`'s
 *      entry point) on it, in this process, 3 times; prints the median, plus one timed run of
 *      the `pgseal verify` CLI as a separate process;
 *   3. proxy: PostgreSQL with TLS + pgbench -i, two pgseal instances (audit on: the default
 *      config; audit off: `audit.enabled: false`), pgbench -n -S -c 8 -j 2 alternating
 *      on/off every round; median tps, median of per-round ratios on/off, pgseal CPU us/txn;
 *   4. a summary with the three targets of the issue, MET / NOT MET.
 *
 * Environment knobs: AUDIT_BENCH_RECORDS (500000), AUDIT_BENCH_VERIFY_RECORDS (1000000),
 * AUDIT_BENCH_SESSIONS (8), AUDIT_BENCH_BATCH (records per flush in the batched os run, 128),
 * AUDIT_BENCH_PHASES (comma list of store,verify,proxy; default all), BENCH_SECONDS (10),
 * BENCH_ROUNDS (3), BENCH_SCALE (10), BENCH_WARMUP (min(5, BENCH_SECONDS); 0 = none),
 * BENCH_TIMEOUT_S (hard bound on the whole run; default derived from the plan).
 *
 * Everything started here is stopped and every temp dir removed at exit (also on SIGINT/SIGTERM
 * and on the hard timeout).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import type { AuditEvent, AuditParam } from '../src/audit/events.js';
import { openLog } from '../src/audit/log-reader.js';
import { generateSignerKey, parseSignerKey, type VerifierKey } from '../src/audit/note.js';
import { SealedLog } from '../src/audit/store.js';
import { verifyLog } from '../src/audit/verify.js';
import type { VerifyReport } from '../src/audit/verify-report.js';
import { findPgBinary, pgbench, runCommand, startPostgres, type CommandResult, type PgServer } from '../test/support/postgres.js';
import { CLI, removePgseal, startPgseal, type Pgseal } from '../test/support/pgseal.js';
import { clockTicks, cpuTicks, fmt, libpqEnv, lpad, median, pad, stopOnSignalOrTimeout, tail, versionOf } from './bench-util.js';

// ---------------------------------------------------------------------------------------------
// Configuration

function envInt(name: string, def: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`audit-bench: ${name} must be an integer >= ${min} (got ${JSON.stringify(raw)})`);
    process.exit(2);
  }
  return n;
}

type Phase = 'store' | 'verify' | 'proxy';
const ALL_PHASES: readonly Phase[] = ['store', 'verify', 'proxy'];
const PHASES: ReadonlySet<Phase> = (() => {
  const raw = process.env['AUDIT_BENCH_PHASES'];
  if (!raw) return new Set(ALL_PHASES);
  const out = new Set<Phase>();
  for (const p of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(ALL_PHASES as readonly string[]).includes(p)) {
      console.error(`audit-bench: unknown phase ${p} in AUDIT_BENCH_PHASES (known: ${ALL_PHASES.join(', ')})`);
      process.exit(2);
    }
    out.add(p as Phase);
  }
  return out;
})();

const RECORDS = envInt('AUDIT_BENCH_RECORDS', 500_000, 1000);
const VERIFY_RECORDS = envInt('AUDIT_BENCH_VERIFY_RECORDS', 1_000_000, 1000);
const SESSIONS = envInt('AUDIT_BENCH_SESSIONS', 8, 1);
const BATCH = envInt('AUDIT_BENCH_BATCH', 128, 2);
const VERIFY_RUNS = 3;
const SECONDS = envInt('BENCH_SECONDS', 10, 1);
const ROUNDS = envInt('BENCH_ROUNDS', 3, 1);
const SCALE = envInt('BENCH_SCALE', 10, 1);
const WARMUP = envInt('BENCH_WARMUP', Math.min(5, SECONDS), 0);
const ROLE = 'bench';
const PASSWORD = 'bench-' + Math.random().toString(36).slice(2, 12);
const DB = 'bench';

/** Per pgbench run: duration plus room for connecting and exit. */
const RUN_TIMEOUT_MS = SECONDS * 1000 + 120_000;
const TOTAL_TIMEOUT_S = envInt(
  'BENCH_TIMEOUT_S',
  // store: 3 variants at >= 5k records/s worst case; verify: build + 3 runs + CLI at >= 20k/s; proxy: setup + warm-up + runs
  120 +
    (PHASES.has('store') ? Math.ceil((3 * RECORDS) / 5_000) : 0) +
    (PHASES.has('verify') ? Math.ceil((5 * VERIFY_RECORDS) / 20_000) : 0) +
    (PHASES.has('proxy') ? 600 + SCALE * 10 + 2 * (WARMUP + 30) + ROUNDS * 2 * (SECONDS + 60) : 0),
  10,
);

const TARGET_APPEND = 100_000; // records/s, durability os
const TARGET_VERIFY = 300_000; // records/s, one core, log >= 1M records
const TARGET_VERIFY_MIN_LOG = 1_000_000;
const TARGET_PROXY = 0.9; // tps audit on / audit off, pgbench -S -c 8

// ---------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));



function int(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  return Math.round(x).toLocaleString('en');
}



function load(): string {
  return loadavg().map((x) => x.toFixed(2)).join(' ');
}


const MB = 1024 * 1024;



/** CPU seconds (user + system, all threads) this process used since `from`. */
function cpuSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1e6;
}


/** Total size and count of the segment files of a log directory. */
function logSize(dir: string): { bytes: number; segments: number } {
  let bytes = 0;
  let segments = 0;
  for (const name of readdirSync(dir)) {
    if (!/^seg-.*\.jsonl$/.test(name)) continue;
    bytes += statSync(join(dir, name)).size;
    segments++;
  }
  return { bytes, segments };
}

// ---------------------------------------------------------------------------------------------
// Process and temp-dir bookkeeping

const tempDirs = new Set<string>();
let pg: PgServer | undefined;
const seals: Pgseal[] = [];
let cleaning: Promise<void> | undefined;

function tempDir(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `pgseal-audit-bench-${tag}-`));
  tempDirs.add(d);
  return d;
}

function removeTemp(d: string): void {
  rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

function removeTempSync(): void {
  for (const d of tempDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  tempDirs.clear();
}

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const s of seals.splice(0)) {
      try {
        await Promise.race([removePgseal(s), sleep(15_000)]);
      } catch (err) {
        console.error(`audit-bench: stopping pgseal: ${(err as Error).message}`);
      }
    }
    if (pg) {
      try {
        await pg.stop();
      } catch (err) {
        console.error(`audit-bench: stopping PostgreSQL: ${(err as Error).message}`);
      }
    }
    removeTempSync();
  })();
  return cleaning;
}

process.on('exit', removeTempSync); // the support modules SIGKILL their own children on exit
const watchdog = stopOnSignalOrTimeout('audit-bench', cleanup, TOTAL_TIMEOUT_S);

function checkAborted(): void {
  if (cleaning) throw new Error('aborted');
}

// ---------------------------------------------------------------------------------------------
// Events: pgbench-like query + result pairs (the statements of pgbench's TPC-B-like script, as
// pgseal records them under `pgbench -M prepared`: extended protocol, named statement, text params).

interface Statement {
  name: string;
  sql: string;
  tag: string;
  params: (r: () => number) => string[];
}

const STATEMENTS: readonly Statement[] = [
  { name: 'P_1', sql: 'UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;', tag: 'UPDATE 1', params: (r) => [String((r() % 10_001) - 5000), String(1 + (r() % 1_000_000))] },
  { name: 'P_2', sql: 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;', tag: 'SELECT 1', params: (r) => [String(1 + (r() % 1_000_000))] },
  { name: 'P_3', sql: 'UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;', tag: 'UPDATE 1', params: (r) => [String((r() % 10_001) - 5000), String(1 + (r() % 100))] },
  { name: 'P_4', sql: 'UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;', tag: 'UPDATE 1', params: (r) => [String((r() % 10_001) - 5000), String(1 + (r() % 10))] },
  {
    name: 'P_5',
    sql: 'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);',
    tag: 'INSERT 0 1',
    params: (r) => [String(1 + (r() % 100)), String(1 + (r() % 10)), String(1 + (r() % 1_000_000)), String((r() % 10_001) - 5000)],
  },
];

/** A fake session: its id and query counter, producing query / result events. */
class FakeSession {
  readonly id = randomBytes(8).toString('hex');
  #query = 0;
  #seed: number;

  constructor(seed: number) {
    this.#seed = seed | 1;
  }

  #rand = (): number => {
    // xorshift32: cheap, deterministic values for the params
    let x = this.#seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#seed = x;
    return x >>> 0;
  };

  query(): { event: AuditEvent; result: AuditEvent } {
    const id = ++this.#query;
    const st = STATEMENTS[id % STATEMENTS.length]!;
    const params: AuditParam[] = st.params(this.#rand).map((value) => ({ format: 'text', value }));
    return {
      event: { type: 'query', session: this.id, query: id, protocol: 'extended', sql: st.sql, statement: st.name, portal: '', params },
      result: { type: 'result', session: this.id, query: id, status: 'ok', tags: [st.tag], rows: 1, duration_us: 150 + (this.#rand() % 400) },
    };
  }
}

function sessions(n: number): FakeSession[] {
  return Array.from({ length: n }, (_, i) => new FakeSession(0x9e3779b9 * (i + 1)));
}

// ---------------------------------------------------------------------------------------------
// Phase 1: sealed appends

interface AppendResult {
  label: string;
  records: number; // event records appended
  logRecords: number; // including segment.start and checkpoint records
  seconds: number; // first append to the last record written (os) / committed (fsync)
  closeSeconds: number; // close(): final checkpoint, fsync of file and directory
  bytes: number;
  segments: number;
  cpuSeconds: number;
  writes?: number;
}

type Variant = 'os-batched' | 'os-commit' | 'fsync-group';

const VARIANT_LABEL: Record<Variant, string> = {
  'os-batched': `os, batched (${BATCH} records per flush, one flush per event-loop turn)`,
  'os-commit': `os, commit per query (${SESSIONS} sessions, as relay.ts)`,
  'fsync-group': `fsync, group commit (${SESSIONS} sessions awaiting commit)`,
};

function openLogFor(dir: string, durability: 'os' | 'fsync'): { log: SealedLog; vkey: VerifierKey } {
  const signer = generateSignerKey('bench.pgseal');
  const vkey = signer.verifier();
  return { log: SealedLog.open({ dir, origin: 'bench.pgseal/audit', signer, durability }), vkey };
}

/** Appends `records` event records the batched way: BATCH records, one flush, next event-loop turn. */
async function fillBatched(log: SealedLog, records: number): Promise<void> {
  const ss = sessions(SESSIONS);
  let n = 0;
  let s = 0;
  while (n < records) {
    const end = Math.min(records, n + BATCH);
    while (n < end) {
      const { event, result } = ss[s]!.query();
      s = (s + 1) % ss.length;
      log.append(event);
      n++;
      if (n < end) {
        log.append(result);
        n++;
      }
    }
    log.flush();
    await turn(); // lets the checkpoint timer and the store's own tick run, as in the proxy
    if ((n & 0xffff) < BATCH) checkAborted();
  }
}

async function runAppend(variant: Variant): Promise<AppendResult> {
  const dir = tempDir('store');
  try {
    const durability = variant === 'fsync-group' ? 'fsync' : 'os';
    const { log } = openLogFor(dir, durability);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let writes: number | undefined;
    if (variant === 'os-batched') {
      await fillBatched(log, RECORDS);
      writes = Math.ceil(RECORDS / BATCH);
    } else if (variant === 'os-commit') {
      // Each turn, every session: its previous result arrives, then its next query, committed
      // at once (a synchronous write of what is buffered: result + query), as relay.ts does.
      const ss = sessions(SESSIONS);
      const pendingResult: (AuditEvent | undefined)[] = new Array(SESSIONS).fill(undefined);
      let n = 0;
      writes = 0;
      let commitErr: Error | null = null;
      while (n < RECORDS) {
        for (let i = 0; i < ss.length && n < RECORDS; i++) {
          const prev = pendingResult[i];
          if (prev) {
            log.append(prev);
            n++;
          }
          if (n >= RECORDS) break;
          const { event, result } = ss[i]!.query();
          log.append(event);
          n++;
          pendingResult[i] = result;
          log.commit((err) => (commitErr ??= err));
          writes++;
        }
        if (commitErr) throw commitErr;
        await turn();
        if ((writes & 0x3fff) < SESSIONS) checkAborted();
      }
      log.flush();
    } else {
      // fsync: each session appends its query, awaits the group commit (the query may not reach
      // PostgreSQL before it is on disk), then its result arrives; repeat.
      const ss = sessions(SESSIONS);
      let n = 0;
      const commit = (): Promise<void> => new Promise((ok, fail) => log.commit((err) => (err ? fail(err) : ok())));
      await Promise.all(
        ss.map(async (sess) => {
          while (n < RECORDS) {
            const { event, result } = sess.query();
            log.append(event);
            n++;
            await commit();
            if (n < RECORDS) {
              log.append(result);
              n++;
            }
            if (cleaning) throw new Error('aborted');
          }
        }),
      );
      log.flush(); // the last results, fdatasynced
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpuSeconds = cpuSince(cpu0);
    const logRecords = log.size;
    const c0 = performance.now();
    log.close();
    const closeSeconds = (performance.now() - c0) / 1000;
    const { bytes, segments } = logSize(dir);
    const res: AppendResult = { label: VARIANT_LABEL[variant], records: RECORDS, logRecords, seconds, closeSeconds, bytes, segments, cpuSeconds };
    if (writes !== undefined) res.writes = writes;
    return res;
  } finally {
    removeTemp(dir);
  }
}

/** Mean line length of each record type in a small sample log (the bench's own events as the store writes them). */
async function sampleLineSizes(): Promise<Record<string, number>> {
  const dir = tempDir('sample');
  try {
    const { log } = openLogFor(dir, 'os');
    await fillBatched(log, 10_000);
    log.close();
    const sums: Record<string, { n: number; bytes: number }> = {};
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.jsonl'))) {
      for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
        if (!line) continue;
        const type = /"type":"([^"]+)"/.exec(line)?.[1] ?? '?';
        const s = (sums[type] ??= { n: 0, bytes: 0 });
        s.n++;
        s.bytes += Buffer.byteLength(line) + 1;
      }
    }
    return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v.bytes / v.n]));
  } finally {
    removeTemp(dir);
  }
}

// ---------------------------------------------------------------------------------------------
// Phase 2: verify

interface VerifyRun {
  seconds: number;
  cpuSeconds: number;
  records: number;
  ok: boolean;
  summary: string;
}

async function verifyOnce(dir: string, key: VerifierKey): Promise<VerifyRun & { report: VerifyReport }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const report = await verifyLog(await openLog([dir]), { trustedKey: key });
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpuSince(cpu0);
  const summary = report.ok
    ? `ok, ${report.records} records, ${report.segments} segments, ${report.checkpoints} checkpoints, ${report.unsealed} unsealed`
    : `FAULT ${report.fault?.kind}: ${report.fault?.message}`;
  return { seconds, cpuSeconds, records: report.records, ok: report.ok, summary, report };
}

async function verifyCli(dir: string, key: VerifierKey): Promise<{ seconds: number; r: CommandResult }> {
  const t0 = performance.now();
  const r = await runCommand(process.execPath, [CLI, 'verify', '--key', key.toString(), dir], { timeoutMs: 600_000 });
  return { seconds: (performance.now() - t0) / 1000, r };
}

// ---------------------------------------------------------------------------------------------
// Phase 3: proxy, audit on vs off

type Mode = 'on' | 'off';

interface ProxyRun {
  round: number;
  mode: Mode;
  ok: boolean;
  tps?: number;
  latencyMs?: number;
  transactions?: number;
  cpuUsPerTxn?: number;
  cpuSeconds?: number;
  error?: string;
}

function clientEnv(port: number): Record<string, string> {
  return libpqEnv(port, ROLE, DB, PASSWORD);
}

function parsePgbench(stdout: string): { tps?: number; latencyMs?: number; transactions?: number } {
  const num = (re: RegExp): number | undefined => {
    const m = re.exec(stdout);
    return m ? Number(m[1]) : undefined;
  };
  return {
    tps: num(/^tps = ([\d.]+) \(without initial connection time\)/m),
    latencyMs: num(/^latency average = ([\d.]+) ms/m),
    transactions: num(/^number of transactions actually processed: (\d+)/m),
  };
}

const SELECT8 = ['-n', '-S', '-c', '8', '-j', '2'];

function alive(s: Pgseal): boolean {
  return s.proc.exitCode === null && s.proc.signalCode === null;
}

async function runSelect8(round: number, mode: Mode, s: Pgseal, seconds: number): Promise<ProxyRun> {
  if (!alive(s)) return { round, mode, ok: false, error: `pgseal (audit ${mode}) is not running` };
  const before = cpuTicks(s.proc.pid);
  const r = await pgbench([...SELECT8, '-T', String(seconds)], clientEnv(s.port), RUN_TIMEOUT_MS);
  const after = cpuTicks(s.proc.pid);
  const p = parsePgbench(r.stdout);
  if (r.code !== 0 || p.tps === undefined) {
    const why = [`pgbench exit ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''}`, tail(r.stderr, 15) || tail(r.stdout, 15)];
    why.push(`pgseal (audit ${mode}) alive: ${alive(s)}; last log lines:\n${s.log.slice(-20).join('\n')}`);
    return { round, mode, ok: false, error: why.join('\n') };
  }
  const transactions = p.transactions ?? Math.round(p.tps * seconds);
  const res: ProxyRun = { round, mode, ok: true, tps: p.tps, transactions };
  if (p.latencyMs !== undefined) res.latencyMs = p.latencyMs;
  if (before !== undefined && after !== undefined && transactions > 0) {
    res.cpuSeconds = (after - before) / clockTicks();
    res.cpuUsPerTxn = ((after - before) * 1e6) / clockTicks() / transactions;
  }
  return res;
}

/** Counts audit records by type, streaming. */
async function auditCounts(dir: string): Promise<{ total: number; files: number; byType: Record<string, number> }> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.jsonl')).sort();
  } catch {
    return { total: 0, files: 0, byType: {} };
  }
  const byType: Record<string, number> = {};
  let total = 0;
  for (const f of files) {
    const rl = createInterface({ input: createReadStream(join(dir, f)), crlfDelay: Infinity });
    for await (const line of rl) {
      if (!line) continue;
      total++;
      const t = /"type":"([^"]+)"/.exec(line)?.[1] ?? '?';
      byType[t] = (byType[t] ?? 0) + 1;
    }
  }
  return { total, files: files.length, byType };
}

// ---------------------------------------------------------------------------------------------
// Main

interface Results {
  append: Partial<Record<Variant, AppendResult>>;
  lineSizes?: Record<string, number>;
  verify?: { records: number; logRecords: number; bytes: number; segments: number; buildSeconds: number; runs: VerifyRun[]; cliSeconds?: number; cliOk?: boolean };
  proxy?: { runs: ProxyRun[]; tps: Partial<Record<Mode, number>>; cpu: Partial<Record<Mode, number>>; lat: Partial<Record<Mode, number>>; ratios: number[]; ratio: number; auditOn?: string; auditOffFiles?: number; sealedVerify?: string };
  failures: string[];
}

async function phaseStore(res: Results): Promise<void> {
  console.log(`\n=== 1. sealed appends: ${int(RECORDS)} event records per variant (query + result pairs, ${SESSIONS} sessions) ===`);
  res.lineSizes = await sampleLineSizes();
  const ls = res.lineSizes;
  console.log(
    `line sizes (bytes incl. newline, mean): query ${fmt(ls['query'], 0)}, result ${fmt(ls['result'], 0)}, ` +
      `pair ${fmt((ls['query'] ?? 0) + (ls['result'] ?? 0), 0)}, checkpoint ${fmt(ls['checkpoint'], 0)}; checkpoint every 1000 records / 1000 ms (defaults)`,
  );
  console.log(
    `${pad('variant', 62)} ${lpad('records/s', 10)} ${lpad('MB/s', 7)} ${lpad('time s', 7)} ${lpad('CPU %', 6)} ${lpad('rec/CPU-s', 10)} ${lpad('close s', 8)}  log`,
  );
  for (const v of ['os-batched', 'os-commit', 'fsync-group'] as const) {
    checkAborted();
    const r = await runAppend(v);
    res.append[v] = r;
    const extra = r.writes !== undefined ? `, ${fmt(r.records / r.writes, 1)} records/write` : '';
    console.log(
      `${pad(r.label, 62)} ${lpad(int(r.records / r.seconds), 10)} ${lpad(fmt(r.bytes / MB / r.seconds), 7)} ${lpad(fmt(r.seconds, 2), 7)} ` +
        `${lpad(fmt((100 * r.cpuSeconds) / r.seconds, 0), 6)} ${lpad(int(r.records / r.cpuSeconds), 10)} ${lpad(fmt(r.closeSeconds, 2), 8)}  ` +
        `${fmt(r.bytes / MB)} MB, ${r.segments} seg, ${int(r.logRecords)} records${extra}`,
    );
  }
}

async function phaseVerify(res: Results): Promise<void> {
  console.log(`\n=== 2. verify: log of ${int(VERIFY_RECORDS)} event records (durability os, default checkpoint cadence) ===`);
  const dir = tempDir('verify');
  try {
    const { log, vkey } = openLogFor(dir, 'os');
    const b0 = performance.now();
    await fillBatched(log, VERIFY_RECORDS);
    log.close();
    const buildSeconds = (performance.now() - b0) / 1000;
    const logRecords = log.size;
    const { bytes, segments } = logSize(dir);
    console.log(
      `log: ${int(logRecords)} records (incl. checkpoints and segment starts), ${fmt(bytes / MB)} MB in ${segments} segments ` +
        `(built in ${fmt(buildSeconds, 1)} s; read back from the page cache)`,
    );
    const runs: VerifyRun[] = [];
    for (let i = 1; i <= VERIFY_RUNS; i++) {
      checkAborted();
      const r = await verifyOnce(dir, vkey);
      runs.push(r);
      console.log(
        `verifyLog run ${i}: ${fmt(r.seconds, 2)} s, ${int(r.records / r.seconds)} records/s, ${fmt(bytes / MB / r.seconds)} MB/s, ` +
          `CPU ${fmt(r.cpuSeconds, 2)} s (${fmt((100 * r.cpuSeconds) / r.seconds, 0)}% of one core, ${int(r.records / r.cpuSeconds)} records per CPU-s); ${r.summary}`,
      );
      if (!r.ok || r.records !== logRecords) res.failures.push(`verify run ${i}: ${r.summary} (expected ${logRecords} records)`);
    }
    res.verify = { records: VERIFY_RECORDS, logRecords, bytes, segments, buildSeconds, runs };
    checkAborted();
    const cli = await verifyCli(dir, vkey);
    res.verify.cliSeconds = cli.seconds;
    res.verify.cliOk = cli.r.code === 0;
    console.log(
      `pgseal verify (CLI, separate process incl. startup): ${fmt(cli.seconds, 2)} s, ${int(logRecords / cli.seconds)} records/s, ` +
        `${fmt(bytes / MB / cli.seconds)} MB/s; exit ${cli.r.code}: ${(cli.r.stdout.trim() || tail(cli.r.stderr, 3)).slice(0, 160)}`,
    );
    if (cli.r.code !== 0) res.failures.push(`pgseal verify CLI exit ${cli.r.code}: ${tail(cli.r.stderr, 5)}`);
  } finally {
    removeTemp(dir);
  }
}

async function phaseProxy(res: Results): Promise<void> {
  console.log(`\n=== 3. proxy: pgbench -n -S -c 8 -j 2 through pgseal, audit on vs off [${ROUNDS} rounds x ${SECONDS} s] ===`);
  pg = await startPostgres({ tls: true, hba: 'scram', settings: { max_connections: '100', shared_buffers: '256MB' } });
  await pg.createRole(ROLE, PASSWORD);
  const mk = await pg.psql(`CREATE DATABASE ${DB} OWNER ${ROLE}`);
  if (mk.code !== 0) throw new Error(`CREATE DATABASE failed: ${mk.stderr}`);
  console.log(`PostgreSQL on 127.0.0.1:${pg.port} (pid ${pg.pid}), TLS + SCRAM; pgbench -i -s ${SCALE} ...`);
  const init = await pgbench(['-i', '-q', '-s', String(SCALE)], clientEnv(pg.port), 600_000);
  if (init.code !== 0) throw new Error(`pgbench -i failed (${init.code ?? init.signal}):\n${init.stderr}`);
  checkAborted();

  let edited = false;
  const on = await startPgseal(pg, { roles: [ROLE] });
  seals.push(on);
  const off = await startPgseal(pg, {
    roles: [ROLE],
    editYaml: (y) => {
      const out = y.replace(/^audit:\n/m, 'audit:\n  enabled: false\n');
      edited = out !== y;
      return out;
    },
  });
  seals.push(off);
  if (!edited) throw new Error('could not insert `enabled: false` into the audit block of the generated pgseal.yaml');
  await sleep(200); // the startup warning may trail the "listening" line
  if (!off.log.some((l) => l.includes('audit.enabled is false'))) {
    throw new Error(`pgseal (audit off) did not log that the audit log is disabled:\n${off.log.slice(-10).join('\n')}`);
  }
  if (on.log.some((l) => l.includes('audit.enabled is false'))) throw new Error('pgseal (audit on) runs with the audit log disabled');
  const seal: Record<Mode, Pgseal> = { on, off };
  const auditDir = (s: Pgseal): string => join(s.dir, 'home', 'audit');
  console.log(`pgseal audit on : 127.0.0.1:${on.port} (pid ${on.proc.pid}), default config (durability os), log under ${auditDir(on)}`);
  console.log(`pgseal audit off: 127.0.0.1:${off.port} (pid ${off.proc.pid}), audit.enabled: false (it logged "audit.enabled is false")`);

  for (const mode of ['on', 'off'] as const) {
    const s = seal[mode];
    const r = await pg.psql('SELECT current_user, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())', {
      user: ROLE, password: PASSWORD, database: DB, port: s.port, sslmode: 'require',
      extraEnv: { PGSSLROOTCERT: clientEnv(0)['PGSSLROOTCERT']! },
    });
    if (r.code !== 0) throw new Error(`smoke (audit ${mode}) failed:\n${r.stderr}\n${s.log.slice(-20).join('\n')}`);
    console.log(`smoke audit ${pad(mode, 3)}: ok (${r.stdout.trim()}; user|upstream-ssl)`);
  }
  if (WARMUP > 0) {
    for (const mode of ['on', 'off'] as const) {
      checkAborted();
      const r = await runSelect8(0, mode, seal[mode], WARMUP);
      console.log(`warm-up audit ${pad(mode, 3)}: ${r.ok ? `${fmt(r.tps, 0)} tps (not counted)` : `FAILED\n${r.error}`}`);
    }
  }

  const runs: ProxyRun[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order: Mode[] = round % 2 === 1 ? ['on', 'off'] : ['off', 'on'];
    console.log(`--- round ${round}/${ROUNDS} (order: ${order.join(', ')}; load ${load()}) ---`);
    for (const mode of order) {
      checkAborted();
      const r = await runSelect8(round, mode, seal[mode], SECONDS);
      runs.push(r);
      if (r.ok) {
        console.log(
          `audit ${pad(mode, 3)}: ${lpad(fmt(r.tps), 9)} tps, ${fmt(r.latencyMs, 3)} ms avg, ${r.transactions} txns, ` +
            `pgseal CPU ${fmt(r.cpuUsPerTxn)} us/txn (${fmt(r.cpuSeconds, 2)} s)`,
        );
      } else {
        console.log(`audit ${pad(mode, 3)}: FAILED\n${r.error}`);
        res.failures.push(`proxy round ${round} audit ${mode}: ${r.error?.split('\n')[0]}`);
      }
    }
  }

  const okRuns = (m: Mode): ProxyRun[] => runs.filter((r) => r.ok && r.mode === m);
  const tps: Partial<Record<Mode, number>> = {};
  const cpu: Partial<Record<Mode, number>> = {};
  const lat: Partial<Record<Mode, number>> = {};
  for (const m of ['on', 'off'] as const) {
    const rs = okRuns(m);
    if (rs.length === 0) continue;
    tps[m] = median(rs.map((r) => r.tps!));
    const c = rs.filter((r) => r.cpuUsPerTxn !== undefined).map((r) => r.cpuUsPerTxn!);
    if (c.length) cpu[m] = median(c);
    const l = rs.filter((r) => r.latencyMs !== undefined).map((r) => r.latencyMs!);
    if (l.length) lat[m] = median(l);
  }
  const ratios: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const a = runs.find((r) => r.round === round && r.mode === 'on' && r.ok)?.tps;
    const b = runs.find((r) => r.round === round && r.mode === 'off' && r.ok)?.tps;
    if (a !== undefined && b !== undefined && b > 0) ratios.push(a / b);
  }
  res.proxy = { runs, tps, cpu, lat, ratios, ratio: median(ratios) };

  console.log(`${pad('audit', 6)} ${lpad('tps (median)', 13)} ${lpad('lat ms (med)', 13)} ${lpad('CPU us/txn', 11)}   tps per round`);
  for (const m of ['on', 'off'] as const) {
    const per = Array.from({ length: ROUNDS }, (_, i) => {
      const r = runs.find((x) => x.round === i + 1 && x.mode === m);
      return r === undefined ? '-' : r.ok ? fmt(r.tps, 0) : 'FAIL';
    });
    console.log(`${pad(m, 6)} ${lpad(fmt(tps[m]), 13)} ${lpad(fmt(lat[m], 3), 13)} ${lpad(fmt(cpu[m]), 11)}   ${per.join(' / ')}`);
  }
  console.log(`ratio on/off (median of per-round ratios): ${fmt(res.proxy.ratio, 3)}   [${ratios.map((x) => x.toFixed(3)).join(', ')}]`);
  if (cpu.on !== undefined && cpu.off !== undefined) {
    console.log(`pgseal CPU per transaction: audit on ${fmt(cpu.on)} us vs off ${fmt(cpu.off)} us (+${fmt(cpu.on - cpu.off)} us for the audit log)`);
  }

  // What the two instances wrote; then stop the audit-on instance and verify its sealed log.
  const offCounts = await auditCounts(auditDir(off));
  res.proxy.auditOffFiles = offCounts.files;
  await on.stop();
  const onCounts = await auditCounts(auditDir(on));
  const types = Object.entries(onCounts.byType).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' ');
  res.proxy.auditOn = `${onCounts.total} records (${types})`;
  console.log(`audit on  log: ${res.proxy.auditOn}`);
  console.log(`audit off log: ${offCounts.files} segment files, ${offCounts.total} records`);
  if (offCounts.total > 0) res.failures.push('pgseal with audit.enabled: false wrote audit records');
  try {
    const key = parseSignerKey(readFileSync(join(on.dir, 'home', 'keys', 'audit.key')));
    const vkey = key.verifier();
    key.erase();
    const v = await verifyOnce(auditDir(on), vkey);
    const { bytes } = logSize(auditDir(on));
    res.proxy.sealedVerify = `${v.summary}; ${fmt(v.seconds, 2)} s, ${int(v.records / v.seconds)} records/s, ${fmt(bytes / MB / v.seconds)} MB/s`;
    console.log(`verifyLog on the audit-on log (after stop): ${res.proxy.sealedVerify}`);
    if (!v.ok) res.failures.push(`audit-on log does not verify: ${v.summary}`);
  } catch (err) {
    res.failures.push(`verifying the audit-on log: ${(err as Error).message}`);
    console.log(`verifying the audit-on log failed: ${(err as Error).message}`);
  }
}

function printSummary(res: Results, loadStart: string, started: number): void {
  const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'NOT MEASURED' : ok ? 'MET' : 'NOT MET');
  console.log('\n=== summary ===');
  console.log(
    `machine: nproc ${availableParallelism()}, ${cpus()[0]?.model ?? '?'}, Linux ${release()}; node ${process.version}; ` +
      `load average start ${loadStart}, end ${load()}`,
  );
  const a = res.append;
  for (const v of ['os-batched', 'os-commit', 'fsync-group'] as const) {
    const r = a[v];
    if (r) {
      console.log(
        `appends ${pad(v, 11)}: ${lpad(int(r.records / r.seconds), 9)} records/s, ${lpad(fmt(r.bytes / MB / r.seconds), 6)} MB/s ` +
          `(CPU ${fmt((100 * r.cpuSeconds) / r.seconds, 0)}% of one core; ${int(r.records / r.cpuSeconds)} records per CPU-s)`,
      );
    }
  }
  if (res.verify) {
    const v = res.verify;
    const secs = median(v.runs.map((r) => r.seconds));
    const cpuSecs = median(v.runs.map((r) => r.cpuSeconds));
    console.log(
      `verify (median of ${v.runs.length}): ${int(v.logRecords / secs)} records/s, ${fmt(v.bytes / MB / secs)} MB/s on ${int(v.logRecords)} records / ${fmt(v.bytes / MB)} MB ` +
        `(${int(v.logRecords / cpuSecs)} records per CPU-s)` +
        (v.cliSeconds !== undefined ? `; CLI ${int(v.logRecords / v.cliSeconds)} records/s` : ''),
    );
  }
  if (res.proxy) {
    const p = res.proxy;
    console.log(
      `proxy -S -c 8: audit on ${fmt(p.tps.on, 0)} tps / ${fmt(p.cpu.on)} us CPU per txn, audit off ${fmt(p.tps.off, 0)} tps / ${fmt(p.cpu.off)} us CPU per txn, ` +
        `on/off ${fmt(p.ratio, 3)} [${p.ratios.map((x) => x.toFixed(3)).join(', ')}]`,
    );
  }

  const osRate = a['os-batched'] ? a['os-batched'].records / a['os-batched'].seconds : undefined;
  console.log(`target: sealed appends, durability os >= ${int(TARGET_APPEND)} records/s: ${int(osRate)} records/s -> ${verdict(osRate === undefined ? undefined : osRate >= TARGET_APPEND)}`);
  let vRate: number | undefined;
  let vOk: boolean | undefined;
  if (res.verify) {
    vRate = res.verify.logRecords / median(res.verify.runs.map((r) => r.seconds));
    vOk = res.verify.logRecords >= TARGET_VERIFY_MIN_LOG && res.verify.runs.every((r) => r.ok) ? vRate >= TARGET_VERIFY : false;
  }
  console.log(
    `target: verify >= ${int(TARGET_VERIFY)} records/s on one core, log >= ${int(TARGET_VERIFY_MIN_LOG)} records: ${int(vRate)} records/s` +
      (res.verify && res.verify.logRecords < TARGET_VERIFY_MIN_LOG ? ' (log too small for the target)' : '') +
      ` -> ${verdict(vOk)}`,
  );
  const pr = res.proxy?.ratio;
  const pOk = pr === undefined || !Number.isFinite(pr) ? (res.proxy ? false : undefined) : pr >= TARGET_PROXY;
  console.log(`target: proxy tps audit on >= ${TARGET_PROXY}x audit off (pgbench -S -c 8): ${fmt(pr, 3)}x -> ${verdict(pOk)}`);
  const busiest = Math.max(Number(loadStart.split(' ')[0]), loadavg()[0]!);
  if (busiest > availableParallelism()) {
    console.log(
      `note: the 1-minute load average (up to ${busiest.toFixed(2)}) exceeded nproc (${availableParallelism()}): other work took CPU from this run, ` +
        'so the wall-clock rates are low; the CPU % and per-CPU-s figures show by how much',
    );
  }
  if (res.failures.length) console.log(`FAILURES (${res.failures.length}):\n  ${res.failures.join('\n  ')}`);
  console.log(`elapsed: ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

async function main(): Promise<number> {
  const started = Date.now();
  const loadStart = load();
  const tmp = tmpdir();
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const sameDisk = statSync(tmp).dev === statSync(repo).dev;
  console.log('pgseal audit benchmark');
  console.log(`machine: ${availableParallelism()} CPU(s) (nproc), ${cpus()[0]?.model ?? '?'}, Linux ${release()}; node ${process.version}`);
  console.log(`load average at start: ${loadStart} (other work on the machine skews every number)`);
  console.log(
    `plan: phases ${[...PHASES].join(',')}; ${int(RECORDS)} records per append variant, verify log ${int(VERIFY_RECORDS)} records x ${VERIFY_RUNS} runs; ` +
      `proxy ${ROUNDS} rounds x ${SECONDS} s, scale ${SCALE}, warm-up ${WARMUP} s; hard bound ${TOTAL_TIMEOUT_S} s`,
  );
  console.log(`temp dirs under ${tmp} (${sameDisk ? 'same filesystem as the repo' : 'NOT the filesystem of the repo'})`);
  if (PHASES.has('proxy')) {
    console.log(`software: ${versionOf(findPgBinary('postgres'), ['--version'])}; ${versionOf(findPgBinary('pgbench'), ['--version'])}`);
  }

  const res: Results = { append: {}, failures: [] };
  try {
    if (PHASES.has('store')) await phaseStore(res);
    if (PHASES.has('verify')) await phaseVerify(res);
    if (PHASES.has('proxy')) await phaseProxy(res);
  } catch (err) {
    if (cleaning) throw err;
    res.failures.push((err as Error).message.split('\n')[0]!);
    console.error(`audit-bench: ${(err as Error).stack ?? String(err)}`);
    for (const s of seals) console.error(`pgseal (port ${s.port}) log tail:\n${s.log.slice(-20).join('\n')}`);
  }
  printSummary(res, loadStart, started);
  return res.failures.length > 0 ? 1 : 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  if (cleaning) console.error('audit-bench: aborted');
  else console.error(`audit-bench: ${(err as Error).stack ?? String(err)}`);
  exitCode = 1;
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
process.exit(exitCode);
