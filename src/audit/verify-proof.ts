// Inclusion and consistency proofs (RFC 9162 §2.1.3-2.1.4) for a log on disk, as JSON a third
// party can check against a signed checkpoint. Producing a proof reads the log once and keeps
// every leaf hash up to the tree size in memory (32 bytes per record, one packed buffer);
// checking one needs only the proof, the trusted key and a signed note.
import { PgsealError } from '../errors.js';
import { openCheckpoint } from './checkpoint.js';
import type { SegmentSource } from './log-reader.js';
import { LineSplitter } from './log-reader-lines.js';
import { HASH_SIZE, MerkleFrontier, decodeHash, isTreeSize, leafHash } from './merkle.js';
import { proveConsistency, proveInclusion, verifyConsistency, verifyInclusion, type HashReader } from './merkle-proof.js';
import type { VerifierKey } from './note.js';
import { MAX_LINE_BYTES } from './record.js';
import { isCompactJson, parseRecordHead } from './verify-json.js';
import { describeKey } from './verify-keys.js';

/** InclusionProof proves that record `leaf_index` (whose line is `record`) is in the tree of `tree_size` leaves. */
export interface InclusionProof {
  type: 'inclusion';
  origin: string;
  leaf_index: number;
  tree_size: number;
  leaf_hash: string;
  record: string;
  hashes: string[];
  root: string;
  /** checkpoint is the log's signed note for tree_size, or null when none was written at that size. */
  checkpoint: string | null;
}

/** ConsistencyProof proves that the tree of size1 leaves is a prefix of the tree of size2 leaves. */
export interface ConsistencyProof {
  type: 'consistency';
  origin: string;
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  hashes: string[];
  checkpoint1: string | null;
  checkpoint2: string | null;
}

/** LeafStore holds leaf hashes packed in one growing buffer. */
class LeafStore implements HashReader {
  #buf = Buffer.alloc(HASH_SIZE * 1024);
  #count = 0;

  get leafCount(): number {
    return this.#count;
  }

  push(hash: Buffer): void {
    if ((this.#count + 1) * HASH_SIZE > this.#buf.length) {
      const bigger = Buffer.alloc(this.#buf.length * 2);
      this.#buf.copy(bigger);
      this.#buf = bigger;
    }
    hash.copy(this.#buf, this.#count * HASH_SIZE);
    this.#count += 1;
  }

  leafHash(index: number): Uint8Array {
    return this.#buf.subarray(index * HASH_SIZE, (index + 1) * HASH_SIZE);
  }
}

type ReadLog = { leaves: LeafStore; origin: string; notes: Map<number, string>; lines: Map<number, string> };

// Reads the log from seq 0 up to `limit` records (all if undefined), keeping leaf hashes, checkpoint notes and wanted lines.
async function readLog(sources: AsyncIterable<SegmentSource>, limit: number | undefined, want: readonly number[]): Promise<ReadLog> {
  const out: ReadLog = { leaves: new LeafStore(), origin: '', notes: new Map(), lines: new Map() };
  let where = '';
  let line = 0;
  const fail = (why: string): PgsealError =>
    new PgsealError('audit_error', `cannot prove from this log: ${where} line ${line}: ${why} (run pgseal verify)`);
  const onLine = (buf: Buffer): void => {
    line += 1;
    const seq = out.leaves.leafCount;
    if (limit !== undefined && seq > limit) return;
    const head = parseRecordHead(buf);
    if (typeof head === 'string') throw fail(head);
    if (head.seq !== seq) throw fail(`seq ${head.seq} where ${seq} was expected`);
    if (!isCompactJson(buf)) throw fail('not one compact JSON object');
    if (head.type === 'segment.start' && seq === 0) out.origin = field(buf, 'origin') ?? '';
    if (head.type === 'checkpoint') out.notes.set(seq, field(buf, 'note') ?? '');
    if (want.includes(seq)) out.lines.set(seq, buf.toString('utf8'));
    out.leaves.push(leafHash(buf));
  };
  for await (const source of sources) {
    where = source.name;
    line = 0;
    const splitter = new LineSplitter(MAX_LINE_BYTES);
    for await (const chunk of source.open()) splitter.push(chunk, onLine);
    if (limit !== undefined && out.leaves.leafCount > limit) break;
  }
  if (out.origin === '') throw new PgsealError('audit_error', 'cannot prove from this log: it does not start at seq 0 with segment.start');
  return out;
}

// A string field of a record line that isCompactJson accepted.
function field(buf: Buffer, name: string): string | undefined {
  const v = (JSON.parse(buf.toString('utf8')) as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : undefined;
}

// The newest checkpoint in the log with tree size >= min.
function latestCheckpoint(log: ReadLog, min: number): number | undefined {
  let best: number | undefined;
  for (const size of log.notes.keys()) if (size >= min && (best === undefined || size > best)) best = size;
  return best;
}

/** makeInclusionProof proves record seq against tree size `size` (default: the newest checkpoint covering it). */
export async function makeInclusionProof(sources: AsyncIterable<SegmentSource>, seq: number, size?: number): Promise<InclusionProof> {
  if (!isTreeSize(seq) || (size !== undefined && (!isTreeSize(size) || size <= seq))) {
    throw new PgsealError('usage', '--seq must be a record number below --size');
  }
  const log = await readLog(sources, size, [seq]);
  const n = size ?? latestCheckpoint(log, seq + 1);
  if (n === undefined) throw new PgsealError('usage', `record ${seq} is not covered by any checkpoint yet; give --size to prove against an unsigned root`);
  if (n > log.leaves.leafCount) throw new PgsealError('usage', `the log has only ${log.leaves.leafCount} records`);
  const hashes = proveInclusion(seq, n, log.leaves);
  return {
    type: 'inclusion', origin: log.origin, leaf_index: seq, tree_size: n,
    leaf_hash: Buffer.from(log.leaves.leafHash(seq)).toString('base64'), record: log.lines.get(seq)!,
    hashes: hashes.map((h) => h.toString('base64')), root: rootOf(log.leaves, n), checkpoint: log.notes.get(n) ?? null,
  };
}

/** makeConsistencyProof proves tree size1 a prefix of tree size2 (default: the newest checkpoint). */
export async function makeConsistencyProof(sources: AsyncIterable<SegmentSource>, size1: number, size2?: number): Promise<ConsistencyProof> {
  if (!isTreeSize(size1) || size1 === 0 || (size2 !== undefined && (!isTreeSize(size2) || size2 < size1))) {
    throw new PgsealError('usage', '--from must be at least 1 and at most --to');
  }
  const log = await readLog(sources, size2, []);
  const n = size2 ?? latestCheckpoint(log, size1);
  if (n === undefined) throw new PgsealError('usage', `no checkpoint at or after tree size ${size1}; give --to`);
  if (n > log.leaves.leafCount) throw new PgsealError('usage', `the log has only ${log.leaves.leafCount} records`);
  const hashes = proveConsistency(size1, n, log.leaves);
  return {
    type: 'consistency', origin: log.origin, size1, size2: n, root1: rootOf(log.leaves, size1), root2: rootOf(log.leaves, n),
    hashes: hashes.map((h) => h.toString('base64')), checkpoint1: log.notes.get(size1) ?? null, checkpoint2: log.notes.get(n) ?? null,
  };
}

// MTH(D[size]) (RFC 9162 §2.1.1), folded from the stored leaf hashes.
function rootOf(leaves: LeafStore, size: number): string {
  const frontier = new MerkleFrontier();
  for (let i = 0; i < size; i++) frontier.append(leaves.leafHash(i));
  return frontier.root().toString('base64');
}

/** ProofCheck is the outcome of checking a proof: ok with a summary, or the reason it fails. */
export type ProofCheck = { ok: boolean; message: string };

/**
 * checkProof verifies a proof (parsed JSON) and that its root(s) are signed: by a checkpoint note
 * in the proof or among `notes`, of the proof's origin and size, verified by one of `keys`.
 * Throws PgsealError('usage') if the proof is not a proof at all.
 */
export function checkProof(proof: unknown, keys: readonly VerifierKey[], notes: readonly string[]): ProofCheck {
  const p = proof as Record<string, unknown>;
  if (typeof p !== 'object' || p === null || typeof p.origin !== 'string') throw notAProof('an object with type and origin');
  try {
    if (p.type === 'inclusion') return checkInclusion(p, keys, notes);
    if (p.type === 'consistency') return checkConsistency(p, keys, notes);
  } catch (err) {
    if (err instanceof PgsealError && err.code === 'usage') throw err;
    return { ok: false, message: (err as Error).message };
  }
  throw notAProof('type inclusion or consistency');
}

function checkInclusion(p: Record<string, unknown>, keys: readonly VerifierKey[], notes: readonly string[]): ProofCheck {
  const index = count(p.leaf_index, 'leaf_index');
  const size = count(p.tree_size, 'tree_size');
  const leaf = hash(p.leaf_hash, 'leaf_hash');
  const root = hash(p.root, 'root');
  const hashes = hashList(p.hashes);
  if (p.record !== undefined) {
    if (typeof p.record !== 'string') throw notAProof('record as a string');
    const record = Buffer.from(p.record, 'utf8');
    if (!leafHash(record).equals(leaf)) return { ok: false, message: 'the record does not hash to leaf_hash' };
    const head = parseRecordHead(record);
    if (typeof head === 'string' || head.seq !== index) return { ok: false, message: `the record is not seq ${index}` };
  }
  verifyInclusion(index, size, leaf, hashes, root);
  const signer = signedRoot(p.origin as string, size, root, [p.checkpoint, ...notes], keys);
  return { ok: true, message: `inclusion proof OK: record ${index} is in the tree of size ${size}, root ${root.toString('base64')}, signed by ${signer}` };
}

function checkConsistency(p: Record<string, unknown>, keys: readonly VerifierKey[], notes: readonly string[]): ProofCheck {
  const size1 = count(p.size1, 'size1');
  const size2 = count(p.size2, 'size2');
  const root1 = hash(p.root1, 'root1');
  const root2 = hash(p.root2, 'root2');
  verifyConsistency(size1, size2, hashList(p.hashes), root1, root2);
  const origin = p.origin as string;
  const s1 = signedRoot(origin, size1, root1, [p.checkpoint1, ...notes], keys);
  const s2 = signedRoot(origin, size2, root2, [p.checkpoint2, ...notes], keys);
  return { ok: true, message: `consistency proof OK: tree size ${size1} (signed by ${s1}) is a prefix of tree size ${size2} (signed by ${s2})` };
}

// The first note that verifies with a trusted key for this origin and size must sign this root.
function signedRoot(origin: string, size: number, root: Buffer, candidates: readonly unknown[], keys: readonly VerifierKey[]): string {
  for (const note of candidates) {
    if (typeof note !== 'string') continue;
    let opened;
    try {
      opened = openCheckpoint(note, keys, origin);
    } catch {
      continue;
    }
    if (opened.checkpoint.size !== size) continue;
    if (!opened.checkpoint.root.equals(root)) throw new Error(`the signed checkpoint of size ${size} has root ${opened.checkpoint.root.toString('base64')}, not the proof's`);
    return opened.verifiedBy.map((s) => describeKey(s)).join(' and ');
  }
  throw new Error(`no checkpoint note of size ${size} for ${JSON.stringify(origin)} signed by a trusted key (give one with --checkpoint)`);
}

function count(v: unknown, what: string): number {
  if (!isTreeSize(v)) throw notAProof(`${what} as a non-negative integer`);
  return v;
}

function hash(v: unknown, what: string): Buffer {
  try {
    return decodeHash(v, what);
  } catch {
    throw notAProof(`${what} as base64 of 32 bytes`);
  }
}

function hashList(v: unknown): Buffer[] {
  if (!Array.isArray(v) || v.length > 128) throw notAProof('hashes as an array of at most 128 hashes');
  return v.map((h, i) => hash(h, `hashes[${i}]`));
}

function notAProof(what: string): PgsealError {
  return new PgsealError('usage', `not a pgseal proof: expected ${what}`);
}
