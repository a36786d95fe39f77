// RFC 9162 §2.1 Merkle tree hashing and an append-only compact frontier.
// Pure: no I/O. Tree sizes are JavaScript numbers (safe integers, < 2^53), so bit
// arithmetic is done with `% 2` and `/ 2` rather than 32-bit operators.
import { createHash } from 'node:crypto';

import { PgsealError } from '../errors.js';
import { prefixedSha256 } from './sha256.js';

/** HASH_SIZE is the byte length of every tree hash (SHA-256). */
export const HASH_SIZE = 32;

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
  readonly #hashes: Buffer[] = [];

  /** size is the number of leaves appended so far. */
  get size(): number {
    return this.#size;
  }

  /** append adds one leaf hash; amortised O(1): one node hash per append on average. */
  append(leaf: Uint8Array): void {
    if (leaf.length !== HASH_SIZE) throw new MerkleError(`leaf hash must be ${HASH_SIZE} bytes`);
    if (this.#size >= Number.MAX_SAFE_INTEGER) throw new MerkleError('tree size limit reached');
    let h: Uint8Array = leaf;
    // Each trailing one bit of the old size is a perfect subtree of the new leaf's height: merge it.
    for (let n = this.#size; n % 2 === 1; n = (n - 1) / 2) {
      h = hashChildren(this.#hashes.pop()!, h);
    }
    this.#hashes.push(h === leaf ? Buffer.from(leaf) : (h as Buffer)); // a kept leaf is copied: callers reuse buffers
    this.#size += 1;
  }

  /** root returns MTH(D[size]): the subtree roots folded right to left (RFC 9162 §2.1.1). */
  root(): Buffer {
    const hs = this.#hashes;
    if (hs.length === 0) return emptyRoot();
    let h = hs[hs.length - 1]!;
    for (let i = hs.length - 2; i >= 0; i--) h = hashChildren(hs[i]!, h);
    return hs.length === 1 ? Buffer.from(h) : h;
  }

  /** toJSON returns the size and the subtree hashes in base64, so verification can resume from here. */
  toJSON(): FrontierJSON {
    return { size: this.#size, hashes: this.#hashes.map((h) => h.toString('base64')) };
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
    frontier.#hashes.push(...decoded);
    return frontier;
  }
}
