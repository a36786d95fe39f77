// Test fixtures for verify: real logs written by the store (SealedLog) with a fixed clock and
// fixed keys, and helpers to tamper with copies of them line by line.
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { signCheckpoint } from '../../src/audit/checkpoint.js';
import type { AuditEvent } from '../../src/audit/events.js';
import { leafHash, rootFromLeaves } from '../../src/audit/merkle.js';
import { SignerKey, type VerifierKey } from '../../src/audit/note.js';
import { SealedLog, crashForTest } from '../../src/audit/store.js';

/** ORIGIN is the fixture logs' origin line. */
export const ORIGIN = 'pgseal.test/audit';

/** signer returns a fresh SignerKey from a fixed seed: 'a' signs first, 'b' after the rotation, 'evil' is nobody's. */
export function signer(which: 'a' | 'b' | 'evil'): SignerKey {
  const seed = Buffer.alloc(32, { a: 1, b: 2, evil: 3 }[which]);
  return new SignerKey(which === 'evil' ? 'pgseal-a' : `pgseal-${which}`, seed); // evil impersonates a's name
}

/** verifier returns the VerifierKey of signer(which). */
export function verifier(which: 'a' | 'b' | 'evil'): VerifierKey {
  const s = signer(which);
  const v = s.verifier();
  s.erase();
  return v;
}

/** fixedClock returns a clock that starts at 2026-11-26T13:24:59Z and advances 1 ms per reading. */
export function fixedClock(start = Date.UTC(2026, 10, 26, 13, 24, 59) * 1000): { nowMicros(): number } {
  let t = start;
  return { nowMicros: () => (t += 1000) };
}

/** sessionEvents returns n proxy events: sessions of a start, query/result pairs and an end. */
export function sessionEvents(n: number, tag = 's'): AuditEvent[] {
  const out: AuditEvent[] = [];
  let session = 0;
  let query = 0;
  let id = '';
  while (out.length < n) {
    if (query === 0) {
      id = `${tag}${String(++session).padStart(6, '0')}`;
      out.push({
        type: 'session.start', session: id, client: { address: '127.0.0.1', port: 40000 + session },
        tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', alpn: null, direct: false },
        certificate: null, user: session % 2 === 0 ? 'alice' : 'bob', database: 'app', application_name: 'psql',
        auth_method: 'scram-sha-256', upstream: '127.0.0.1:5432',
      });
      query = 1;
    } else if (query <= 4) {
      out.push({ type: 'query', session: id, query, protocol: 'simple', sql: `SELECT ${query} AS n, 'session ${id}' AS tag FROM generate_series(1, ${query})` });
      out.push({ type: 'result', session: id, query, status: 'ok', tags: [`SELECT ${query}`], rows: query, duration_us: 100 + query });
      query += 1;
    } else {
      out.push({
        type: 'session.end', session: id, reason: 'terminate', queries: 4, errors: 0,
        bytes_from_client: 400, bytes_from_server: 900, duration_us: 5000,
      });
      query = 0;
    }
  }
  return out.slice(0, n);
}

/** LogOptions shapes a fixture log. */
export interface LogOptions {
  origin?: string;
  /** runs lists, per process run, the number of events and whether the run ends cleanly (close) or crashes. */
  runs?: Array<{ events: number; signer: 'a' | 'b'; rotateAfter?: number; crash?: boolean }>;
  checkpointEvery?: number;
  segmentMaxBytes?: number;
  tag?: string;
}

/**
 * DEFAULT_RUNS: run 1 signs with key a, rotates to key b after 70 events and closes; run 2
 * signs with b and crashes, leaving unsealed records. With checkpoints every 20 records and
 * 6 KiB segments this makes about 10 segments and 10 checkpoints.
 */
export const DEFAULT_RUNS: NonNullable<LogOptions['runs']> = [
  { events: 120, signer: 'a', rotateAfter: 70 },
  { events: 35, signer: 'b', crash: true },
];

/** writeLog writes a log with SealedLog into dir (existing contents are continued). */
export function writeLog(dir: string, o: LogOptions = {}): void {
  let offset = 0;
  for (const run of o.runs ?? DEFAULT_RUNS) {
    const log = SealedLog.open({
      dir, origin: o.origin ?? ORIGIN, signer: signer(run.signer), clock: fixedClock(Date.UTC(2026, 10, 26, 13, offset) * 1000),
      checkpointEvery: o.checkpointEvery ?? 20, checkpointMs: 2_000_000_000, segmentMaxBytes: o.segmentMaxBytes ?? 6 * 1024,
    });
    const events = sessionEvents(run.events, `${o.tag ?? 's'}${offset}-`);
    events.forEach((e, i) => {
      if (i === run.rotateAfter) log.rotateKey(signer(run.signer === 'a' ? 'b' : 'a'));
      log.append(e);
      log.flush();
    });
    if (run.crash === true) crashForTest(log); // the process died: no final checkpoint
    else log.close();
    offset += 1;
  }
}

/** tempDir makes a fresh temporary directory; remove it with removeDir. */
export function tempDir(prefix = 'pgseal-verify-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** removeDir deletes a directory tree. */
export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/** copyLog copies the log directory src to a new temporary directory and returns it. */
export async function copyLog(src: string): Promise<string> {
  const dir = await tempDir();
  await cp(src, dir, { recursive: true });
  return dir;
}

/** segmentNames lists a log directory's segment files in order. */
export async function segmentNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => /^seg-\d{20}\.jsonl$/.test(n)).sort();
}

/** readLines returns a segment's lines (without '\n'; a torn final line is kept as the last element). */
export async function readLines(dir: string, segment: string): Promise<string[]> {
  const text = await readFile(join(dir, segment), 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** writeLines replaces a segment with lines, each terminated by '\n'. */
export async function writeLines(dir: string, segment: string, lines: readonly string[]): Promise<void> {
  await writeFile(join(dir, segment), lines.map((l) => `${l}\n`).join(''));
}

/** Located is one record of a log with where it is. */
export type Located = { segment: string; index: number; line: string; record: Record<string, unknown> };

/** records returns every record of a log directory in order, with its segment and 0-based line index. */
export async function records(dir: string): Promise<Located[]> {
  const out: Located[] = [];
  for (const segment of await segmentNames(dir)) {
    (await readLines(dir, segment)).forEach((line, index) => {
      out.push({ segment, index, line, record: JSON.parse(line) as Record<string, unknown> });
    });
  }
  return out;
}

/** find returns the records of type type (optionally the nth of them, 0-based). */
export async function find(dir: string, type: string): Promise<Located[]> {
  return (await records(dir)).filter((r) => r.record.type === type);
}

/** editLine rewrites one line of a segment. */
export async function editLine(dir: string, at: { segment: string; index: number }, edit: (line: string) => string): Promise<void> {
  const lines = await readLines(dir, at.segment);
  lines[at.index] = edit(lines[at.index]!);
  await writeLines(dir, at.segment, lines);
}

/** rootOf recomputes the root of the first size records of a log directory (independently of verify). */
export async function rootOf(dir: string, size: number): Promise<Buffer> {
  const lines = (await records(dir)).slice(0, size).map((r) => leafHash(Buffer.from(r.line)));
  return rootFromLeaves(lines);
}

/** signedNote signs a checkpoint note of the fixture origin with the given fixture keys. */
export function signedNote(size: number, root: Buffer, by: Array<'a' | 'b' | 'evil'>, origin = ORIGIN): string {
  const signers = by.map((w) => signer(w));
  try {
    return signCheckpoint({ origin, size, root }, signers);
  } finally {
    signers.forEach((s) => s.erase());
  }
}

/** replaceNote rewrites a checkpoint record with a new note (and the note's root in the root field). */
export function replaceNote(line: string, note: string, root: Buffer): string {
  const r = JSON.parse(line) as Record<string, unknown>;
  return JSON.stringify({ ...r, root: root.toString('base64'), note });
}
