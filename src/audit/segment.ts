// Segment files (docs/audit-log-format.md §Files): `seg-<first seq, 20 digits>.jsonl`, written
// append-only through one descriptor. A failed write is rolled back to the last whole batch.
import { closeSync, constants, fdatasync, fdatasyncSync, fsyncSync, ftruncateSync, openSync, readdirSync, writeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';

import { PgsealError } from '../errors.js';
import { nativeFunctions } from '../native-addon.js';
import { MappedAppender, type TreeState } from './mapped-segment.js';

const SEGMENT_NAME = /^seg-([0-9]{20})\.jsonl$/;

/** segmentName returns the file name of the segment whose first record has seq firstSeq. */
export function segmentName(firstSeq: number): string {
  return `seg-${String(firstSeq).padStart(20, '0')}.jsonl`;
}

/** parseSegmentName returns the first seq a segment file name declares, or undefined if name is not a segment. */
export function parseSegmentName(name: string): number | undefined {
  const m = SEGMENT_NAME.exec(name);
  if (m === null) return undefined;
  const seq = Number(m[1]);
  return Number.isSafeInteger(seq) ? seq : undefined;
}

/** listSegments returns the segment file names in dir in log order (other files are ignored). */
export function listSegments(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => parseSegmentName(name) !== undefined)
    .sort();
}

/** fsyncDir makes directory entries (a created or renamed file) durable; throws audit_error. */
export function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw auditError('fsync of the log directory', err);
  }
}

const locker = nativeFunctions<{ lockDirectory(fd: number): number }>(['lockDirectory']);

/**
 * lockLogDirectory takes an exclusive lock on the log directory for this process (flock: the
 * kernel drops it when the process dies) and returns the descriptor that holds it, to close at
 * the end; null without the native addon. Two writers would each continue the tree from the same
 * point and cut each other's open segment: a second pgseal is refused with audit_error.
 */
export function lockLogDirectory(dir: string): number | null {
  if (locker === null) return null;
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch (err) {
    throw auditError(`open ${dir}`, err);
  }
  const rc = locker.lockDirectory(fd);
  if (rc === 0) return fd;
  closeSync(fd);
  if (rc === -osConstants.errno.EWOULDBLOCK || rc === -osConstants.errno.EAGAIN) {
    throw new PgsealError('audit_error', `audit log ${dir} is in use by another process (another pgseal serve on the same audit.dir?)`);
  }
  // A file system without flock (NFS refuses it on a directory): run unlocked, as without the addon.
  return null;
}

/** auditError wraps a failed file operation as PgsealError('audit_error') naming the operation and errno code. */
export function auditError(what: string, err: unknown): PgsealError {
  if (err instanceof PgsealError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? String(err);
  return new PgsealError('audit_error', `audit log ${what} failed: ${code}`, { cause: err });
}

/**
 * SegmentFile is one open segment: its descriptor, the bytes known to be wholly written, and its
 * start time. Opened with the tree so far, it appends through a shared mapping and hashes on the
 * appender's thread (mapped-segment.ts) where it can; otherwise with write(2), and the store hashes.
 */
export class SegmentFile {
  /** fd is the descriptor (tests may substitute a failing one once the segment is unmapped). */
  fd: number;
  /** bytes is the file length after the last successful write. */
  bytes = 0;
  #torn = false; // a failed write could not be rolled back yet
  #syncs = 0; // asynchronous fdatasyncs in flight
  #closing = false;
  #mapped: MappedAppender | null;

  private constructor(
    readonly name: string,
    readonly startedMicros: number,
    fd: number,
    tree: TreeState | null,
  ) {
    this.fd = fd;
    this.#mapped = tree === null ? null : MappedAppender.open(fd, 0, tree);
  }

  /** create makes a new segment file (O_EXCL: never reuses one) with mode 0600; given the tree so far, it tries to map it. */
  static create(dir: string, name: string, startedMicros: number, tree: TreeState | null = null): SegmentFile {
    // Read and write: a shared writable mapping needs both.
    const flags = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_EXCL;
    let fd: number;
    try {
      fd = openSync(join(dir, name), flags, 0o600);
    } catch (err) {
      throw auditError(`create ${name}`, err);
    }
    return new SegmentFile(name, startedMicros, fd, tree);
  }

  /** mapped is true while appends go through the mapping and the tree is hashed with them: ask tree() for it. */
  get mapped(): boolean {
    return this.#mapped !== null;
  }

  /** appendRecord is MappedAppender.appendRecord on a mapped segment (0 on one that is not): the bytes appended, or 0 or less for none. */
  appendRecord(seq: number, micros: number, prefix: Buffer, query: number, kind: 0 | 1 | 2, text: string, a?: number | string, b?: number | string, c?: string): number {
    if (this.#mapped === null) return 0;
    const n = this.#mapped.appendRecord(seq, micros, prefix, query, kind, text, a, b, c);
    if (n > 0) this.bytes += n;
    return n;
  }

  /** tree returns the frontier over every record appended (mapped segments only). */
  tree(): TreeState {
    if (this.#mapped === null) throw new Error('tree() of a segment that is not mapped');
    return this.#mapped.tree();
  }

  /**
   * unmap ends appending through the mapping: the file is cut to the bytes written, and later
   * writes use write(2). Take tree() first: from here on the caller hashes.
   */
  unmap(): void {
    const m = this.#mapped;
    if (m === null) return;
    this.#mapped = null;
    try {
      m.close();
    } catch (err) {
      this.#torn = true; // write(2) appends at the end of the file: cut the zero tail first
      throw auditError('truncate of the reserved space', err);
    }
  }

  /** settle cuts what a failed write or unmap left after the last whole batch; throws audit_error while it cannot. */
  settle(): void {
    this.#repair();
  }

  /** write appends data wholly or throws audit_error after truncating any partial write (best effort). */
  write(data: Buffer): void {
    if (this.#mapped !== null) {
      try {
        this.#mapped.write(data);
      } catch (err) {
        throw auditError('write', err);
      }
      this.bytes += data.length;
      return;
    }
    this.#repair();
    try {
      let off = 0;
      while (off < data.length) off += writeSync(this.fd, data, off);
    } catch (err) {
      this.#rollback();
      throw auditError('write', err);
    }
    this.bytes += data.length;
  }

  /** syncSync waits for written data to reach the disk (fdatasync). */
  syncSync(): void {
    try {
      fdatasyncSync(this.fd);
    } catch (err) {
      throw auditError('fdatasync', err);
    }
  }

  /** syncAsync runs fdatasync off the event loop; the descriptor stays open until it completes. */
  syncAsync(cb: (err: Error | null) => void): void {
    this.#syncs++;
    fdatasync(this.fd, (err) => {
      this.#syncs--;
      if (this.#closing && this.#syncs === 0) this.#closeNow();
      cb(err === null ? null : auditError('fdatasync', err));
    });
  }

  /** fsyncSync flushes data and metadata (used when the segment is closed). */
  fsyncSync(): void {
    try {
      fsyncSync(this.fd);
    } catch (err) {
      throw auditError('fsync', err);
    }
  }

  /** close closes the descriptor, once any asynchronous fdatasync on it has finished. Idempotent. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    try {
      this.unmap();
    } catch {
      // the reserved space stays at the end of the file; recovery cuts a zero tail
    }
    if (this.#syncs === 0) this.#closeNow();
  }

  #closeNow(): void {
    try {
      closeSync(this.fd);
    } catch {
      // nothing was left to write; a close error cannot lose records
    }
  }

  // Cut a partial write off so the next batch starts on a line boundary.
  #rollback(): void {
    try {
      ftruncateSync(this.fd, this.bytes);
      this.#torn = false;
    } catch {
      this.#torn = true;
    }
  }

  // Never append after a partial line: retry the truncation first, and refuse to write while it fails.
  #repair(): void {
    if (!this.#torn) return;
    try {
      ftruncateSync(this.fd, this.bytes);
    } catch (err) {
      throw auditError('truncate after a failed write', err);
    }
    this.#torn = false;
  }
}
