// Recovery at start-up: continue the tree from the previous run's last segment. Its
// segment.start carries the frontier of everything before it, so only that segment is read.
import { isUtf8 } from 'node:buffer';
import { closeSync, fsyncSync, ftruncateSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

import { PgsealError } from '../errors.js';
import { MerkleFrontier, leafHash } from './merkle.js';
import { zeroTail } from './log-reader-lines.js';
import { MAX_LINE_BYTES } from './record.js';
import { auditError, listSegments, parseSegmentName } from './segment.js';

/** LogRepair describes what recovery cut off the previous run's last segment (the log.repair record's fields). */
export type LogRepair = { segment: string; truncated_bytes: number; reason: 'torn final line' | 'empty segment removed' };

/** RecoveredLog is the state a new run continues from. */
export type RecoveredLog = {
  /** segment is the number of the next segment to create (0 for a new log). */
  segment: number;
  /** frontier covers every complete record of the log. */
  frontier: MerkleFrontier;
  /** lastCheckpoint is the seq of the last checkpoint record seen, or the last segment's first seq - 1 if it holds none (-1 for a new log). */
  lastCheckpoint: number;
  /** repairs lists what was cut off: an empty last segment removed, and/or a torn final line truncated. */
  repairs: LogRepair[];
};

type Header = { seq: number; type: string; record: Record<string, unknown> };

/** recoverLog reads the last segment of the log in dir, repairs a torn final line, and throws audit_error on any other damage. */
export function recoverLog(dir: string, origin: string): RecoveredLog {
  const names = listSegments(dir);
  const repairs: LogRepair[] = [];
  while (names.length > 0) {
    const name = names[names.length - 1]!;
    const file = readSegment(dir, name);
    // A mapped segment ends in zero-filled reserved space until it is closed (mapped-segment.ts):
    // no record, so it is cut without a log.repair; whatever precedes it is judged as usual.
    const data = file.subarray(0, file.length - zeroTail(file));
    const cut = data.lastIndexOf(0x0a) + 1; // everything after the last '\n' is a torn line
    if (cut === 0) {
      // Crashed between creating the file and completing its segment.start: it holds no record.
      removeSegment(dir, name);
      repairs.push({ segment: name, truncated_bytes: data.length, reason: 'empty segment removed' });
      names.pop();
      continue;
    }
    const recovered = replaySegment(name, data.subarray(0, cut), origin);
    if (cut < file.length) truncateSegment(dir, name, cut);
    if (cut < data.length) repairs.push({ segment: name, truncated_bytes: data.length - cut, reason: 'torn final line' });
    return { ...recovered, repairs };
  }
  return { segment: 0, frontier: new MerkleFrontier(), lastCheckpoint: -1, repairs };
}

// Replays whole lines: checks them, hashes them into the frontier from segment.start, and finds the last checkpoint.
function replaySegment(name: string, data: Buffer, origin: string): Omit<RecoveredLog, 'repairs'> {
  const firstSeq = parseSegmentName(name)!;
  let frontier: MerkleFrontier | undefined;
  let segment = 0;
  let lastCheckpoint = firstSeq - 1;
  let start = 0;
  for (let n = 1; start < data.length; n++) {
    const end = data.indexOf(0x0a, start);
    const line = data.subarray(start, end);
    const fail = (why: string) => new PgsealError('audit_error', `corrupt audit segment ${name} line ${n}: ${why}`);
    const h = parseHeader(line, fail);
    if (h.seq !== firstSeq + n - 1) throw fail(`seq ${h.seq} where ${firstSeq + n - 1} was expected`);
    if (n === 1) {
      ({ frontier, segment } = readSegmentStart(h, origin, fail));
    } else if (h.type === 'segment.start') {
      throw fail('a second segment.start');
    } else if (h.type === 'checkpoint') {
      lastCheckpoint = h.seq;
    }
    frontier!.append(leafHash(line));
    start = end + 1;
  }
  return { segment: segment + 1, frontier: frontier!, lastCheckpoint };
}

// The first record of a segment: its number, and the frontier of the tree before it (docs §segment.start).
function readSegmentStart(h: Header, origin: string, fail: (why: string) => Error): { frontier: MerkleFrontier; segment: number } {
  const r = h.record;
  if (h.type !== 'segment.start') throw fail(`the first record is ${h.type}, not segment.start`);
  if (r.origin !== origin) throw fail(`log origin ${JSON.stringify(r.origin)} is not the configured ${JSON.stringify(origin)}`);
  if (r.tree_size !== h.seq) throw fail('segment.start tree_size is not its seq');
  if (!Number.isSafeInteger(r.segment) || (r.segment as number) < 0) throw fail('segment.start segment is not a segment number');
  try {
    return { frontier: MerkleFrontier.fromJSON({ size: r.tree_size, hashes: r.frontier }), segment: r.segment as number };
  } catch (err) {
    throw fail(`segment.start frontier: ${(err as Error).message}`);
  }
}

// docs §What verify checks, 2: a complete line of valid UTF-8 JSON whose first keys are seq, ts and type.
function parseHeader(line: Buffer, fail: (why: string) => Error): Header {
  if (line.length > MAX_LINE_BYTES) throw fail('line longer than 16 MiB');
  if (line.includes(0x0d)) throw fail('carriage return in line');
  if (!isUtf8(line)) throw fail('not valid UTF-8');
  let record: unknown;
  try {
    record = JSON.parse(line.toString('utf8'));
  } catch {
    throw fail('not valid JSON');
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) throw fail('not a JSON object');
  const r = record as Record<string, unknown>;
  if (Object.keys(r).slice(0, 3).join(',') !== 'seq,ts,type') throw fail('keys do not start with seq, ts, type');
  if (!Number.isSafeInteger(r.seq) || typeof r.ts !== 'string' || typeof r.type !== 'string') throw fail('bad seq, ts or type');
  return { seq: r.seq as number, type: r.type as string, record: r };
}

function readSegment(dir: string, name: string): Buffer {
  try {
    return readFileSync(join(dir, name));
  } catch (err) {
    throw auditError(`read ${name}`, err);
  }
}

function truncateSegment(dir: string, name: string, length: number): void {
  try {
    const fd = openSync(join(dir, name), 'r+');
    try {
      ftruncateSync(fd, length);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw auditError(`truncate ${name}`, err);
  }
}

function removeSegment(dir: string, name: string): void {
  try {
    unlinkSync(join(dir, name));
  } catch (err) {
    throw auditError(`remove ${name}`, err);
  }
}
