// verifyLog: a streaming, bounded-memory verifier of the audit log format
// (docs/audit-log-format.md). It reads segments in order, line by line (a line is at most
// 16 MiB), and keeps only the Merkle frontier and O(1) state, never the log itself.
import { MAX_LINE_BYTES } from './record.js';
import type { SegmentSource } from './log-reader.js';
import { LineSplitter, LineTooLongError } from './log-reader-lines.js';
import type { VerifierKey } from './note.js';
import { FaultSignal, LogVerifier } from './verify-state.js';
import type { VerifyReport } from './verify-report.js';

export { formatFault, formatReport, type FaultKind, type VerifyFault, type VerifyReport } from './verify-report.js';

/** VerifyOptions configures verifyLog. */
export interface VerifyOptions {
  /** trustedKey signs the log's first checkpoints; later keys are trusted through key.rotate records. */
  trustedKey: VerifierKey;
  /** externalCheckpoint is a signed checkpoint note kept elsewhere: catches a truncated tail, a rollback or a fork. */
  externalCheckpoint?: string;
  /** strict makes unsealed records (after the last checkpoint) and a torn final line faults. */
  strict?: boolean;
  /** partial lets the log start at a later segment, whose segment.start frontier is taken as the starting point. */
  partial?: boolean;
}

/**
 * verifyLog checks a log's segments (given in name order, as openLog yields them) and returns a
 * report: ok, or the first fault with its segment, line, seq range and kind. Throws only for I/O
 * errors (PgsealError 'io' or Node errors), never for the log's content.
 */
export async function verifyLog(
  sources: Iterable<SegmentSource> | AsyncIterable<SegmentSource>,
  options: VerifyOptions,
): Promise<VerifyReport> {
  const v = new LogVerifier(options);
  const onLine = (buf: Buffer, start: number, end: number): void => v.line(buf, start, end);
  try {
    v.start();
    for await (const source of sources) {
      v.beginSegment(source.name);
      const lines = new LineSplitter(MAX_LINE_BYTES);
      try {
        for await (const chunk of source.open()) lines.split(chunk, onLine);
      } catch (err) {
        if (err instanceof LineTooLongError) v.lineTooLong(err.limit);
        throw err;
      }
      v.endSegment(lines.end());
    }
    return v.finish();
  } catch (err) {
    if (err instanceof FaultSignal) return v.report(err.fault);
    throw err;
  }
}
