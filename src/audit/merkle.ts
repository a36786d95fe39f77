// RFC 9162 §2.1 Merkle tree hashing and an append-only compact frontier.
// Pure: no I/O. Tree sizes are JavaScript numbers (safe integers, < 2^53), so bit
// arithmetic is done with `% 2` and `/ 2` rather than 32-bit operators.
import { createHash } from 'node:crypto';

import { PgsealError } from '../errors.js';
import { nativeAppendLeaves, prefixedSha256, prefixedSha256Into } from './sha256.js';

/** HASH_SIZE is the byte length of every tree hash (SHA-256). */
export const HASH_SIZE = 32;

// Tree sizes are below 2^53, so a frontier holds at most 53 subtree roots, plus one for a new leaf.
const MAX_HEIGHT = 54;

const EMPTY_ROOT = createHash('sha256').digest();

/** MerkleError reports a malformed tree hash, size or serialised frontier. */
export class MerkleError extends PgsealError {
  constructor(message: string) {
    super('audit_error', message);
  }
}

/** leafHash returns MTH({d}) = SHA-256(0x00 ‖ d) (RFC 9162 §2.1.1). */
export function leafHash(data: Uint8Array): Buffer {
  return prefixedSha256(0x00, data);
}

/** nodeHash returns SHA-256(0x01 ‖ left ‖ right) for two 32-byte child hashes (RFC 9162 §2.1.1). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    throw new MerkleError(`node children must be ${HASH_SIZE}-byte hashes`);
  }
  return hashChildren(left, right);
}

/** hashChildren is nodeHash without the length checks, for callers that validated their input. */
export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  return prefixedSha256(0x01, left, right);
}

/** emptyRoot returns MTH({}) = SHA-256() (RFC 9162 §2.1.1), a fresh copy each call. */
export function emptyRoot(): Buffer {
  return Buffer.from(EMPTY_ROOT);
}

/** largestPowerOfTwoBelow returns k, the largest power of two with k < n, for n > 1 (RFC 9162 §2.1.1). */
export function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** popCount returns the number of set bits of a non-negative safe integer. */
export function popCount(n: number): number {
  let count = 0;
  for (let x = n; x > 0; x = Math.floor(x / 2)) count += x % 2;
  return count;
}

/** isTreeSize reports whether n is usable as a tree size or index (a non-negative safe integer). */
export function isTreeSize(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** rootFromLeaves computes MTH(D[n]) recursively from leaf hashes, as RFC 9162 §2.1.1 defines it (reference, for tests). */
export function rootFromLeaves(hashes: readonly Uint8Array[]): Buffer {
  const n = hashes.length;
  if (n === 0) return emptyRoot();
  if (n === 1) return Buffer.from(hashes[0]!);
  // MTH(D[n]) = HASH(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n])), k the largest power of two < n.
  const k = largestPowerOfTwoBelow(n);
  return nodeHash(rootFromLeaves(hashes.slice(0, k)), rootFromLeaves(hashes.slice(k)));
}

/** decodeBase64 decodes canonical standard padded base64 (RFC 4648 §4), or returns undefined. */
export function decodeBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  // Buffer's decoder is lenient (skips junk, accepts base64url): demand the one canonical spelling.
  return bytes.toString('base64') === text ? bytes : undefined;
}

/** decodeHash parses canonical base64 of exactly one 32-byte hash, or throws MerkleError. */
export function decodeHash(text: unknown, what = 'hash'): Buffer {
  const bytes = typeof text === 'string' ? decodeBase64(text) : undefined;
  if (bytes?.length !== HASH_SIZE) throw new MerkleError(`${what} is not canonical base64 of ${HASH_SIZE} bytes`);
  return bytes;
}

/** FrontierJSON is the serialised frontier: the tree size and one base64 hash per perfect subtree, left to right. */
export interface FrontierJSON {
  size: number;
  hashes: string[];
}

/**
 * MerkleFrontier is the compact range [0, size) of an append-only RFC 9162 tree: the roots
 * of its perfect subtrees, one per set bit of size, largest (leftmost) first.
 */
export class MerkleFrontier {
  #size = 0;
  // The subtree roots live in one slab, 32 bytes each, and merges hash in place: appending a
  // record allocates nothing, which matters at tens of thousands of records a second.
  readonly #slab = Buffer.alloc(MAX_HEIGHT * HASH_SIZE);
  readonly #slots = Array.from({ length: MAX_HEIGHT }, (_, i) => this.#slab.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  #count = 0;

  /** size is the number of leaves appended so far. */
  get size(): number {
    return this.#size;
  }

  /** append adds one leaf hash; amortised O(1): one node hash per append on average. */
  append(leaf: Uint8Array): void {
    if (leaf.length !== HASH_SIZE) throw new MerkleError(`leaf hash must be ${HASH_SIZE} bytes`);
    this.#checkRoom();
    this.#slot(this.#count).set(leaf);
    this.#merge();
  }

  /** appendLeafOf adds the leaf hash of record bytes, MTH({data}), without allocating it. */
  appendLeafOf(data: Uint8Array): void {
    this.#checkRoom();
    prefixedSha256Into(this.#slot(this.#count), 0x00, data);
    this.#merge();
  }

  /**
   * appendLines adds the leaf of each of the first n lines of data, where line i ends at
   * ends[i] (its newline) and the next starts one byte later: a store batch in one native call.
   */
  appendLines(data: Uint8Array, ends: Uint32Array, n: number): void {
    if (this.#size + n > Number.MAX_SAFE_INTEGER) throw new MerkleError('tree size limit reached');
    if (nativeAppendLeaves) {
      this.#count = nativeAppendLeaves(this.#slab, this.#count, this.#size, data, ends, n);
      this.#size += n;
      return;
    }
    let start = 0;
    for (let i = 0; i < n; i++) {
      this.appendLeafOf(data.subarray(start, ends[i]));
      start = ends[i]! + 1;
    }
  }

  #checkRoom(): void {
    if (this.#size >= Number.MAX_SAFE_INTEGER) throw new MerkleError('tree size limit reached');
  }

  // The new leaf sits in the slot above the top: each trailing one bit of the old size is a
  // perfect subtree of its height, merged into it: top = HASH(0x01 ‖ top ‖ new).
  #merge(): void {
    let top = this.#count;
    for (let n = this.#size; n % 2 === 1; n = (n - 1) / 2) {
      top -= 1;
      prefixedSha256Into(this.#slot(top), 0x01, this.#slot(top), this.#slot(top + 1));
    }
    this.#count = top + 1;
    this.#size += 1;
  }

  #slot(i: number): Buffer {
    return this.#slots[i]!;
  }

  /** root returns MTH(D[size]): the subtree roots folded right to left (RFC 9162 §2.1.1). */
  root(): Buffer {
    if (this.#count === 0) return emptyRoot();
    let h: Buffer = Buffer.from(this.#slot(this.#count - 1));
    for (let i = this.#count - 2; i >= 0; i--) h = hashChildren(this.#slot(i), h);
    return h;
  }

  /** state returns the size and the subtree roots, popcount(size) × 32 bytes in one buffer (the native appender's form). */
  state(): { size: number; hashes: Buffer } {
    return { size: this.#size, hashes: Buffer.from(this.#slab.subarray(0, this.#count * HASH_SIZE)) };
  }

  /** load replaces this frontier with state (as state() returns it). */
  load(state: { size: number; hashes: Uint8Array }): void {
    const count = popCount(state.size);
    if (!isTreeSize(state.size) || state.hashes.length !== count * HASH_SIZE) throw new MerkleError('frontier state of the wrong length');
    this.#slab.set(state.hashes);
    this.#size = state.size;
    this.#count = count;
  }

  /** toJSON returns the size and the subtree hashes in base64, so verification can resume from here. */
  toJSON(): FrontierJSON {
    const hashes: string[] = [];
    for (let i = 0; i < this.#count; i++) hashes.push(this.#slot(i).toString('base64'));
    return { size: this.#size, hashes };
  }

  /** fromJSON rebuilds a frontier from toJSON's output; strict: exact keys, canonical base64, popcount(size) hashes. */
  static fromJSON(value: unknown): MerkleFrontier {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new MerkleError('frontier must be an object');
    }
    const keys = Object.keys(value).sort().join(',');
    if (keys !== 'hashes,size') throw new MerkleError('frontier must have exactly the keys size and hashes');
    const { size, hashes } = value as { size: unknown; hashes: unknown };
    if (!isTreeSize(size)) throw new MerkleError('frontier size must be a non-negative safe integer');
    if (!Array.isArray(hashes)) throw new MerkleError('frontier hashes must be an array');
    if (hashes.length !== popCount(size)) {
      throw new MerkleError(`frontier of size ${size} needs ${popCount(size)} hashes, got ${hashes.length}`);
    }
    const decoded = hashes.map((h: unknown, i) => decodeHash(h, `frontier hash ${i}`));
    const frontier = new MerkleFrontier();
    frontier.#size = size;
    decoded.forEach((h, i) => frontier.#slot(i).set(h));
    frontier.#count = decoded.length;
    return frontier;
  }
}
