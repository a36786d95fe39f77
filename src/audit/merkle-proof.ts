// RFC 9162 §2.1.3 inclusion and §2.1.4 consistency proofs: generation over a HashReader,
// and pure verifiers. Edge cases follow transparency-dev/merkle and our vectors:
// index >= size fails, size1 == size2 needs an empty proof and equal roots, size1 == 0 fails.
import {
  HASH_SIZE,
  MerkleError,
  MerkleFrontier,
  hashChildren,
  isTreeSize,
  largestPowerOfTwoBelow,
  popCount,
} from './merkle.js';

/** HashReader gives read access to a log's leaf hashes, so proof generation stays pure. */
export interface HashReader {
  readonly leafCount: number;
  leafHash(index: number): Uint8Array;
}

/** HashSource is a HashReader or simply an array of leaf hashes. */
export type HashSource = HashReader | readonly Uint8Array[];

/** ProofError reports a proof that is malformed, of the wrong length or for impossible sizes. */
export class ProofError extends MerkleError {}

/** RootMismatchError reports a well-formed proof that leads to a different root than expected. */
export class RootMismatchError extends ProofError {
  constructor(
    readonly size: number,
    readonly expected: Buffer,
    readonly calculated: Buffer,
  ) {
    super(`root at size ${size} mismatched: calculated ${calculated.toString('hex')}, expected ${expected.toString('hex')}`);
  }
}

function asReader(source: HashSource): HashReader {
  if (!Array.isArray(source)) return source as HashReader;
  const leaves = source as readonly Uint8Array[];
  return { leafCount: leaves.length, leafHash: (i) => leaves[i]! };
}

function checkSizes(reader: HashReader, ...sizes: number[]): void {
  for (const n of sizes) {
    if (!isTreeSize(n)) throw new ProofError(`tree size or index ${n} is not a non-negative safe integer`);
    if (n > reader.leafCount) throw new ProofError(`tree size ${n} exceeds the ${reader.leafCount} leaves available`);
  }
}

// MTH(D[start:end]) (RFC 9162 §2.1.1), computed bottom-up in O(end - start).
function subtreeHash(reader: HashReader, start: number, end: number): Buffer {
  const frontier = new MerkleFrontier();
  for (let i = start; i < end; i++) frontier.append(reader.leafHash(i));
  return frontier.root();
}

/** proveInclusion returns PATH(index, D[size]): the audit path of leaf index in the tree of that size (RFC 9162 §2.1.3.1). */
export function proveInclusion(index: number, size: number, source: HashSource): Buffer[] {
  const reader = asReader(source);
  checkSizes(reader, index, size);
  if (index >= size) throw new ProofError(`index ${index} out of range for size ${size}`);
  const proof: Buffer[] = [];
  path(reader, index, 0, size, proof);
  return proof;
}

// PATH(m, D[n]) for the n = end - start leaves from start (RFC 9162 §2.1.3.1):
//   PATH(m, {d}) = {};  m < k: PATH(m, D[0:k]) : MTH(D[k:n]);  m >= k: PATH(m - k, D[k:n]) : MTH(D[0:k]).
function path(reader: HashReader, m: number, start: number, end: number, out: Buffer[]): void {
  const n = end - start;
  if (n === 1) return;
  const k = largestPowerOfTwoBelow(n);
  if (m < k) {
    path(reader, m, start, start + k, out);
    out.push(subtreeHash(reader, start + k, end));
  } else {
    path(reader, m - k, start + k, end, out);
    out.push(subtreeHash(reader, start, start + k));
  }
}

/** proveConsistency returns PROOF(size1, D[size2]) (RFC 9162 §2.1.4.1); empty if size1 == size2; needs 0 < size1. */
export function proveConsistency(size1: number, size2: number, source: HashSource): Buffer[] {
  const reader = asReader(source);
  checkSizes(reader, size1, size2);
  if (size1 > size2) throw new ProofError(`size1 ${size1} > size2 ${size2}`);
  if (size1 === 0) throw new ProofError('a consistency proof from the empty tree proves nothing');
  const proof: Buffer[] = [];
  subproof(reader, size1, 0, size2, true, proof);
  return proof;
}

// SUBPROOF(m, D[n], b) for the n = end - start leaves from start (RFC 9162 §2.1.4.1):
//   m == n: b ? {} : {MTH(D[n])};  m <= k: SUBPROOF(m, D[0:k], b) : MTH(D[k:n]);
//   m > k: SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]).
function subproof(reader: HashReader, m: number, start: number, end: number, b: boolean, out: Buffer[]): void {
  const n = end - start;
  if (m === n) {
    if (!b) out.push(subtreeHash(reader, start, end));
    return;
  }
  const k = largestPowerOfTwoBelow(n);
  if (m <= k) {
    subproof(reader, m, start, start + k, b, out);
    out.push(subtreeHash(reader, start + k, end));
  } else {
    subproof(reader, m - k, start + k, end, false, out);
    out.push(subtreeHash(reader, start, start + k));
  }
}

function checkHashes(hashes: readonly Uint8Array[] | null | undefined, what: string): readonly Uint8Array[] {
  if (!Array.isArray(hashes)) throw new ProofError(`${what} must be an array of hashes`);
  hashes.forEach((h, i) => checkHash(h, `${what}[${i}]`));
  return hashes;
}

function checkHash(h: Uint8Array, what: string): void {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
    throw new ProofError(`${what} is not a ${HASH_SIZE}-byte hash`);
  }
}

function checkRoot(size: number, expected: Uint8Array, calculated: Buffer): void {
  if (!calculated.equals(expected)) throw new RootMismatchError(size, Buffer.from(expected), calculated);
}

const isOdd = (x: number): boolean => x % 2 === 1;
const half = (x: number): number => Math.floor(x / 2);

/**
 * verifyInclusion checks that leafHash is leaf number index of the tree (size, root) (RFC 9162 §2.1.3.2).
 * Throws ProofError for malformed input or a proof of the wrong length, RootMismatchError otherwise.
 */
export function verifyInclusion(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  if (!isTreeSize(index) || !isTreeSize(size)) throw new ProofError('index and size must be non-negative safe integers');
  if (index >= size) throw new ProofError(`index ${index} out of range for size ${size}`);
  checkHash(leafHash, 'leaf hash');
  checkHash(root, 'root');
  checkHashes(proof, 'inclusion proof');
  // 2.-3. fn = leaf_index, sn = tree_size - 1, r = hash.
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leafHash);
  for (const p of proof) {
    // 4a. Running out of tree before the proof ends: the proof is too long.
    if (sn === 0) throw new ProofError('inclusion proof is too long');
    if (isOdd(fn) || fn === sn) {
      // 4b-i. r = HASH(0x01 ‖ p ‖ r); 4b-ii. an even fn here is the last node of its level (fn == sn):
      // shift past the levels where it has no sibling.
      r = hashChildren(p, r);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = hashChildren(r, p); // 4b, otherwise: r = HASH(0x01 ‖ r ‖ p)
    }
    fn = half(fn); // 4c.
    sn = half(sn);
  }
  // 5. sn must be 0 (proof not too short) and r must equal the root.
  if (sn !== 0) throw new ProofError('inclusion proof is too short');
  checkRoot(size, root, r);
}

/**
 * verifyConsistency checks that the tree (size1, root1) is a prefix of (size2, root2) (RFC 9162 §2.1.4.2).
 * Throws ProofError for malformed input, size1 == 0 or a proof of the wrong length, RootMismatchError otherwise.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  if (!isTreeSize(size1) || !isTreeSize(size2)) throw new ProofError('sizes must be non-negative safe integers');
  if (size1 > size2) throw new ProofError(`size1 ${size1} > size2 ${size2}`);
  checkHash(root1, 'root1');
  checkHash(root2, 'root2');
  checkHashes(proof, 'consistency proof');
  if (size1 === 0) throw new ProofError('a consistency proof from the empty tree proves nothing');
  if (size1 === size2) {
    if (proof.length !== 0) throw new ProofError('size1 == size2 needs an empty proof');
    return checkRoot(size2, root2, Buffer.from(root1));
  }
  // 1. An empty proof fails. 2. If size1 is a power of two, its root is the first path element.
  if (proof.length === 0) throw new ProofError('consistency proof is empty');
  const path = popCount(size1) === 1 ? [root1, ...proof] : proof;
  // 3. fn = first - 1, sn = second - 1; 4. shift both while fn is odd.
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // 5. fr = sr = the first element.
  let fr: Buffer = Buffer.from(path[0]!);
  let sr = fr;
  for (const c of path.slice(1)) {
    // 6a. Running out of tree before the proof ends: the proof is too long.
    if (sn === 0) throw new ProofError('consistency proof is too long');
    if (isOdd(fn) || fn === sn) {
      // 6b-i/ii. fr = HASH(0x01 ‖ c ‖ fr), sr = HASH(0x01 ‖ c ‖ sr); 6b-iii. climb while fn is even and non-zero.
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = hashChildren(sr, c); // 6b, otherwise: sr = HASH(0x01 ‖ sr ‖ c)
    }
    fn = half(fn); // 6c.
    sn = half(sn);
  }
  // 7. sn must be 0, fr must equal first_hash and sr second_hash.
  if (sn !== 0) throw new ProofError('consistency proof is too short');
  checkRoot(size1, root1, fr);
  checkRoot(size2, root2, sr);
}
