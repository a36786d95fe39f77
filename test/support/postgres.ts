/**
 * Test harness: start a real, throw-away PostgreSQL server (Debian packages, PG 15 here).
 *
 * Layout of one server (all inside one mkdtemp directory, removed by stop()):
 *   <baseDir>/data/          initdb data directory (PgServer.dataDir)
 *   <baseDir>/tls/           test-only CA + server certificate (openssl CLI), client certs
 *   <baseDir>/postgres.log   the postmaster's stderr (server log)
 *   <baseDir>/.s.PGSQL.<port> unix socket (superuser bootstrap/admin, `local all all trust`)
 *
 * Privileges: initdb refuses to run as root. When process.getuid() === 0 the harness runs
 * initdb and postgres as the `postgres` system user (spawn with uid/gid) and chowns the whole
 * temp dir to it; otherwise everything runs as the current user. openssl runs as the caller.
 *
 * pg_hba modes (first matching line wins):
 *   scram  local all all trust | hostssl all all 127.0.0.1/32 scram-sha-256 (tls only)
 *                              | host    all all 127.0.0.1/32 scram-sha-256
 *   cert   local all all trust | hostssl all postgres 127.0.0.1/32 scram-sha-256
 *          (requires tls)      | hostssl all all      127.0.0.1/32 cert
 *          i.e. the superuser keeps password login over TLS so `psql()` with its defaults
 *          still works; every other role must present a client certificate signed by caFile
 *          whose CN equals the role name (see PgServer.clientCert()). Plain TCP is refused.
 *   trust  local all all trust | host all all 127.0.0.1/32 trust (matches TLS and plain)
 *
 * No fixed ports: the server listens on 127.0.0.1:<free port> only (nothing assumes 5432).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync, openSync, closeSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm, writeFile, mkdir, lstat, readdir } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

// ---------------------------------------------------------------------------------------------
// Types

export type HbaMode = 'scram' | 'cert' | 'trust';

export interface StartPostgresOptions {
  /** ssl=on with a test CA-signed server certificate. Default true. */
  tls?: boolean;
  /** pg_hba.conf flavour, see the file header. Default 'scram'. */
  hba?: HbaMode;
  /**
   * Extra postgresql.conf settings, written after the harness defaults (so they win), e.g.
   * `{ max_connections: '200', log_connections: 'on' }`. Values are single-quoted for you.
   * port, listen_addresses and unix_socket_directories are set on the command line and
   * cannot be overridden here.
   */
  settings?: Record<string, string>;
  /** Max time to wait for readiness. Default 30 000 ms. */
  startTimeoutMs?: number;
}

export interface CommandResult {
  /** Exit code, or null when the process was killed by a signal (e.g. the hard timeout). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunCommandOptions {
  /** The COMPLETE environment of the child (not merged). Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, then stdin is closed. Without it stdin is closed immediately. */
  input?: string | Buffer;
  /** Hard timeout: the child's process group is SIGKILLed. Default 60 000 ms. */
  timeoutMs?: number;
  cwd?: string;
  uid?: number;
  gid?: number;
}

export interface PsqlOptions {
  /** Default 'postgres' (the superuser). */
  user?: string;
  /** Default: superPassword when user is the superuser, otherwise none (psql runs with -w). */
  password?: string;
  /** Default 'postgres'. */
  database?: string;
  /** Default: the server's port. */
  port?: number;
  /** Default '127.0.0.1'. A directory path means the unix socket. */
  host?: string;
  /** PGHOSTADDR: connect here while verifying the certificate against `host`. */
  hostaddr?: string;
  /** Default 'require' when the server has TLS, else 'disable'. */
  sslmode?: 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
  /** Extra environment (PGSSLCERT, PGSSLKEY, PGCHANNELBINDING, ...); wins over the defaults. */
  extraEnv?: Record<string, string>;
  /** Default 30 000 ms. */
  timeoutMs?: number;
}

export interface ClientCert {
  certFile: string;
  keyFile: string;
}

export interface PgServer {
  host: '127.0.0.1';
  port: number;
  /** The initdb data directory (inside baseDir). */
  dataDir: string;
  /** The mkdtemp directory holding everything; removed by stop(). */
  baseDir: string;
  /** Unix socket directory (= baseDir). */
  socketDir: string;
  logFile: string;
  pid: number;
  tls: boolean;
  hba: HbaMode;
  /** PEM file of the CA that signed the server certificate (always generated, even with tls=false). */
  caFile: string;
  caKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  superuser: 'postgres';
  superPassword: string;
  /** Idempotent. SIGINT (fast shutdown), SIGKILL after a timeout, then removes baseDir. */
  stop(): Promise<void>;
  /** Runs the real psql client; never throws on a non-zero exit. */
  psql(sql: string, opts?: PsqlOptions): Promise<CommandResult>;
  /** CREATE ROLE name LOGIN PASSWORD password (hashed by the server as SCRAM-SHA-256). */
  createRole(name: string, password: string, opts?: { superuser?: boolean }): Promise<void>;
  /** rolpassword from pg_authid, e.g. 'SCRAM-SHA-256$4096:...'. Throws if the role has none. */
  scramVerifier(role: string): Promise<string>;
  /** Issues a client certificate (CN = cn) signed by caFile, for hba 'cert' / mTLS tests. */
  clientCert(cn: string): Promise<ClientCert>;
  /** Last `maxBytes` of the server log (for assertion messages). */
  logTail(maxBytes?: number): Promise<string>;
}

// ---------------------------------------------------------------------------------------------
// Process bookkeeping: nothing started here may outlive the test process.

const livePostmasters = new Map<number, { baseDir: string }>();
const liveCommands = new Set<number>(); // process-group ids of runCommand children
let hooksInstalled = false;

function killEverythingSync(): void {
  for (const pgid of liveCommands) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  liveCommands.clear();
  for (const [pid, { baseDir }] of livePostmasters) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    try {
      rmSync(baseDir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  livePostmasters.clear();
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killEverythingSync);
  // A signal's default action skips 'exit' handlers (node --test SIGTERMs a file that times
  // out): clean up, then, unless someone else handles the signal, re-raise it so the default
  // action (terminate) still happens.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killEverythingSync();
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** A port that was free on 127.0.0.1 a moment ago (listen on :0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('freePort: unexpected address'));
        return;
      }
      srv.close((err) => (err ? reject(err) : resolve(addr.port)));
    });
  });
}

const MAX_OUTPUT = 32 * 1024 * 1024;

/**
 * Runs a command to completion and collects its output. Never throws for a non-zero exit;
 * rejects only if the command cannot be spawned. The child gets its own process group so
 * the hard timeout (and the exit hook) kill any grandchildren too.
 */
export function runCommand(cmd: string, args: readonly string[], opts: RunCommandOptions = {}): Promise<CommandResult> {
  installExitHooks();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, {
        env: opts.env ?? process.env,
        cwd: opts.cwd,
        uid: opts.uid,
        gid: opts.gid,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      });
    } catch (err) {
      reject(err);
      return;
    }
    const out: Buffer[] = [];
    const errOut: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    const pid = child.pid;
    if (pid !== undefined) liveCommands.add(pid);
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }
    }, timeoutMs);
    child.stdout!.on('data', (b: Buffer) => {
      if (outLen < MAX_OUTPUT) out.push(b);
      outLen += b.length;
    });
    child.stderr!.on('data', (b: Buffer) => {
      if (errLen < MAX_OUTPUT) errOut.push(b);
      errLen += b.length;
    });
    child.stdin!.on('error', () => {
      /* EPIPE when the child does not read its input */
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      if (pid !== undefined) liveCommands.delete(pid);
      reject(new Error(`runCommand: cannot run ${cmd}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (pid !== undefined) liveCommands.delete(pid);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(errOut).toString('utf8'),
        timedOut,
      });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

function versionKey(dirName: string): number[] {
  return dirName.split('.').map((p) => Number.parseInt(p, 10) || 0);
}

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

let cachedBindir: string | undefined;

/**
 * The PostgreSQL server bindir: $PGSEAL_PG_BINDIR, else `pg_config --bindir` if it holds
 * initdb, else the highest /usr/lib/postgresql/<version>/bin with initdb. Debian does not put
 * these on PATH.
 */
export function pgBindir(): string {
  if (cachedBindir !== undefined) return cachedBindir;
  const candidates: string[] = [];
  const fromEnv = process.env['PGSEAL_PG_BINDIR'];
  if (fromEnv) candidates.push(fromEnv);
  try {
    const out = execFileSync('pg_config', ['--bindir'], {
      encoding: 'utf8',
      timeout: 10_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    if (out) candidates.push(out);
  } catch {
    /* no pg_config */
  }
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+(\.\d+)*$/.test(v))
      .sort((a, b) => compareVersions(versionKey(b), versionKey(a)));
    for (const v of versions) candidates.push(join(root, v, 'bin'));
  }
  const found = candidates.find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'postgres')));
  if (found === undefined) {
    throw new Error(
      'PostgreSQL server binaries not found (looked at $PGSEAL_PG_BINDIR, pg_config --bindir, ' +
        '/usr/lib/postgresql/*/bin). Run scripts/install-deps.sh.',
    );
  }
  cachedBindir = found;
  return found;
}

/**
 * Absolute path of a PostgreSQL program: from pgBindir() if present there (avoids Debian's
 * pg_wrapper in /usr/bin), else from PATH / /usr/bin.
 */
export function findPgBinary(name: string): string {
  try {
    const p = join(pgBindir(), name);
    if (existsSync(p)) return p;
  } catch (err) {
    // Clients such as psql may exist without the server packages.
    if (name === 'initdb' || name === 'postgres') throw err;
  }
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), '/usr/bin'];
  for (const d of dirs) {
    const p = join(d, name);
    if (existsSync(p)) return p;
  }
  throw new Error(`PostgreSQL program ${name} not found; run scripts/install-deps.sh`);
}

/** process.env without PG* / locale variables, plus LC_ALL=C (English messages, no surprises). */
function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('PG') || k.startsWith('LC_') || k === 'LANG' || k === 'LANGUAGE') continue;
    env[k] = v;
  }
  env['LC_ALL'] = 'C';
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Thin pgbench wrapper (binary from the server bindir); env is merged over a clean env. */
export function pgbench(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 600_000): Promise<CommandResult> {
  return runCommand(findPgBinary('pgbench'), args, { env: cleanEnv(env), timeoutMs });
}

interface RunAs {
  uid?: number;
  gid?: number;
}

function postgresUser(): RunAs {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', timeout: 10_000 }).trim());
    gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', timeout: 10_000 }).trim());
  } catch {
    throw new Error('running as root but there is no `postgres` system user (initdb refuses root); install the postgresql package');
  }
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) {
    throw new Error(`unusable postgres user (uid=${uid}, gid=${gid})`);
  }
  return { uid, gid };
}

/** mkdtemp somewhere the postgres user can reach (os.tmpdir() may be under /root). */
async function makeBaseDir(runAs: RunAs): Promise<string> {
  let parent = tmpdir();
  if (runAs.uid !== undefined && !(await traversableByOthers(parent))) parent = '/tmp';
  const dir = await mkdtemp(join(parent, 'pgseal-pg-'));
  // The unix socket path (dir + '/.s.PGSQL.65535') must fit in sun_path (107 bytes).
  if (dir.length + 16 > 100) {
    await rm(dir, { recursive: true, force: true });
    return mkdtemp('/tmp/pgseal-pg-');
  }
  return dir;
}

async function traversableByOthers(dir: string): Promise<boolean> {
  let d = dir;
  for (;;) {
    try {
      const st = await lstat(d);
      if (!st.isSymbolicLink() && (st.mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    const parent = join(d, '..');
    if (parent === d) return true;
    d = parent;
  }
}

async function chownTree(path: string, runAs: RunAs): Promise<void> {
  if (runAs.uid === undefined || runAs.gid === undefined) return;
  await chown(path, runAs.uid, runAs.gid);
  const st = await lstat(path);
  if (st.isDirectory()) {
    for (const e of await readdir(path)) await chownTree(join(path, e), runAs);
  }
}

function confQuote(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** SQL string literal (standard_conforming_strings = on). */
export function quoteLiteral(s: string): string {
  if (s.includes('\0')) throw new Error('NUL in SQL literal');
  return `'${s.replace(/'/g, "''")}'`;
}

/** SQL identifier. */
export function quoteIdent(s: string): string {
  if (s.includes('\0')) throw new Error('NUL in SQL identifier');
  return `"${s.replace(/"/g, '""')}"`;
}

// ---------------------------------------------------------------------------------------------
// TLS material (openssl CLI, test-only)

const OPENSSL_CNF = `# pgseal test PKI (generated by test/support/postgres.ts)
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
[v3_client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
`;

async function openssl(tlsDir: string, args: string[]): Promise<void> {
  const env = cleanEnv({ OPENSSL_CONF: join(tlsDir, 'openssl.cnf') });
  const r = await runCommand('openssl', args, { env, timeoutMs: 30_000, cwd: tlsDir });
  if (r.code !== 0) {
    throw new Error(`openssl ${args.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr}`);
  }
}

function serialArg(): string {
  // Positive 63-bit serial.
  const b = randomBytes(8);
  b[0] = b[0]! & 0x7f;
  return '0x' + b.toString('hex');
}

async function genKey(tlsDir: string, keyFile: string): Promise<void> {
  await openssl(tlsDir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile]);
  await chmod(keyFile, 0o600);
}

/** Leaf certificate signed by the CA (ECDSA P-256 / SHA-256: channel binding needs a hash). */
async function issueLeaf(tlsDir: string, name: string, cn: string, ext: 'v3_server' | 'v3_client'): Promise<ClientCert> {
  const keyFile = join(tlsDir, `${name}.key`);
  const csrFile = join(tlsDir, `${name}.csr`);
  const certFile = join(tlsDir, `${name}.crt`);
  await genKey(tlsDir, keyFile);
  await openssl(tlsDir, ['req', '-new', '-key', keyFile, '-subj', `/CN=${cn.replace(/[/\\=+,]/g, '\\$&')}`, '-out', csrFile]);
  await openssl(tlsDir, [
    'x509', '-req', '-in', csrFile,
    '-CA', join(tlsDir, 'ca.crt'), '-CAkey', join(tlsDir, 'ca.key'),
    '-set_serial', serialArg(), '-days', '7', '-sha256',
    '-extfile', join(tlsDir, 'openssl.cnf'), '-extensions', ext,
    '-out', certFile,
  ]);
  await rm(csrFile, { force: true });
  return { certFile, keyFile };
}

async function makePki(tlsDir: string): Promise<{ caFile: string; caKeyFile: string; serverCertFile: string; serverKeyFile: string }> {
  await mkdir(tlsDir, { mode: 0o700 });
  await writeFile(join(tlsDir, 'openssl.cnf'), OPENSSL_CNF);
  const caKeyFile = join(tlsDir, 'ca.key');
  const caFile = join(tlsDir, 'ca.crt');
  await genKey(tlsDir, caKeyFile);
  await openssl(tlsDir, [
    'req', '-new', '-x509', '-key', caKeyFile, '-subj', '/CN=pgseal test CA',
    '-set_serial', serialArg(), '-days', '7', '-sha256', '-extensions', 'v3_ca', '-out', caFile,
  ]);
  const server = await issueLeaf(tlsDir, 'server', 'localhost', 'v3_server');
  return { caFile, caKeyFile, serverCertFile: server.certFile, serverKeyFile: server.keyFile };
}

// ---------------------------------------------------------------------------------------------
// Server lifecycle

function hbaConf(hba: HbaMode, tls: boolean): string {
  const lines = ['# generated by test/support/postgres.ts', 'local all all trust'];
  switch (hba) {
    case 'scram':
      if (tls) lines.push('hostssl all all 127.0.0.1/32 scram-sha-256');
      lines.push('host all all 127.0.0.1/32 scram-sha-256');
      break;
    case 'cert':
      lines.push('hostssl all postgres 127.0.0.1/32 scram-sha-256');
      lines.push('hostssl all all 127.0.0.1/32 cert');
      break;
    case 'trust':
      lines.push('host all all 127.0.0.1/32 trust');
      break;
  }
  return lines.join('\n') + '\n';
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** tcpProbe tells whether something accepts TCP connections on 127.0.0.1:port (1 s timeout). */
export function tcpProbe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      s.removeAllListeners();
      s.on('error', () => {});
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function tailFile(file: string, maxBytes: number): Promise<string> {
  try {
    const buf = await readFile(file);
    return buf.subarray(Math.max(0, buf.length - maxBytes)).toString('utf8');
  } catch {
    return '';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Start the postmaster on `port` and poll (every 50 ms, bounded) until postmaster.pid says
 * "ready" and a TCP connect succeeds. Resolves with the child, or with 'port-in-use'.
 */
async function launch(
  dataDir: string,
  baseDir: string,
  logFile: string,
  port: number,
  runAs: RunAs,
  timeoutMs: number,
): Promise<ChildProcess | 'port-in-use'> {
  const logFd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      findPgBinary('postgres'),
      ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${baseDir}`],
      { env: cleanEnv(), cwd: baseDir, stdio: ['ignore', logFd, logFd], uid: runAs.uid, gid: runAs.gid },
    );
  } finally {
    closeSync(logFd);
  }
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  const childPid = child.pid;
  if (childPid !== undefined) {
    livePostmasters.set(childPid, { baseDir });
    // Forget it as soon as it is reaped, so the exit hook can never signal a recycled pid.
    child.once('exit', () => livePostmasters.delete(childPid));
  }

  const deadline = Date.now() + timeoutMs;
  const pidFile = join(dataDir, 'postmaster.pid');
  for (;;) {
    if (spawnError) throw new Error(`cannot start postgres: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      if (child.pid !== undefined) livePostmasters.delete(child.pid);
      const log = await tailFile(logFile, 4000);
      if (/could not bind|Address already in use|could not create any TCP\/IP sockets/.test(log)) return 'port-in-use';
      throw new Error(`postgres exited during startup (${child.exitCode ?? child.signalCode}); log:\n${log}`);
    }
    let ready = false;
    try {
      const lines = (await readFile(pidFile, 'utf8')).split('\n');
      ready = lines[0] === String(child.pid) && (lines[7] ?? '').trim() === 'ready';
    } catch {
      /* not written yet */
    }
    if (ready && (await tcpProbe(port))) return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await waitForExit(child, 5000);
      if (child.pid !== undefined) livePostmasters.delete(child.pid);
      throw new Error(`postgres not ready within ${timeoutMs} ms; log:\n${await tailFile(logFile, 4000)}`);
    }
    await sleep(50);
  }
}

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PgServer> {
  installExitHooks();
  const tls = opts.tls ?? true;
  const hba = opts.hba ?? 'scram';
  if (hba === 'cert' && !tls) throw new Error("hba 'cert' needs tls");
  const runAs = postgresUser();
  const initdb = findPgBinary('initdb');
  findPgBinary('postgres');

  const baseDir = await makeBaseDir(runAs);
  let child: ChildProcess | undefined;
  try {
    const dataDir = join(baseDir, 'data');
    const logFile = join(baseDir, 'postgres.log');
    const tlsDir = join(baseDir, 'tls');
    const superPassword = randomBytes(18).toString('base64url');

    const pki = await makePki(tlsDir);
    const pwFile = join(baseDir, 'pwfile');
    await writeFile(pwFile, superPassword + '\n', { mode: 0o600 });
    await chownTree(baseDir, runAs);

    // --pwfile: the superuser's password is set during bootstrap, hashed with the default
    // password_encryption (scram-sha-256 since PG 14).
    const init = await runCommand(
      initdb,
      ['-D', dataDir, '-U', 'postgres', '--pwfile', pwFile, '-E', 'UTF8', '--locale=C',
        '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync'],
      { env: cleanEnv(), cwd: baseDir, timeoutMs: 120_000, uid: runAs.uid, gid: runAs.gid },
    );
    await rm(pwFile, { force: true });
    if (init.code !== 0) throw new Error(`initdb failed (${init.code ?? init.signal}):\n${init.stdout}\n${init.stderr}`);

    const conf: Record<string, string> = {
      max_connections: '100',
      password_encryption: 'scram-sha-256',
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      log_destination: 'stderr',
      logging_collector: 'off',
      ssl: tls ? 'on' : 'off',
      ssl_cert_file: pki.serverCertFile,
      ssl_key_file: pki.serverKeyFile,
      ssl_ca_file: pki.caFile,
      ...opts.settings,
    };
    const confText = Object.entries(conf).map(([k, v]) => `${k} = ${confQuote(v)}`).join('\n');
    await writeFile(join(dataDir, 'postgresql.conf'), `\n# pgseal test harness\n${confText}\n`, { flag: 'a' });
    await writeFile(join(dataDir, 'pg_hba.conf'), hbaConf(hba, tls));
    await chownTree(dataDir, runAs);

    await writeFile(logFile, '');
    await chownTree(logFile, runAs);

    let port = 0;
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      const r = await launch(dataDir, baseDir, logFile, port, runAs, opts.startTimeoutMs ?? 30_000);
      if (r !== 'port-in-use') {
        child = r;
        break;
      }
      if (attempt >= 4) throw new Error('postgres: could not bind a free port after 5 attempts');
    }
    const pm = child;
    const pid = pm.pid!;

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        if (pm.exitCode === null && pm.signalCode === null) {
          pm.kill('SIGINT'); // fast shutdown
          if (!(await waitForExit(pm, 15_000))) {
            pm.kill('SIGKILL');
            await waitForExit(pm, 10_000);
          }
        }
        livePostmasters.delete(pid);
        await rm(baseDir, { recursive: true, force: true, maxRetries: 3 });
      })();
      return stopping;
    };

    const psql = (sql: string, o: PsqlOptions = {}): Promise<CommandResult> => {
      const user = o.user ?? 'postgres';
      const password = o.password ?? (user === 'postgres' ? superPassword : undefined);
      const env = cleanEnv({
        PGHOST: o.host ?? '127.0.0.1',
        PGHOSTADDR: o.hostaddr,
        PGPORT: String(o.port ?? port),
        PGUSER: user,
        PGDATABASE: o.database ?? 'postgres',
        PGPASSWORD: password,
        PGSSLMODE: o.sslmode ?? (tls ? 'require' : 'disable'),
        // Never pick up ~/.postgresql/{root.crt,postgresql.crt}, ~/.pgpass or a service file.
        PGSSLROOTCERT: pki.caFile,
        PGSSLCERT: join(tlsDir, 'none.crt'),
        PGSSLKEY: join(tlsDir, 'none.key'),
        PGPASSFILE: join(tlsDir, 'none.pgpass'),
        PGCONNECT_TIMEOUT: '10',
        PGAPPNAME: 'pgseal-test',
        ...o.extraEnv,
      });
      return runCommand(findPgBinary('psql'), ['-X', '-w', '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql], {
        env,
        timeoutMs: o.timeoutMs ?? 30_000,
      });
    };

    /** Superuser over the unix socket (local trust): works in every hba mode. */
    const admin = async (sql: string): Promise<string> => {
      const r = await psql(sql, { host: baseDir, sslmode: 'disable', password: '' });
      if (r.code !== 0) throw new Error(`admin SQL failed (${r.code ?? r.signal}): ${sql}\n${r.stderr}`);
      return r.stdout;
    };

    const server: PgServer = {
      host: '127.0.0.1',
      port,
      dataDir,
      baseDir,
      socketDir: baseDir,
      logFile,
      pid,
      tls,
      hba,
      ...pki,
      superuser: 'postgres',
      superPassword,
      stop,
      psql,
      async createRole(name, password, o = {}) {
        await admin(
          `CREATE ROLE ${quoteIdent(name)} LOGIN ${o.superuser ? 'SUPERUSER' : ''} PASSWORD ${quoteLiteral(password)}`,
        );
      },
      async scramVerifier(role) {
        const v = (await admin(`SELECT rolpassword FROM pg_authid WHERE rolname = ${quoteLiteral(role)}`)).trim();
        if (v === '') throw new Error(`role ${role} does not exist or has no password`);
        return v;
      },
      async clientCert(cn) {
        const name = 'client-' + randomBytes(6).toString('hex');
        return issueLeaf(tlsDir, name, cn, 'v3_client');
      },
      logTail: (maxBytes = 8000) => tailFile(logFile, maxBytes),
    };
    return server;
  } catch (err) {
    if (child?.pid !== undefined) {
      child.kill('SIGKILL');
      await waitForExit(child, 5000);
      livePostmasters.delete(child.pid);
    }
    await rm(baseDir, { recursive: true, force: true, maxRetries: 3 });
    throw err;
  }
}
