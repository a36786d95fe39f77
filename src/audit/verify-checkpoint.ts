// Judging signed checkpoints (docs/audit-log-format.md §What verify checks, 4 and 6): checkpoint
// records inside the log, and a note kept elsewhere (--checkpoint). Pure: the caller supplies the
// recomputed root and turns a Problem into a located fault.
import { openCheckpoint, parseCheckpoint, type Checkpoint } from './checkpoint.js';
import { isTreeSize } from './merkle.js';
import { MAX_NOTE_SIZE } from './note.js';
import { describeKey, type KeyChain } from './verify-keys.js';
import type { FaultKind } from './verify-report.js';

/** Problem is a fault without its location; `range` marks faults that concern the records before the checkpoint. */
export type Problem = { kind: FaultKind; message: string; range?: boolean };

/** CheckpointFields are a checkpoint record's fields after seq, ts and type. */
export type CheckpointFields = { tree_size: number; root: string; note: string };

/** checkpointFields returns the record's fields if they have the right types, or undefined. */
export function checkpointFields(r: Record<string, unknown>): CheckpointFields | undefined {
  const { tree_size, root, note } = r;
  if (!isTreeSize(tree_size) || typeof root !== 'string' || typeof note !== 'string') return undefined;
  return { tree_size, root, note };
}

/**
 * judgeCheckpoint checks a checkpoint record at seq: a note signed by the keys valid at its size,
 * of this log's origin, larger than the last checkpoint, of size seq, whose root is the recomputed
 * root of the first seq records, and record fields equal to the note's.
 */
export function judgeCheckpoint(
  c: CheckpointFields,
  seq: number,
  origin: string,
  lastSize: number,
  root: () => Buffer,
  keys: KeyChain,
): Problem | null {
  const opened = openNote(c.note, keys, 'checkpoint-signature');
  if ('kind' in opened) return opened;
  const note = opened.checkpoint;
  if (note.origin !== origin) {
    return { kind: 'checkpoint-mismatch', message: `checkpoint note is for log ${JSON.stringify(note.origin)}, not ${JSON.stringify(origin)}` };
  }
  if (note.size <= lastSize) {
    return { kind: 'checkpoint-shrink', message: `checkpoint note is for tree size ${note.size}, not larger than the previous checkpoint's ${lastSize}` };
  }
  if (note.size !== seq) {
    return {
      kind: 'checkpoint-root-mismatch',
      range: true,
      message: `records were inserted or deleted: the signed note covers ${note.size} records, but ${seq} records precede this checkpoint`,
    };
  }
  if (c.tree_size !== seq) return { kind: 'checkpoint-mismatch', message: `the record's tree_size ${c.tree_size} is not its seq ${seq}` };
  const computed = root();
  if (!computed.equals(note.root)) {
    return {
      kind: 'checkpoint-root-mismatch',
      range: true,
      message: `a record in this range was edited, inserted or deleted: root recomputed over the first ${seq} records ${computed.toString('base64')} != signed root ${note.root.toString('base64')}`,
    };
  }
  if (c.root !== note.root.toString('base64')) return { kind: 'checkpoint-mismatch', message: 'the record\'s root field differs from its signed note' };
  return null;
}

/** ExternalCheckpoint is a note kept outside the log (--checkpoint), checked when the log reaches its size. */
export class ExternalCheckpoint {
  private constructor(
    readonly text: string,
    readonly body: Checkpoint,
  ) {}

  /** parse reads the note's body (the signature is judged later, with the keys valid at its size). */
  static parse(text: string): ExternalCheckpoint | Problem {
    try {
      if (Buffer.byteLength(text) > MAX_NOTE_SIZE) throw new Error('note is larger than 1 MiB');
      const split = text.lastIndexOf('\n\n');
      if (split < 0) throw new Error('no blank line before the signatures');
      return new ExternalCheckpoint(text, parseCheckpoint(text.slice(0, split + 1)));
    } catch (err) {
      return { kind: 'external-checkpoint-invalid', message: `--checkpoint is not a signed checkpoint note: ${(err as Error).message}` };
    }
  }

  /** size is the note's tree size. */
  get size(): number {
    return this.body.size;
  }

  /** judge verifies the note against the keys and, when the log reaches its size, the recomputed root there. */
  judge(origin: string, root: Buffer | null, logSize: number, keys: KeyChain): Problem | null {
    const opened = openNote(this.text, keys, 'external-checkpoint-invalid');
    if ('kind' in opened) return { ...opened, message: `--checkpoint: ${opened.message}` };
    const note = opened.checkpoint;
    if (note.origin !== origin) {
      return { kind: 'external-checkpoint-invalid', message: `--checkpoint is for log ${JSON.stringify(note.origin)}, not ${JSON.stringify(origin)}` };
    }
    if (root === null) {
      return {
        kind: 'external-checkpoint-ahead',
        message: `the log ends at tree size ${logSize} but --checkpoint signs tree size ${note.size}: records ${logSize}..${note.size - 1} were cut off (truncated tail or rollback)`,
      };
    }
    if (!root.equals(note.root)) {
      return {
        kind: 'external-checkpoint-fork',
        message: `forked history: at tree size ${note.size} the log's root is ${root.toString('base64')}, --checkpoint signs ${note.root.toString('base64')}`,
      };
    }
    return null;
  }
}

// Opens a note with every known key and applies the key-validity rules at the note's size.
function openNote(text: string, keys: KeyChain, kind: FaultKind): { checkpoint: Checkpoint } | Problem {
  let opened: ReturnType<typeof openCheckpoint>;
  try {
    opened = openCheckpoint(text, keys.verifiers);
  } catch (err) {
    const signers = signerNames(text);
    const by = signers.length === 0 ? '' : `; signed by ${signers.join(', ')}`;
    return {
      kind,
      message: `note does not verify (${(err as Error).message}${by}; trusted: ${describeKey(keys.current)}): forged or altered, or the wrong --key`,
    };
  }
  const problem = keys.check(opened.checkpoint.size, opened.verifiedBy);
  if (problem !== null) return kind === 'checkpoint-signature' ? problem : { kind, message: problem.message };
  return { checkpoint: opened.checkpoint };
}

// The name+keyid of each signature line, for messages (unverified: as the note claims).
function signerNames(text: string): string[] {
  const names: string[] = [];
  for (const line of text.slice(text.lastIndexOf('\n\n') + 2).split('\n')) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    const raw = m === null ? undefined : Buffer.from(m[2]!, 'base64');
    if (m !== null && raw !== undefined && raw.length >= 4 && names.length < 4) {
      names.push(describeKey({ name: m[1]!, keyId: raw.readUInt32BE(0) }));
    }
  }
  return names;
}
