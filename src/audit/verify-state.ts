// The verifier's state machine (docs/audit-log-format.md §What verify checks): fed segment by
// segment and line by line, it keeps only the Merkle frontier and O(1) bookkeeping, and stops at
// the first fault by throwing FaultSignal.
import { isUtf8 } from 'node:buffer';

import { zeroTail } from './log-reader-lines.js';
import { newVerifyFrontier, type VerifyFrontier } from './verify-frontier.js';
import type { VerifierKey } from './note.js';
import { parseSegmentName } from './segment.js';
import { ExternalCheckpoint, checkpointFields, judgeCheckpoint, type Problem } from './verify-checkpoint.js';
import { isCompactRecordAt, parseRecordHeadAt, type HeadAt, type RecordHead } from './verify-json.js';
import { KeyChain } from './verify-keys.js';
import type { FaultKind, VerifyFault, VerifyReport } from './verify-report.js';

/** FaultSignal carries the first fault out of the line loop. */
export class FaultSignal extends Error {
  constructor(readonly fault: VerifyFault) {
    super(fault.message);
  }
}

/** VerifierOptions are verifyLog's options (see verify.ts). */
export interface VerifierOptions {
  trustedKey: VerifierKey;
  externalCheckpoint?: string;
  strict?: boolean;
  partial?: boolean;
}

type Pos = { segment: string; line: number; seq: number };

/** LogVerifier checks one log fed as beginSegment, line*, endSegment, ..., finish. */
export class LogVerifier {
  readonly #keys: KeyChain;
  readonly #strict: boolean;
  readonly #partial: boolean;
  #external: ExternalCheckpoint | undefined;
  #externalAt = -1; // the tree size at which to judge #external; -1 once judged (or without one)
  #frontier: VerifyFrontier = newVerifyFrontier();
  #origin: string | null = null;
  #started = false;
  #startSize = 0;
  #nextSeq = 0;
  #nextSegment = 0;
  #segments = 0;
  #records = 0;
  #checkpoints = 0;
  #lastCheckpoint: Pos | null = null;
  #unconfirmed: Pos | null = null; // the first record no verified signature covers yet
  #firstUnsealed: Pos | null = null; // the first record after the last checkpoint record
  #segment = '';
  #previousName: string | null = null;
  #line = 0;
  #atSegmentStart = true;
  #gap: { line: number; seq: number } | null = null; // a seq ahead of the expected one, judged on the next line
  #torn: { segment: string; line: number; bytes: number } | null = null;
  #reserved: { segment: string; line: number; bytes: number } | null = null; // a zero tail after the last whole line
  readonly #head: HeadAt = { seq: 0, type: '', next: 0 }; // reused for every line

  readonly #options: VerifierOptions;

  constructor(o: VerifierOptions) {
    this.#options = o;
    this.#keys = new KeyChain(o.trustedKey);
    this.#strict = o.strict ?? false;
    this.#partial = o.partial ?? false;
  }

  /** start reads the external checkpoint, if any (its signature is judged when the log reaches its size). */
  start(): void {
    const text = this.#options.externalCheckpoint;
    if (text === undefined) return;
    const parsed = ExternalCheckpoint.parse(text);
    if ('kind' in parsed) throw this.#faultAt('(--checkpoint)', 0, 0, 0, parsed.kind, parsed.message);
    this.#external = parsed;
    this.#externalAt = parsed.size;
  }

  /** beginSegment starts the next segment file (names arrive sorted). */
  beginSegment(name: string): void {
    if (this.#torn !== null) {
      const t = this.#torn;
      throw this.#faultAt(t.segment, t.line, this.#nextSeq, this.#nextSeq, 'torn-line',
        t.bytes === 0 ? 'empty segment file followed by more segments' : `unterminated line of ${t.bytes} bytes (truncated) followed by more segments`);
    }
    if (this.#reserved !== null) {
      // Only the last segment can still be open; an earlier one was cut to its records when it was closed.
      const z = this.#reserved;
      throw this.#faultAt(z.segment, z.line, this.#nextSeq, this.#nextSeq, 'torn-line', `${z.bytes} zero bytes after the last record followed by more segments`);
    }
    this.#segment = name;
    this.#line = 0;
    this.#atSegmentStart = true;
    this.#segments += 1;
    if (parseSegmentName(name) === undefined) throw this.#fault('segment-name', 'not a segment name (seg-<20 digits>.jsonl)');
    if (name === this.#previousName) throw this.#fault('segment-duplicate', 'a second segment with this name');
    this.#previousName = name;
  }

  /** line checks one complete line, buf[start, end) (without its '\n'). */
  line(buf: Buffer, start: number, end: number): void {
    this.#line += 1;
    const head = parseRecordHeadAt(buf, start, end, this.#head);
    if (this.#gap !== null) this.#judgeGap(typeof head === 'string' ? undefined : head.seq);
    if (typeof head === 'string') throw this.#fault('malformed-line', head);
    if (!isCompactRecordAt(buf, start, end, head)) {
      throw this.#fault('malformed-line', isUtf8(buf.subarray(start, end)) ? 'not one compact JSON object' : 'not valid UTF-8');
    }
    if (this.#atSegmentStart) {
      this.#segmentStart(buf.subarray(start, end), head);
    } else if (head.seq !== this.#nextSeq) {
      this.#wrongSeq(head.seq);
      return;
    } else {
      if (this.#firstUnsealed === null) this.#firstUnsealed = { segment: this.#segment, line: this.#line, seq: head.seq };
      if (head.type !== 'query' && head.type !== 'result') this.#structural(buf.subarray(start, end), head);
    }
    if (this.#frontier.size === this.#externalAt) this.#judgeExternal();
    this.#frontier.appendLine(buf, start, end);
    this.#nextSeq += 1;
    this.#records += 1;
  }

  /** lineTooLong reports the next line as longer than the cap. */
  lineTooLong(limit: number): never {
    this.#line += 1;
    throw this.#fault('malformed-line', `line longer than ${limit} bytes`);
  }

  /** endSegment ends the current segment; tail is its unterminated final bytes, if any. */
  endSegment(tail: Buffer | null): void {
    if (this.#gap !== null) this.#judgeGap(undefined);
    const zeros = tail === null ? 0 : zeroTail(tail);
    const text = tail === null ? 0 : tail.length - zeros;
    if (zeros > 0 && this.#line > 0) this.#reserved = { segment: this.#segment, line: this.#line + 1, bytes: zeros };
    if (text > 0 || this.#line === 0) this.#torn = { segment: this.#segment, line: this.#line + 1, bytes: text };
  }

  /** finish ends the log and returns the report (throws FaultSignal for a fault found at the end). */
  finish(): VerifyReport {
    if (!this.#started) {
      if (this.#segments === 0) throw this.#faultAt('(none)', 0, 0, 0, 'segment-missing', 'no segments found');
      throw this.#faultAt(this.#segment, 1, 0, 0, 'segment-missing', 'the log holds no complete record');
    }
    if (this.#externalAt >= this.#frontier.size) {
      this.#line += 1; // the position just after the last record
      this.#judgeExternal();
      this.#line -= 1;
    }
    const report = this.report();
    if (this.#strict && this.#reserved !== null) {
      const z = this.#reserved;
      throw this.#faultAt(z.segment, z.line, this.#nextSeq, this.#nextSeq, 'torn-line', `${z.bytes} zero bytes of reserved space after the last record: the segment was not closed (--strict)`);
    }
    if (this.#strict && this.#torn !== null) {
      const t = this.#torn;
      throw this.#faultAt(t.segment, t.line, this.#nextSeq, this.#nextSeq, 'torn-line', `unterminated final line of ${t.bytes} bytes (--strict)`);
    }
    if (this.#strict && report.unsealed > 0) {
      const from = this.#firstUnsealed!;
      throw this.#faultAt(from.segment, from.line, from.seq, this.#nextSeq - 1, 'unsealed',
        `${report.unsealed} records after the last checkpoint are not covered by any signature (--strict)`);
    }
    return report;
  }

  /** report describes what was verified so far, with fault if given. */
  report(fault?: VerifyFault): VerifyReport {
    const last = this.#lastCheckpoint;
    const r: VerifyReport = {
      ok: fault === undefined,
      origin: this.#origin,
      records: this.#records,
      segments: this.#segments,
      startSize: this.#startSize,
      treeSize: this.#frontier.size,
      root: this.#frontier.root().toString('base64'),
      checkpoints: this.#checkpoints,
      lastCheckpointSize: last?.seq ?? 0,
      unsealed: last === null ? this.#records : this.#nextSeq - last.seq - 1,
    };
    if (this.#torn !== null && fault === undefined) r.torn = { segment: this.#torn.segment, bytes: this.#torn.bytes };
    if (this.#reserved !== null && fault === undefined) r.reserved = { segment: this.#reserved.segment, bytes: this.#reserved.bytes };
    if (this.#external !== undefined && this.#externalAt === -1 && fault === undefined) r.externalCheckpoint = { size: this.#external.size };
    if (fault !== undefined) r.fault = fault;
    return r;
  }

  // §1 and §3: every segment opens with segment.start, numbered in order, whose frontier is the tree so far.
  #segmentStart(buf: Buffer, head: RecordHead): void {
    if (head.type !== 'segment.start') {
      if (this.#started && head.seq > this.#nextSeq) throw this.#gapFault(this.#line, head.seq);
      throw this.#fault('malformed-line', `the first record of a segment is ${head.type}, not segment.start`);
    }
    const r = parseObject(buf);
    const { segment, origin, tree_size: size, frontier, reason } = r;
    if (!isCount(segment) || typeof origin !== 'string' || !isCount(size) || !isStringArray(frontier) || typeof reason !== 'string') {
      throw this.#fault('malformed-line', 'segment.start lacks segment, origin, tree_size, frontier or reason');
    }
    if (size !== head.seq) throw this.#fault('malformed-line', `segment.start tree_size ${size} is not its seq ${head.seq}`);
    if (!this.#started) this.#firstSegment(head.seq, segment, origin, size, frontier);
    this.#placeSegment(head.seq, segment, origin);
    if (parseSegmentName(this.#segment) !== head.seq) throw this.#fault('segment-name', `the file name does not match its first record, seq ${head.seq} (renamed?)`);
    const hashes = this.#frontier.base64Hashes();
    if (frontier.length !== hashes.length || frontier.some((h, i) => h !== hashes[i])) {
      const from = this.#unconfirmed!;
      throw this.#faultAt(from.segment, from.line, from.seq, head.seq - 1, 'frontier-mismatch',
        `segment.start's frontier differs from the tree recomputed from the records before it: records ${from.seq}..${head.seq - 1} or this frontier were altered`, true);
    }
    this.#nextSegment += 1;
    this.#atSegmentStart = false;
    this.#firstUnsealed ??= { segment: this.#segment, line: 1, seq: head.seq };
  }

  // The log's first segment: segment 0, unless partial allows starting from a later segment's frontier.
  #firstSegment(seq: number, segment: number, origin: string, size: number, frontier: string[]): void {
    if (seq !== 0 || segment !== 0) {
      if (!this.#partial) {
        throw this.#faultAt(this.#segment, 1, 0, Math.max(seq - 1, 0), 'segment-missing',
          `the log starts at segment ${segment}, seq ${seq}: earlier segments are missing (--partial verifies from here)`);
      }
      try {
        this.#frontier = newVerifyFrontier({ size, hashes: frontier });
      } catch (err) {
        throw this.#fault('malformed-line', `segment.start frontier: ${(err as Error).message}`);
      }
    }
    this.#started = true;
    this.#origin = origin;
    this.#startSize = this.#nextSeq = this.#frontier.size;
    this.#nextSegment = segment;
    this.#unconfirmed = { segment: this.#segment, line: 1, seq: this.#startSize };
    const ext = this.#external;
    if (ext !== undefined && ext.size < this.#startSize) {
      throw this.#fault('external-checkpoint-invalid', `--checkpoint is for tree size ${ext.size}, before the first record verified (${this.#startSize})`);
    }
  }

  // Where a segment falls relative to the records read so far.
  #placeSegment(seq: number, segment: number, origin: string): void {
    if (origin !== this.#origin) {
      throw this.#fault('segment-foreign', `segment of log ${JSON.stringify(origin)} in log ${JSON.stringify(this.#origin)}`);
    }
    if (seq < this.#nextSeq || segment < this.#nextSegment) {
      throw this.#faultAt(this.#segment, 1, seq, Math.max(seq, this.#nextSeq - 1), 'segment-duplicate',
        `segment ${segment} starting at seq ${seq} repeats records already read (expected segment ${this.#nextSegment} at seq ${this.#nextSeq})`);
    }
    if (seq > this.#nextSeq) {
      if (segment > this.#nextSegment) {
        const which = segment - 1 === this.#nextSegment ? `segment ${this.#nextSegment} is` : `segments ${this.#nextSegment}..${segment - 1} are`;
        throw this.#faultAt(this.#segment, 1, this.#nextSeq, seq - 1, 'segment-missing', `${which} missing (records ${this.#nextSeq}..${seq - 1})`);
      }
      throw this.#faultAt(this.#segment, 1, this.#nextSeq, seq - 1, 'seq-gap',
        `records ${this.#nextSeq}..${seq - 1} are missing before this segment (cut off the end of the previous segment, or deleted)`);
    }
    if (segment !== this.#nextSegment) throw this.#fault('malformed-line', `segment number ${segment}, expected ${this.#nextSegment}`);
  }

  // §4 and the other records the verifier reads: checkpoint, key.rotate, log.repair; segment.start only first.
  #structural(buf: Buffer, head: RecordHead): void {
    if (head.type === 'segment.start') throw this.#fault('malformed-line', 'a second segment.start in one segment');
    if (head.type === 'checkpoint') {
      const c = checkpointFields(parseObject(buf));
      if (c === undefined) throw this.#fault('malformed-line', 'checkpoint lacks tree_size, root or note');
      const last = this.#lastCheckpoint?.seq ?? -1;
      const problem = judgeCheckpoint(c, head.seq, this.#origin!, last, () => this.#frontier.root(), this.#keys);
      if (problem !== null) throw this.#problem(problem, head.seq - 1);
      this.#keys.sealed(head.seq);
      this.#checkpoints += 1;
      this.#lastCheckpoint = this.#unconfirmed = { segment: this.#segment, line: this.#line, seq: head.seq };
      this.#firstUnsealed = null;
    } else if (head.type === 'key.rotate') {
      const r = parseObject(buf);
      const why = this.#keys.rotate(head.seq, r.new_key, r.old_key_id);
      if (why !== null) throw this.#fault('key-rotate', why);
    } else if (head.type === 'log.repair') {
      const r = parseObject(buf);
      if (typeof r.segment !== 'string' || !isCount(r.truncated_bytes) || typeof r.reason !== 'string') {
        throw this.#fault('malformed-line', 'log.repair lacks segment, truncated_bytes or reason');
      }
    }
  }

  // §6: at the external note's size, its signature and root; past the end of the log, "ahead".
  #judgeExternal(): void {
    const ext = this.#external!;
    const reached = this.#frontier.size === ext.size;
    this.#externalAt = -1;
    const problem = ext.judge(this.#origin!, reached ? this.#frontier.root() : null, this.#frontier.size, this.#keys);
    if (problem === null) return;
    const seqFrom = reached ? this.#startSize : this.#frontier.size;
    throw this.#faultAt(this.#segment, this.#line, seqFrom, Math.max(seqFrom, ext.size - 1), problem.kind, problem.message);
  }

  #wrongSeq(seq: number): void {
    if (seq > this.#nextSeq) {
      this.#gap = { line: this.#line, seq }; // a deletion or a reordering: the next line tells
      return;
    }
    throw this.#faultAt(this.#segment, this.#line, seq, seq, 'seq-repeat',
      `record seq ${seq} appears again where seq ${this.#nextSeq} was expected (duplicated or copied record)`);
  }

  #judgeGap(followingSeq: number | undefined): never {
    const g = this.#gap!;
    if (followingSeq === this.#nextSeq) {
      throw this.#faultAt(this.#segment, g.line, this.#nextSeq, g.seq, 'reordered',
        `records out of order: seq ${g.seq} at line ${g.line} comes before seq ${this.#nextSeq}`);
    }
    throw this.#gapFault(g.line, g.seq);
  }

  #gapFault(line: number, seq: number): FaultSignal {
    const what = seq - 1 === this.#nextSeq ? `record ${this.#nextSeq} is` : `records ${this.#nextSeq}..${seq - 1} are`;
    return this.#faultAt(this.#segment, line, this.#nextSeq, seq - 1, 'seq-gap', `${what} missing before this line (deleted)`);
  }

  // A range problem concerns the records from the first unconfirmed one to `lastSeq`; others this line.
  #problem(p: Problem, lastSeq: number): FaultSignal {
    if (p.range !== true) return this.#fault(p.kind, p.message);
    const from = this.#unconfirmed!;
    return this.#faultAt(from.segment, from.line, from.seq, lastSeq, p.kind, p.message, true);
  }

  #fault(kind: FaultKind, message: string): FaultSignal {
    const seq = this.#nextSeq;
    return this.#faultAt(this.#segment, this.#line, seq, seq, kind, message);
  }

  #faultAt(segment: string, line: number, seqFrom: number, seqTo: number, kind: FaultKind, message: string, detected = false): FaultSignal {
    const fault: VerifyFault = { kind, segment, line, seqFrom, seqTo, message };
    if (detected && (segment !== this.#segment || line !== this.#line)) fault.detectedAt = { segment: this.#segment, line: this.#line };
    return new FaultSignal(fault);
  }
}

function parseObject(buf: Buffer): Record<string, unknown> {
  return JSON.parse(buf.toString('utf8')) as Record<string, unknown>; // isCompactJson and the head made it an object
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
