// The verifier's Merkle frontier (RFC 9162 §2.1.1), fed record lines read in place (a range of
// the chunk they were read in, no Buffer per line). With pgseal's native SHA-256 (sha256.ts) it is
// merkle.ts's MerkleFrontier, which then hashes without allocating. Without it, node:crypto's
// hash() is the cost, and most of that is its output Buffer (a new ArrayBuffer per call): a
// 32-character latin1 string is about half the price. StringFrontier keeps MerkleFrontier's
// algorithm with latin1 hashes, written into two reused inputs and hashed through views cached
// per input length. The tests compare both with MerkleFrontier.
import { createHash, hash } from 'node:crypto';

import { HASH_SIZE, MerkleFrontier, emptyRoot } from './merkle.js';
import { sha256Backend } from './sha256.js';

const CACHED_INPUT = 16 * 1024; // lines up to this long are copied into leafInput, longer ones streamed
const leafInput = Buffer.alloc(1 + CACHED_INPUT, 0x00); // 0x00 ‖ line
const leafViews: (Uint8Array | undefined)[] = []; // leafViews[n]: leafInput's first 1 + n bytes
const nodeInput = Buffer.alloc(1 + 2 * HASH_SIZE, 0x01); // 0x01 ‖ left ‖ right

/** leafHashAt returns MTH({d}) = SHA-256(0x00 ‖ d) of d = buf[start, end), as a latin1 string (RFC 9162 §2.1.1). */
export function leafHashAt(buf: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n > CACHED_INPUT) {
    return createHash('sha256').update(leafInput.subarray(0, 1)).update(buf.subarray(start, end)).digest('binary');
  }
  leafInput.set(new Uint8Array(buf.buffer, buf.byteOffset + start, n), 1);
  const view = leafViews[n] ?? (leafViews[n] = new Uint8Array(leafInput.buffer, leafInput.byteOffset, 1 + n));
  return hash('sha256', view, 'binary');
}

// SHA-256(0x01 ‖ left ‖ right) of two latin1 hash strings (RFC 9162 §2.1.1).
function nodeHashOf(left: string, right: string): string {
  for (let k = 0; k < HASH_SIZE; k++) {
    // A loop of charCodeAt beats Buffer#write's argument checks and native call for 32 characters.
    nodeInput[1 + k] = left.charCodeAt(k);
    nodeInput[1 + HASH_SIZE + k] = right.charCodeAt(k);
  }
  return hash('sha256', nodeInput, 'binary');
}

/** VerifyFrontier is the compact range [0, size) of the tree being verified: the roots of its perfect subtrees. */
export interface VerifyFrontier {
  /** size is the number of leaves appended so far. */
  readonly size: number;
  /** appendLine adds the leaf of the record line buf[start, end). */
  appendLine(buf: Uint8Array, start: number, end: number): void;
  /** root returns MTH(D[size]) (RFC 9162 §2.1.1). */
  root(): Buffer;
  /** base64Hashes returns the subtree hashes in base64, largest (leftmost) first, as MerkleFrontier.toJSON().hashes. */
  base64Hashes(): string[];
}

/** newVerifyFrontier returns an empty frontier, or with json one rebuilt as strictly as MerkleFrontier.fromJSON (it throws MerkleError). */
export function newVerifyFrontier(json?: unknown): VerifyFrontier {
  if (sha256Backend === 'native') return NativeFrontier.of(json === undefined ? new MerkleFrontier() : MerkleFrontier.fromJSON(json));
  return json === undefined ? new StringFrontier() : StringFrontier.fromJSON(json);
}

/** NativeFrontier is MerkleFrontier fed lines in place: with the native SHA-256 it hashes without allocating. */
export class NativeFrontier implements VerifyFrontier {
  private constructor(private readonly tree: MerkleFrontier) {}

  /** of wraps a MerkleFrontier. */
  static of(tree: MerkleFrontier): NativeFrontier {
    return new NativeFrontier(tree);
  }

  get size(): number {
    return this.tree.size;
  }

  appendLine(buf: Uint8Array, start: number, end: number): void {
    this.tree.appendLeafOf(new Uint8Array(buf.buffer, buf.byteOffset + start, end - start));
  }

  root(): Buffer {
    return this.tree.root();
  }

  base64Hashes(): string[] {
    return this.tree.toJSON().hashes;
  }
}

/** StringFrontier is MerkleFrontier's algorithm with hashes as latin1 strings, for node:crypto. */
export class StringFrontier implements VerifyFrontier {
  #size = 0;
  readonly #hashes: string[] = [];

  get size(): number {
    return this.#size;
  }

  appendLine(buf: Uint8Array, start: number, end: number): void {
    this.append(leafHashAt(buf, start, end));
  }

  /** append adds one leaf hash (a latin1 string of 32 characters); one node hash per append on average. */
  append(leaf: string): void {
    let h = leaf;
    // Each trailing one bit of the old size is a perfect subtree of the new leaf's height: merge it.
    for (let n = this.#size; n % 2 === 1; n = (n - 1) / 2) h = nodeHashOf(this.#hashes.pop()!, h);
    this.#hashes.push(h);
    this.#size += 1;
  }

  /** root returns MTH(D[size]): the subtree roots folded right to left (RFC 9162 §2.1.1). */
  root(): Buffer {
    const hs = this.#hashes;
    if (hs.length === 0) return emptyRoot();
    let h = hs[hs.length - 1]!;
    for (let i = hs.length - 2; i >= 0; i--) h = nodeHashOf(hs[i]!, h);
    return Buffer.from(h, 'latin1');
  }

  base64Hashes(): string[] {
    return this.#hashes.map((h) => Buffer.from(h, 'latin1').toString('base64'));
  }

  /** fromJSON rebuilds a frontier from serialised form, as strictly as MerkleFrontier.fromJSON (it throws MerkleError). */
  static fromJSON(value: unknown): StringFrontier {
    const checked = MerkleFrontier.fromJSON(value).toJSON();
    const frontier = new StringFrontier();
    frontier.#size = checked.size;
    for (const h of checked.hashes) frontier.#hashes.push(Buffer.from(h, 'base64').toString('latin1'));
    return frontier;
  }
}
