// Helpers shared by the benchmark scripts (not tests): statistics, formatting, process CPU time.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** median of a list (NaN when empty). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** fmt formats a number with fixed digits, or "-" when missing. */
export function fmt(x: number | undefined, digits = 1): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  return x.toFixed(digits);
}

/** pad right-pads a string to n characters. */
export function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/** lpad left-pads a string to n characters. */
export function lpad(s: string, n: number): string {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

/** tail keeps the last non-empty lines of a text. */
export function tail(text: string, lines: number): string {
  return text.split('\n').filter(Boolean).slice(-lines).join('\n');
}

let clkTck: number | undefined;

/** clockTicks is the kernel's clock ticks per second (for /proc/PID/stat CPU times). */
export function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 10_000 }).trim());
    } catch {
      clkTck = 100;
    }
    if (!Number.isFinite(clkTck) || clkTck <= 0) clkTck = 100;
  }
  return clkTck;
}

/** versionOf runs a command for its version line, or "unknown". */
export function versionOf(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0]!;
  } catch {
    return '?';
  }
}

/**
 * libpqEnv is the environment for pgbench/psql against 127.0.0.1:port with sslmode=require that
 * never picks up ~/.postgresql/* (a root.crt there turns require into verify-ca), ~/.pgpass or a
 * service file.
 */
export function libpqEnv(port: number, user: string, database: string, password: string): Record<string, string> {
  const none = join(tmpdir(), 'pgseal-bench-none');
  return {
    PGHOST: '127.0.0.1',
    PGPORT: String(port),
    PGUSER: user,
    PGDATABASE: database,
    PGPASSWORD: password,
    PGSSLMODE: 'require',
    PGSSLROOTCERT: `${none}.crt`,
    PGSSLCERT: `${none}-client.crt`,
    PGSSLKEY: `${none}-client.key`,
    PGPASSFILE: `${none}.pgpass`,
    PGCONNECT_TIMEOUT: '10',
  };
}

/**
 * stopOnSignalOrTimeout runs cleanup on SIGINT/SIGTERM/SIGHUP (exit 130) and after a hard time
 * limit (exit 3, cleanup given at most 30 s); it returns the watchdog timer to clear on success.
 */
export function stopOnSignalOrTimeout(name: string, cleanup: () => Promise<void>, timeoutS: number): NodeJS.Timeout {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      console.error(`\n${name}: ${sig}, cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  return setTimeout(() => {
    console.error(`\n${name}: hard timeout of ${timeoutS} s reached, cleaning up`);
    void Promise.race([cleanup(), new Promise((r) => setTimeout(r, 30_000))]).finally(() => process.exit(3));
  }, timeoutS * 1000);
}

/** cpuTicks is utime + stime of a process (all its threads) from /proc/PID/stat, in clock ticks; undefined if it is gone. */
export function cpuTicks(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "pid (comm)"; comm may contain spaces and parentheses: cut at the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    const utime = Number(rest[14 - 3]);
    const stime = Number(rest[15 - 3]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
    return utime + stime;
  } catch {
    return undefined;
  }
}
