/**
 * Proxy benchmark (not a test): PostgreSQL direct vs PgBouncer vs pgseal, all with TLS.
 *
 *   npm run bench                                   # = npm run build && node dist/bench/proxy-bench.js
 *   BENCH_SECONDS=10 BENCH_ROUNDS=5 npm run bench
 *
 * What it does (see bench/README.md for how to read the output):
 *   1. starts a throw-away PostgreSQL 15 with TLS (test CA) and SCRAM (test/support/postgres.ts),
 *      creates role + database `bench`, runs `pgbench -i -s $BENCH_SCALE` directly against it;
 *   2. starts PgBouncer (Debian package, scripts/install-deps.sh --bench) on a free port:
 *      pool_mode=session, client leg TLS (sslmode=require, self-signed test cert), server leg
 *      TLS verify-full against the PostgreSQL test CA, auth_type=scram-sha-256 with the role's
 *      SCRAM verifier in auth_file (SCRAM pass-through: PgBouncer logs in upstream with the
 *      ClientKey recovered from the client's proof). It runs as the `postgres` user when we
 *      are root (PgBouncer refuses to run as root);
 *   3. starts pgseal (`pgseal init` + `pgseal serve`, test/support/pgseal.ts) with the same
 *      verifier; client leg TLS, upstream TLS verify-full, audit log on (every session,
 *      query and result is recorded);
 *   4. for each round, for each workload, runs pgbench against the three targets in an order
 *      rotated every round (direct, pgbouncer, pgseal; then pgbouncer, pgseal, direct; ...),
 *      with PGSSLMODE=require and SCRAM for all three;
 *   5. prints per workload the median tps and latency per target, the medians of the
 *      per-round ratios pgseal/direct and pgseal/pgbouncer, and each proxy's CPU time per
 *      transaction (utime+stime from /proc/PID/stat, before/after each run).
 *
 * Environment knobs: BENCH_SECONDS (15), BENCH_ROUNDS (3), BENCH_SCALE (10), BENCH_WARMUP
 * (seconds per target before round 1, 5; 0 = none), BENCH_WORKLOADS (comma list of
 * select8,select1,tpcb; default all), BENCH_JSON (write raw results to this file),
 * BENCH_TIMEOUT_S (hard bound on the whole run; default derived from the plan).
 *
 * Everything started here is stopped at exit (also on SIGINT/SIGTERM and on the hard timeout).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, readFileSync, rmSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { findPgBinary, freePort, pgbench, runCommand, startPostgres, tcpProbe, type CommandResult, type PgServer } from '../test/support/postgres.js';
import { removePgseal, startPgseal, type Pgseal } from '../test/support/pgseal.js';
import { clockTicks, cpuTicks, fmt, libpqEnv, lpad, median, pad, stopOnSignalOrTimeout, tail, versionOf } from './bench-util.js';

// ---------------------------------------------------------------------------------------------
// Configuration

function envInt(name: string, def: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`proxy-bench: ${name} must be an integer >= ${min} (got ${JSON.stringify(raw)})`);
    process.exit(2);
  }
  return n;
}

const SECONDS = envInt('BENCH_SECONDS', 15, 1);
const ROUNDS = envInt('BENCH_ROUNDS', 3, 1);
const SCALE = envInt('BENCH_SCALE', 10, 1);
const WARMUP = envInt('BENCH_WARMUP', Math.min(5, SECONDS), 0);
const ROLE = 'bench';
const PASSWORD = 'bench-' + Math.random().toString(36).slice(2, 12);
const DB = 'bench';

type TargetName = 'direct' | 'pgbouncer' | 'pgseal' | 'pgseal-noaudit' | 'node-relay' | 'node-relay-stream';
const ALL_TARGETS: readonly TargetName[] = ['direct', 'pgbouncer', 'pgseal', 'pgseal-noaudit', 'node-relay', 'node-relay-stream'];
/**
 * direct, pgbouncer and pgseal always run; BENCH_EXTRA_TARGETS adds pgseal-noaudit (a second pgseal
 * with audit.enabled false), node-relay (bench/tls-relay.ts: Node's TLS stack alone through
 * pgseal's socket layer, the
 * floor for any proxy built on it), to show where pgseal's cost goes.
 */
const TARGETS: readonly TargetName[] = (() => {
  const extra = (process.env['BENCH_EXTRA_TARGETS'] ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  for (const e of extra) {
    if (!ALL_TARGETS.includes(e as TargetName) || ['direct', 'pgbouncer', 'pgseal'].includes(e)) {
      console.error(`proxy-bench: unknown extra target ${e} in BENCH_EXTRA_TARGETS (known: pgseal-noaudit, node-relay, node-relay-stream)`);
      process.exit(2);
    }
  }
  return ALL_TARGETS.filter((t) => ['direct', 'pgbouncer', 'pgseal'].includes(t) || extra.includes(t));
})();

interface Workload {
  id: string;
  label: string;
  args: string[];
}

const ALL_WORKLOADS: readonly Workload[] = [
  { id: 'select8', label: 'select-only, 8 clients (-S -c 8 -j 2)', args: ['-S', '-n', '-c', '8', '-j', '2'] },
  { id: 'prepared8', label: 'select-only, extended protocol, 8 clients (-S -M prepared -c 8 -j 2)', args: ['-S', '-M', 'prepared', '-n', '-c', '8', '-j', '2'] },
  { id: 'select1', label: 'select-only, 1 client (-S -c 1)', args: ['-S', '-n', '-c', '1', '-j', '1'] },
  { id: 'tpcb', label: 'TPC-B like, 8 clients (-c 8 -j 2)', args: ['-c', '8', '-j', '2'] },
];

const WORKLOADS: Workload[] = (() => {
  const raw = process.env['BENCH_WORKLOADS'];
  if (!raw) return [...ALL_WORKLOADS];
  const ids = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const out: Workload[] = [];
  for (const id of ids) {
    const w = ALL_WORKLOADS.find((x) => x.id === id);
    if (!w) {
      console.error(`proxy-bench: unknown workload ${id} in BENCH_WORKLOADS (known: ${ALL_WORKLOADS.map((x) => x.id).join(', ')})`);
      process.exit(2);
    }
    out.push(w);
  }
  return out;
})();

/** Per pgbench run: duration plus generous room for connecting, TPC-B's vacuum and exit. */
const RUN_TIMEOUT_MS = SECONDS * 1000 + 120_000;
const TOTAL_TIMEOUT_S = envInt(
  'BENCH_TIMEOUT_S',
  // setup (PG, init -s SCALE, proxies) + warm-up + every run with its slack
  600 + SCALE * 10 + TARGETS.length * (WARMUP + 30) + ROUNDS * WORKLOADS.length * TARGETS.length * (SECONDS + 60),
  10,
);

// ---------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));









// ---------------------------------------------------------------------------------------------
// Process bookkeeping

let pg: PgServer | undefined;
let seal: Pgseal | undefined;
let sealNoAudit: Pgseal | undefined;
let relay: { proc: ChildProcess; port: number } | undefined;
let relayStream: { proc: ChildProcess; port: number } | undefined;
let bouncer: { proc: ChildProcess; dir: string; logFile: string; port: number } | undefined;
let cleaning: Promise<void> | undefined;

function killBouncerSync(): void {
  const p = bouncer?.proc;
  if (p && p.exitCode === null && p.signalCode === null && p.pid !== undefined) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    if (bouncer) {
      const p = bouncer.proc;
      if (p.exitCode === null && p.signalCode === null && p.pid !== undefined) {
        // SIGINT = PgBouncer's "safe shutdown" would wait for clients; SIGTERM is immediate.
        try {
          process.kill(p.pid, 'SIGTERM');
        } catch {
          /* gone */
        }
        const exited = await Promise.race([
          new Promise<boolean>((r) => p.once('exit', () => r(true))),
          sleep(5000).then(() => false),
        ]);
        if (!exited) killBouncerSync();
      }
      rmSync(bouncer.dir, { recursive: true, force: true });
    }
    relay?.proc.kill('SIGKILL');
    relayStream?.proc.kill('SIGKILL');
    for (const p of [seal, sealNoAudit]) {
      if (!p) continue;
      try {
        await Promise.race([removePgseal(p), sleep(15_000)]);
      } catch (err) {
        console.error(`proxy-bench: stopping pgseal: ${(err as Error).message}`);
      }
    }
    if (pg) {
      try {
        await pg.stop();
      } catch (err) {
        console.error(`proxy-bench: stopping PostgreSQL: ${(err as Error).message}`);
      }
    }
  })();
  return cleaning;
}

process.on('exit', killBouncerSync);
const watchdog = stopOnSignalOrTimeout('proxy-bench', cleanup, TOTAL_TIMEOUT_S);

// ---------------------------------------------------------------------------------------------
// PgBouncer

function pgbouncerBinary(): string {
  for (const p of [...(process.env['PATH'] ?? '').split(':').filter(Boolean).map((d) => join(d, 'pgbouncer')), '/usr/sbin/pgbouncer']) {
    if (existsSync(p)) return p;
  }
  throw new Error('pgbouncer not found (PATH, /usr/sbin/pgbouncer): run scripts/install-deps.sh --bench');
}

function runAsUser(): { uid?: number; gid?: number; name: string } {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return { name: execFileSync('id', ['-un'], { encoding: 'utf8' }).trim() };
  }
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', timeout: 10_000 }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', timeout: 10_000 }).trim());
  if (!Number.isInteger(uid) || uid === 0) throw new Error('running as root but no usable `postgres` user for PgBouncer');
  return { uid, gid, name: 'postgres' };
}

async function startPgbouncer(server: PgServer, verifier: string): Promise<NonNullable<typeof bouncer>> {
  const bin = pgbouncerBinary();
  const as = runAsUser();
  const dir = await mkdtemp(join(existsSync('/tmp') ? '/tmp' : tmpdir(), 'pgseal-bench-bouncer-'));
  const keyFile = join(dir, 'client.key');
  const certFile = join(dir, 'client.crt');
  const authFile = join(dir, 'userlist.txt');
  const iniFile = join(dir, 'pgbouncer.ini');
  const logFile = join(dir, 'pgbouncer.log');

  // Client-facing certificate: test-only, self-signed ECDSA P-256 (same key type as PG's and pgseal's).
  const ossl = await runCommand('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-sha256',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { timeoutMs: 30_000 });
  if (ossl.code !== 0) throw new Error(`openssl (PgBouncer test cert) failed: ${ossl.stderr}`);

  await writeFile(authFile, `"${ROLE}" "${verifier}"\n`, { mode: 0o600 });

  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const ini = [
      '; generated by bench/proxy-bench.ts (test-only)',
      '[databases]',
      // host=localhost so verify-full checks the PG certificate's DNS:localhost.
      `${DB} = host=localhost port=${server.port} dbname=${DB}`,
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      `logfile = ${logFile}`,
      'pool_mode = session',
      'max_client_conn = 100',
      'default_pool_size = 20',
      'auth_type = scram-sha-256',
      `auth_file = ${authFile}`,
      'client_tls_sslmode = require',
      `client_tls_key_file = ${keyFile}`,
      `client_tls_cert_file = ${certFile}`,
      'server_tls_sslmode = verify-full',
      `server_tls_ca_file = ${server.caFile}`,
      'ignore_startup_parameters = extra_float_digits',
      '',
    ].join('\n');
    await writeFile(iniFile, ini, { mode: 0o600 });
    if (as.uid !== undefined) {
      for (const f of [dir, keyFile, certFile, authFile, iniFile]) await chown(f, as.uid, as.gid!);
    }
    await chmod(keyFile, 0o600);

    const proc = spawn(bin, [iniFile], { cwd: dir, uid: as.uid, gid: as.gid, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    let spawnErr: Error | undefined;
    proc.once('error', (e) => (spawnErr = e));
    bouncer = { proc, dir, logFile, port };

    const deadline = Date.now() + 15_000;
    for (;;) {
      if (spawnErr) throw new Error(`cannot start pgbouncer: ${spawnErr.message}`);
      if (proc.exitCode !== null || proc.signalCode !== null) break;
      if (await tcpProbe(port)) return bouncer;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`pgbouncer not listening within 15 s:\n${out}\n${tail(await readFile(logFile, 'utf8').catch(() => ''), 20)}`);
      }
      await sleep(50);
    }
    const log = out + (await readFile(logFile, 'utf8').catch(() => ''));
    if (/Address already in use/.test(log) && attempt < 4) continue;
    throw new Error(`pgbouncer exited during startup (${proc.exitCode ?? proc.signalCode}):\n${tail(log, 30)}`);
  }
}

async function startNodeRelay(server: PgServer, b: NonNullable<typeof bouncer>, streams: boolean): Promise<NonNullable<typeof relay>> {
  const port = await freePort();
  const script = join(dirname(fileURLToPath(import.meta.url)), 'tls-relay.js');
  const proc = spawn(process.execPath, [script, String(port), String(server.port), join(b.dir, 'client.crt'), join(b.dir, 'client.key'), server.caFile], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: streams ? { ...process.env, PGSEAL_HANDLE_RELAY: '0' } : process.env,
  });
  const deadline = Date.now() + 10_000;
  while (!(await tcpProbe(port))) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error('node-relay did not start');
    await sleep(50);
  }
  return { proc, port };
}

// ---------------------------------------------------------------------------------------------
// pgbench runs

interface RunResult {
  round: number;
  workload: string;
  target: TargetName;
  ok: boolean;
  tps?: number;
  latencyMs?: number;
  transactions?: number;
  failedTransactions?: number;
  /** CPU time of the proxy process during the run, microseconds per transaction. */
  proxyCpuUsPerTxn?: number;
  proxyCpuSeconds?: number;
  error?: string;
}

function targetPort(t: TargetName): number {
  switch (t) {
    case 'direct':
      return pg!.port;
    case 'pgbouncer':
      return bouncer!.port;
    case 'pgseal':
      return seal!.port;
    case 'pgseal-noaudit':
      return sealNoAudit!.port;
    case 'node-relay':
      return relay!.port;
    case 'node-relay-stream':
      return relayStream!.port;
  }
}

function targetPid(t: TargetName): number | undefined {
  switch (t) {
    case 'direct':
      return undefined;
    case 'pgbouncer':
      return bouncer?.proc.pid;
    case 'pgseal':
      return seal?.proc.pid;
    case 'pgseal-noaudit':
      return sealNoAudit?.proc.pid;
    case 'node-relay':
      return relay?.proc.pid;
    case 'node-relay-stream':
      return relayStream?.proc.pid;
  }
}

function targetAlive(t: TargetName): boolean {
  if (t === 'direct') return true;
  const p = { pgbouncer: bouncer?.proc, pgseal: seal?.proc, 'pgseal-noaudit': sealNoAudit?.proc, 'node-relay': relay?.proc, 'node-relay-stream': relayStream?.proc }[t];
  return p !== undefined && p.exitCode === null && p.signalCode === null;
}

function clientEnv(port: number): Record<string, string> {
  const env = libpqEnv(port, ROLE, DB, PASSWORD);
  // The bare relay passes SCRAM through as bytes: channel binding would bind to the wrong certificate.
  if ((relay && port === relay.port) || (relayStream && port === relayStream.port)) env['PGCHANNELBINDING'] = 'disable';
  return env;
}

function parsePgbench(stdout: string): { tps?: number; latencyMs?: number; transactions?: number; failed?: number } {
  const num = (re: RegExp): number | undefined => {
    const m = re.exec(stdout);
    return m ? Number(m[1]) : undefined;
  };
  return {
    tps: num(/^tps = ([\d.]+) \(without initial connection time\)/m),
    latencyMs: num(/^latency average = ([\d.]+) ms/m),
    transactions: num(/^number of transactions actually processed: (\d+)/m),
    failed: num(/^number of failed transactions: (\d+)/m),
  };
}

async function runPgbench(target: TargetName, args: string[], seconds: number): Promise<{ r: CommandResult; ticks?: number }> {
  const pid = targetPid(target);
  const before = cpuTicks(pid);
  const r = await pgbench([...args, '-T', String(seconds)], clientEnv(targetPort(target)), RUN_TIMEOUT_MS);
  const after = cpuTicks(pid);
  const ticks = before !== undefined && after !== undefined ? after - before : undefined;
  return ticks === undefined ? { r } : { r, ticks };
}

function diagnose(target: TargetName, r: CommandResult): string {
  const parts = [
    `pgbench exit ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''}`,
    tail(r.stderr, 15) || tail(r.stdout, 15),
  ];
  if (target === 'pgseal' && seal) {
    parts.push(`pgseal alive: ${targetAlive('pgseal')}; last pgseal log lines:\n${seal.log.slice(-20).join('\n')}`);
  }
  if (target === 'pgbouncer' && bouncer) {
    try {
      parts.push(`pgbouncer alive: ${targetAlive('pgbouncer')}; last log lines:\n${tail(readFileSync(bouncer.logFile, 'utf8'), 20)}`);
    } catch {
      /* no log */
    }
  }
  return parts.join('\n');
}

async function measure(round: number, w: Workload, target: TargetName): Promise<RunResult> {
  const base = { round, workload: w.id, target };
  if (!targetAlive(target)) return { ...base, ok: false, error: `${target} is not running` };
  const { r, ticks } = await runPgbench(target, w.args, SECONDS);
  const p = parsePgbench(r.stdout);
  if (r.code !== 0 || p.tps === undefined) {
    return { ...base, ok: false, error: diagnose(target, r) };
  }
  const transactions = p.transactions ?? Math.round(p.tps * SECONDS);
  const res: RunResult = { ...base, ok: true, tps: p.tps, transactions };
  if (p.latencyMs !== undefined) res.latencyMs = p.latencyMs;
  if (p.failed !== undefined) res.failedTransactions = p.failed;
  if (ticks !== undefined && transactions > 0) {
    res.proxyCpuSeconds = ticks / clockTicks();
    res.proxyCpuUsPerTxn = (ticks * 1e6) / clockTicks() / transactions;
  }
  return res;
}

// ---------------------------------------------------------------------------------------------
// Reporting

interface WorkloadSummary {
  id: string;
  label: string;
  tps: Partial<Record<TargetName, number>>;
  latencyMs: Partial<Record<TargetName, number>>;
  cpuUsPerTxn: Partial<Record<TargetName, number>>;
  ratioVsDirect: number;
  ratioVsBouncer: number;
  perRoundVsDirect: number[];
  perRoundVsBouncer: number[];
  failures: number;
}

function summarize(w: Workload, results: RunResult[]): WorkloadSummary {
  const mine = results.filter((r) => r.workload === w.id);
  const ok = (t: TargetName): RunResult[] => mine.filter((r) => r.target === t && r.ok);
  const s: WorkloadSummary = {
    id: w.id,
    label: w.label,
    tps: {},
    latencyMs: {},
    cpuUsPerTxn: {},
    ratioVsDirect: Number.NaN,
    ratioVsBouncer: Number.NaN,
    perRoundVsDirect: [],
    perRoundVsBouncer: [],
    failures: mine.filter((r) => !r.ok).length,
  };
  for (const t of TARGETS) {
    const rs = ok(t);
    if (rs.length === 0) continue;
    s.tps[t] = median(rs.map((r) => r.tps!));
    const lat = rs.filter((r) => r.latencyMs !== undefined).map((r) => r.latencyMs!);
    if (lat.length) s.latencyMs[t] = median(lat);
    const cpu = rs.filter((r) => r.proxyCpuUsPerTxn !== undefined).map((r) => r.proxyCpuUsPerTxn!);
    if (cpu.length) s.cpuUsPerTxn[t] = median(cpu);
  }
  for (let round = 1; round <= ROUNDS; round++) {
    const get = (t: TargetName): number | undefined => mine.find((r) => r.round === round && r.target === t && r.ok)?.tps;
    const sealTps = get('pgseal');
    const d = get('direct');
    const b = get('pgbouncer');
    if (sealTps !== undefined && d !== undefined && d > 0) s.perRoundVsDirect.push(sealTps / d);
    if (sealTps !== undefined && b !== undefined && b > 0) s.perRoundVsBouncer.push(sealTps / b);
  }
  s.ratioVsDirect = median(s.perRoundVsDirect);
  s.ratioVsBouncer = median(s.perRoundVsBouncer);
  return s;
}

function printTable(w: Workload, s: WorkloadSummary, results: RunResult[]): void {
  console.log(`\n=== ${w.label}  [${ROUNDS} rounds x ${SECONDS} s] ===`);
  console.log(
    `${pad('target', 17)} ${lpad('tps (median)', 13)} ${lpad('lat ms (med)', 13)} ${lpad('CPU us/txn', 11)}   tps per round`,
  );
  for (const t of TARGETS) {
    const perRound: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const r = results.find((x) => x.workload === w.id && x.target === t && x.round === round);
      perRound.push(r === undefined ? '-' : r.ok ? fmt(r.tps, 0) : 'FAIL');
    }
    console.log(
      `${pad(t, 17)} ${lpad(fmt(s.tps[t]), 13)} ${lpad(fmt(s.latencyMs[t], 3), 13)} ${lpad(t === 'direct' ? 'n/a' : fmt(s.cpuUsPerTxn[t]), 11)}   ${perRound.join(' / ')}`,
    );
  }
  const list = (xs: number[]): string => xs.map((x) => x.toFixed(3)).join(', ');
  console.log(`ratio pgseal/direct    (median of per-round ratios): ${fmt(s.ratioVsDirect, 3)}   [${list(s.perRoundVsDirect)}]`);
  console.log(`ratio pgseal/pgbouncer (median of per-round ratios): ${fmt(s.ratioVsBouncer, 3)}   [${list(s.perRoundVsBouncer)}]`);
  // Extra targets: the same per-round ratio, medians, to split pgseal's cost.
  const ratio = (a: TargetName, b: TargetName): number[] => {
    const out: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const x = results.find((r) => r.workload === w.id && r.target === a && r.round === round && r.ok)?.tps;
      const y = results.find((r) => r.workload === w.id && r.target === b && r.round === round && r.ok)?.tps;
      if (x !== undefined && y !== undefined && y > 0) out.push(x / y);
    }
    return out;
  };
  const extra: Array<[TargetName, TargetName, string]> = [
    ['pgseal', 'pgseal-noaudit', 'ratio pgseal/pgseal-noaudit (audit on/off)'],
    ['pgseal-noaudit', 'pgbouncer', 'ratio pgseal-noaudit/pgbouncer'],
    ['node-relay', 'pgbouncer', 'ratio node-relay/pgbouncer (Node TLS floor)'],
    ['node-relay-stream', 'pgbouncer', 'ratio node-relay-stream/pgbouncer'],
    ['pgseal', 'node-relay', 'ratio pgseal/node-relay'],
  ];
  for (const [a, b, label] of extra) {
    if (!TARGETS.includes(a) || !TARGETS.includes(b)) continue;
    const rs = ratio(a, b);
    if (rs.length > 0) console.log(`${pad(label, 44)}: ${fmt(median(rs), 3)}   [${list(rs)}]`);
  }
  const cpuB = s.cpuUsPerTxn.pgbouncer;
  const cpuS = s.cpuUsPerTxn.pgseal;
  if (cpuB !== undefined && cpuS !== undefined && cpuB > 0) {
    console.log(`proxy CPU per transaction: pgseal ${fmt(cpuS)} us vs pgbouncer ${fmt(cpuB)} us (${fmt(cpuS / cpuB, 2)}x)`);
  }
  if (s.failures > 0) console.log(`FAILED runs: ${s.failures} (details above)`);
}

/** Counts audit records by type, streaming (the log can be hundreds of MB). */
async function auditCounts(): Promise<{ total: number; byType: Record<string, number> } | undefined> {
  if (!seal) return undefined;
  const dir = join(seal.dir, 'home', 'audit');
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.jsonl')).sort();
  } catch {
    return undefined;
  }
  const byType: Record<string, number> = {};
  let total = 0;
  for (const f of files) {
    const rl = createInterface({ input: createReadStream(join(dir, f)), crlfDelay: Infinity });
    for await (const line of rl) {
      if (!line || line.charCodeAt(0) === 0) continue; // the open segment's reserved zero tail
      total++;
      const m = /"type":"([^"]+)"/.exec(line);
      const t = m ? m[1]! : '?';
      byType[t] = (byType[t] ?? 0) + 1;
    }
  }
  return { total, byType };
}


// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const started = Date.now();
  const bouncerBin = pgbouncerBinary();
  console.log('pgseal proxy benchmark');
  console.log(
    `machine: ${availableParallelism()} CPU(s) (nproc), ${cpus()[0]?.model ?? '?'}, Linux ${release()}; node ${process.version}`,
  );
  console.log(
    `software: ${versionOf(findPgBinary('postgres'), ['--version'])}; ${versionOf(findPgBinary('pgbench'), ['--version'])}; ${versionOf(bouncerBin, ['--version'])}`,
  );
  console.log(
    `note: pgbench, PostgreSQL, PgBouncer and pgseal all run on this machine and share the same ${availableParallelism()} core(s) (no pinning); ` +
      'every number includes that contention.',
  );
  console.log(
    `plan: ${ROUNDS} rounds x ${WORKLOADS.length} workloads x ${TARGETS.length} targets, ${SECONDS} s each, scale ${SCALE}, warm-up ${WARMUP} s per target; ` +
      `CLK_TCK ${clockTicks()}; hard bound ${TOTAL_TIMEOUT_S} s`,
  );
  console.log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (other work on the machine skews every number)`);
  console.log('all clients: PGSSLMODE=require, SCRAM-SHA-256 as role bench; both proxies: TLS on both legs, upstream verify-full');

  pg = await startPostgres({ tls: true, hba: 'scram', settings: { max_connections: '100', shared_buffers: '256MB' } });
  await pg.createRole(ROLE, PASSWORD);
  const mk = await pg.psql(`CREATE DATABASE ${DB} OWNER ${ROLE}`);
  if (mk.code !== 0) throw new Error(`CREATE DATABASE failed: ${mk.stderr}`);
  const verifier = await pg.scramVerifier(ROLE);
  console.log(`\nPostgreSQL on 127.0.0.1:${pg.port} (pid ${pg.pid}); pgbench -i -s ${SCALE} ...`);
  const init = await pgbench(['-i', '-q', '-s', String(SCALE)], clientEnv(pg.port), 600_000);
  if (init.code !== 0) throw new Error(`pgbench -i failed (${init.code ?? init.signal}):\n${init.stderr}`);

  bouncer = await startPgbouncer(pg, verifier);
  console.log(`PgBouncer on 127.0.0.1:${bouncer.port} (pid ${bouncer.proc.pid}, user ${runAsUser().name})`);
  seal = await startPgseal(pg, { roles: [ROLE] });
  console.log(`pgseal on 127.0.0.1:${seal.port} (pid ${seal.proc.pid}), audit log under ${join(seal.dir, 'home', 'audit')}`);
  if (TARGETS.includes('pgseal-noaudit')) {
    sealNoAudit = await startPgseal(pg, { roles: [ROLE], editYaml: (y) => y.replace(/^audit:\n/m, 'audit:\n  enabled: false\n') });
    console.log(`pgseal-noaudit on 127.0.0.1:${sealNoAudit.port} (pid ${sealNoAudit.proc.pid}), audit.enabled false`);
  }
  if (TARGETS.includes('node-relay')) {
    relay = await startNodeRelay(pg, bouncer, false);
    console.log(`node-relay on 127.0.0.1:${relay.port} (pid ${relay.proc.pid}): bench/tls-relay.ts, no parsing, no audit, native stream handles`);
  }
  if (TARGETS.includes('node-relay-stream')) {
    relayStream = await startNodeRelay(pg, bouncer, true);
    console.log(`node-relay-stream on 127.0.0.1:${relayStream.port} (pid ${relayStream.proc.pid}): the same with Node's Readable/Writable streams`);
  }

  // Smoke: one connection per target, so a broken target is reported before the long runs.
  const dead = new Set<TargetName>();
  for (const t of TARGETS) {
    const r = await pg.psql('SELECT current_user, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())', {
      user: ROLE, password: PASSWORD, database: DB, port: targetPort(t), sslmode: 'require',
      // No root certificate: with one present, libpq's sslmode=require would verify the chain.
      extraEnv: { PGSSLROOTCERT: clientEnv(0)['PGSSLROOTCERT']!, ...(t.startsWith('node-relay') ? { PGCHANNELBINDING: 'disable' } : {}) },
    });
    if (r.code !== 0) {
      console.log(`smoke ${t}: FAILED\n${diagnose(t, r)}`);
      dead.add(t);
    } else {
      console.log(`smoke ${t}: ok (${r.stdout.trim()}; user|upstream-ssl)`);
    }
  }

  if (WARMUP > 0) {
    for (const t of TARGETS) {
      if (dead.has(t)) continue;
      const { r } = await runPgbench(t, ALL_WORKLOADS[0]!.args, WARMUP);
      const p = parsePgbench(r.stdout);
      console.log(`warm-up ${pad(t, 17)}: ${r.code === 0 ? `${fmt(p.tps, 0)} tps (not counted)` : 'FAILED'}`);
      if (r.code !== 0) console.log(diagnose(t, r));
    }
  }

  const results: RunResult[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = TARGETS.map((_, i) => TARGETS[(i + round - 1) % TARGETS.length]!);
    console.log(`\n--- round ${round}/${ROUNDS} (order: ${order.join(', ')}) ---`);
    for (const w of WORKLOADS) {
      for (const t of order) {
        if (cleaning) throw new Error('aborted');
        let r: RunResult;
        if (dead.has(t)) {
          r = { round, workload: w.id, target: t, ok: false, error: 'skipped: target failed earlier' };
        } else {
          r = await measure(round, w, t);
        }
        results.push(r);
        if (r.ok) {
          const cpu = r.proxyCpuUsPerTxn !== undefined ? `, proxy CPU ${fmt(r.proxyCpuUsPerTxn)} us/txn (${fmt(r.proxyCpuSeconds, 2)} s)` : '';
          const failed = r.failedTransactions ? `, ${r.failedTransactions} failed txns` : '';
          console.log(`${pad(w.id, 8)} ${pad(t, 17)}: ${lpad(fmt(r.tps), 9)} tps, ${fmt(r.latencyMs, 3)} ms avg, ${r.transactions} txns${cpu}${failed}`);
        } else {
          console.log(`${pad(w.id, 8)} ${pad(t, 17)}: FAILED\n${r.error}`);
          if (!targetAlive(t)) dead.add(t);
        }
      }
    }
  }

  const summaries = WORKLOADS.map((w) => summarize(w, results));
  WORKLOADS.forEach((w, i) => printTable(w, summaries[i]!, results));

  const audit = await auditCounts();
  if (audit) {
    const types = Object.entries(audit.byType).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' ');
    console.log(`\npgseal audit log: ${audit.total} records (${types})`);
  }

  console.log('\n=== summary (medians) ===');
  for (const s of summaries) {
    console.log(
      `${pad(s.id, 8)}: direct ${fmt(s.tps.direct, 0)} tps / ${fmt(s.latencyMs.direct, 3)} ms | ` +
        `pgbouncer ${fmt(s.tps.pgbouncer, 0)} tps / ${fmt(s.latencyMs.pgbouncer, 3)} ms / ${fmt(s.cpuUsPerTxn.pgbouncer)} us CPU per txn | ` +
        `pgseal ${fmt(s.tps.pgseal, 0)} tps / ${fmt(s.latencyMs.pgseal, 3)} ms / ${fmt(s.cpuUsPerTxn.pgseal)} us CPU per txn | ` +
        `pgseal/direct ${fmt(s.ratioVsDirect, 3)}, pgseal/pgbouncer ${fmt(s.ratioVsBouncer, 3)}` +
        (s.failures ? ` | ${s.failures} FAILED runs` : ''),
    );
  }
  const sel8 = summaries.find((s) => s.id === 'select8');
  if (sel8) {
    const sessions = audit?.byType['session.start'] ?? 0;
    const met = Number.isFinite(sel8.ratioVsBouncer) && sel8.ratioVsBouncer >= 0.75 && sessions > 0;
    console.log(
      `target: pgseal >= 0.75x PgBouncer on -S -c 8 with session events recorded: ` +
        `${fmt(sel8.ratioVsBouncer, 3)}x, ${sessions} session.start records -> ${met ? 'MET' : 'NOT MET'}`,
    );
  }
  console.log(`load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`elapsed: ${((Date.now() - started) / 1000).toFixed(0)} s`);

  const jsonOut = process.env['BENCH_JSON'];
  if (jsonOut) {
    await writeFile(
      jsonOut,
      JSON.stringify({ seconds: SECONDS, rounds: ROUNDS, scale: SCALE, nproc: availableParallelism(), node: process.version, results, summaries, audit }, null, 2) + '\n',
    );
    console.log(`raw results written to ${jsonOut}`);
  }
  return results.some((r) => !r.ok) ? 1 : 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  if (cleaning) console.error('proxy-bench: aborted');
  else console.error(`proxy-bench: ${(err as Error).stack ?? String(err)}`);
  if (bouncer) {
    try {
      console.error(`pgbouncer log tail:\n${tail(readFileSync(bouncer.logFile, 'utf8'), 20)}`);
    } catch {
      /* none */
    }
  }
  if (seal) console.error(`pgseal log tail:\n${seal.log.slice(-20).join('\n')}`);
  exitCode = 1;
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
process.exit(exitCode);
