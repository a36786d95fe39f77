// What `verify` reports (docs/audit-log-format.md §What verify checks): the verified tree, or
// the first fault with the segment, line and seq range it concerns.

/** FaultKind names what is wrong with a log; the first fault found decides. */
export type FaultKind =
  | 'malformed-line' // not UTF-8 / JSON / the fixed head, too long, or a structural record with bad fields
  | 'torn-line' // a line without its '\n' that is followed by more of the log
  | 'seq-gap' // records missing: deleted, or cut off the end of a segment
  | 'seq-repeat' // a record whose seq was already read: duplicated or copied back
  | 'reordered' // records out of order
  | 'segment-name' // a segment file name that does not parse or does not match its first seq
  | 'segment-missing' // a whole segment (or the start of the log) is missing
  | 'segment-duplicate' // a segment repeating records already read (a copy under another name)
  | 'segment-foreign' // a segment of another log (other origin)
  | 'frontier-mismatch' // segment.start's frontier differs from the recomputed tree: records before it (or it) were altered
  | 'checkpoint-root-mismatch' // records before a checkpoint were edited, inserted or deleted
  | 'checkpoint-signature' // a note not validly signed by the key(s) it needs: forged, altered, or the wrong --key
  | 'checkpoint-key-validity' // signed by a known key outside its validity (key.rotate rules)
  | 'checkpoint-shrink' // a checkpoint whose tree is not larger than the previous one's
  | 'checkpoint-mismatch' // a genuine note that does not belong here (other origin or size), or record fields that differ from it
  | 'key-rotate' // an invalid key.rotate record
  | 'external-checkpoint-invalid' // --checkpoint note does not verify, is of another log, or precedes the verified range
  | 'external-checkpoint-ahead' // --checkpoint is beyond the end of the log: truncated tail or rollback
  | 'external-checkpoint-fork' // --checkpoint's root differs from the log's at that size: forked history
  | 'unsealed'; // records after the last checkpoint (a fault only with strict)

/** VerifyFault locates the first fault: the segment and line of the altered data and the seq range concerned. */
export interface VerifyFault {
  kind: FaultKind;
  /** segment is the segment file (or archive member) where the altered data starts. */
  segment: string;
  /** line is the 1-based line in segment. */
  line: number;
  /** seqFrom..seqTo (inclusive) are the records concerned; a range when the change can only be bounded by two commitments. */
  seqFrom: number;
  seqTo: number;
  message: string;
  /** detectedAt is where the contradiction was found, when that is elsewhere (a later checkpoint or segment.start). */
  detectedAt?: { segment: string; line: number };
}

/** VerifyReport is the outcome of verifying a log. */
export interface VerifyReport {
  ok: boolean;
  origin: string | null;
  /** records is the number of complete records read and checked. */
  records: number;
  segments: number;
  /** startSize is the tree size the verification started from (0 unless partial). */
  startSize: number;
  treeSize: number;
  /** root is the base64 root hash of the first treeSize records. */
  root: string;
  checkpoints: number;
  /** lastCheckpointSize is the tree size of the last valid checkpoint (0 if none). */
  lastCheckpointSize: number;
  /** unsealed counts records after the last checkpoint record: no signature covers them yet. */
  unsealed: number;
  /** torn is an unterminated final line at the very end of the log (a crash mid-write, repaired by the store on its next start). */
  torn?: { segment: string; bytes: number };
  /** reserved is the zero-filled space at the end of the last segment: pgseal has it open, or stopped without closing it. */
  reserved?: { segment: string; bytes: number };
  /** externalCheckpoint is the size of the --checkpoint note, when it was given and matched. */
  externalCheckpoint?: { size: number };
  fault?: VerifyFault;
}

/** formatReport renders a report as one human-readable line. */
export function formatReport(r: VerifyReport): string {
  if (r.fault !== undefined) return formatFault(r.fault);
  const parts = [
    `intact: ${r.records} records in ${r.segments} segment${r.segments === 1 ? '' : 's'}`,
    `tree size ${r.treeSize}${r.startSize > 0 ? ` (verified from ${r.startSize}: earlier segments not given)` : ''}`,
    `root ${r.root}`,
    `${r.checkpoints} checkpoint${r.checkpoints === 1 ? '' : 's'} (last at size ${r.lastCheckpointSize})`,
  ];
  if (r.externalCheckpoint !== undefined) parts.push(`external checkpoint at size ${r.externalCheckpoint.size} matches`);
  parts.push(
    r.unsealed === 0
      ? 'no unsealed records'
      : `${r.unsealed} unsealed record${r.unsealed === 1 ? '' : 's'} after the last checkpoint (not covered by any signature: edits there cannot be detected)`,
  );
  if (r.torn !== undefined) parts.push(`torn final line of ${r.torn.bytes} bytes in ${r.torn.segment} (crash mid-write)`);
  if (r.reserved !== undefined) parts.push(`${r.reserved.bytes} zero bytes of reserved space end ${r.reserved.segment} (the segment is open, or pgseal stopped without closing it)`);
  return parts.join(', ');
}

/** formatFault renders a fault as one line: kind, segment, line, seq range, what happened. */
export function formatFault(f: VerifyFault): string {
  const seq = f.seqFrom === f.seqTo ? `seq ${f.seqFrom}` : `seq ${f.seqFrom}..${f.seqTo}`;
  const at = f.detectedAt === undefined ? '' : ` (detected at ${f.detectedAt.segment} line ${f.detectedAt.line})`;
  const verdict = f.kind === 'unsealed' ? 'NOT SEALED' : f.kind === 'external-checkpoint-invalid' ? 'INVALID' : 'TAMPERED';
  return `${verdict} ${f.kind}: ${f.segment} line ${f.line}, ${seq}: ${f.message}${at}`;
}
