// Segments appended through a shared mapping, hashed into the tree on a thread of their own
// (native/segment-append.c). A record copied into the mapping is in the page cache at once, as
// with write(2), but costs no system call; the event loop encodes and copies, the appender's
// thread reserves and prefaults space and hashes. PGSEAL_SEGMENT_MMAP=0, or no native addon,
// keeps write(2) and hashing on the event loop.
import { constants } from 'node:os';

import { nativeFunctions } from '../native-addon.js';
import { popCount } from './merkle.js';

type Addon = {
  mappedOpen(fd: number, length: number, size: number, frontier: Uint8Array): number;
  mappedWrite(id: number, data: Uint8Array): number;
  mappedAppendRecord(id: number, seq: number, micros: number, prefix: Uint8Array, query: number, kind: 0 | 1 | 2, text: string, a?: number | string, b?: number | string, c?: string): number;
  mappedTree(id: number, out: Uint8Array): number;
  mappedClose(id: number): number;
};

const addon = process.env['PGSEAL_SEGMENT_MMAP'] === '0' ? null : nativeFunctions<Addon>(['mappedOpen', 'mappedWrite', 'mappedAppendRecord', 'mappedTree', 'mappedClose']);

/** mappedSegmentsAvailable says whether segments can be appended through a mapping. */
export const mappedSegmentsAvailable = addon !== null;

/** errnoError turns a native -errno into an Error whose code names it, as node:fs errors do. */
export function errnoError(rc: number, syscall: string): NodeJS.ErrnoException {
  const name = Object.entries(constants.errno).find(([, n]) => n === -rc)?.[0] ?? `errno ${-rc}`;
  const err: NodeJS.ErrnoException = new Error(`${name}: ${syscall} failed`);
  err.code = name;
  err.errno = rc;
  err.syscall = syscall;
  return err;
}

/** TreeState is a Merkle frontier as the native appender holds it: the size and popcount(size) subtree roots, 32 bytes each. */
export type TreeState = { size: number; hashes: Buffer };

const MAX_HEIGHT = 54;

/** MappedAppender appends whole lines to an open segment through a shared mapping and hashes them into the tree. */
export class MappedAppender {
  #id: number;
  readonly #out = Buffer.alloc(MAX_HEIGHT * 32);

  private constructor(id: number) {
    this.#id = id;
  }

  /** open maps fd for appending after its first length bytes, continuing tree; null without the addon or when the file system cannot reserve space. */
  static open(fd: number, length: number, tree: TreeState): MappedAppender | null {
    if (addon === null) return null;
    const id = addon.mappedOpen(fd, length, tree.size, tree.hashes);
    return id >= 0 ? new MappedAppender(id) : null;
  }

  /** write appends data (whole lines), or throws with nothing appended when the space cannot be reserved. */
  write(data: Uint8Array): void {
    const rc = addon!.mappedWrite(this.#id, data);
    if (rc !== 0) throw errnoError(rc, 'reserving space');
  }

  /**
   * appendRecord encodes a simple query (kind 0), ok result (kind 1) or extended query (kind 2)
   * record as record-bytes.ts's native encoder does (the same arguments after kind) and appends
   * its line, in one call: the line's length, or 0 (or -errno)
   * with nothing appended when the record is not one the addon encodes (or the space could not
   * be reserved), for the caller to append it its usual way.
   */
  appendRecord(seq: number, micros: number, prefix: Buffer, query: number, kind: 0 | 1 | 2, text: string, a?: number | string, b?: number | string, c?: string): number {
    return addon!.mappedAppendRecord(this.#id, seq, micros, prefix, query, kind, text, a, b, c);
  }

  /** tree returns the frontier over every line appended so far (hashing what the thread has not reached yet). */
  tree(): TreeState {
    const size = addon!.mappedTree(this.#id, this.#out);
    return { size, hashes: Buffer.from(this.#out.subarray(0, popCount(size) * 32)) };
  }

  /** close stops the thread, unmaps and cuts the file to the bytes appended; throws if the cut failed (the zero tail stays for recovery to cut). */
  close(): void {
    if (this.#id < 0) return;
    const rc = addon!.mappedClose(this.#id);
    this.#id = -1;
    if (rc !== 0) throw errnoError(rc, 'ftruncate');
  }
}
