// C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): the note text that commits to a tree head,
// signed and opened as a C2SP signed note.
import { PgsealError } from '../errors.js';
import { HASH_SIZE, decodeBase64, isTreeSize } from './merkle.js';
import { openNote, signNote, type NoteSignature, type NoteSigner, type NoteVerifier } from './note.js';

/** Checkpoint is a tree head: log origin, tree size, root hash and optional extension lines. */
export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
  extensions: string[];
}

/** CheckpointInput is a Checkpoint whose extension lines may be left out. */
export type CheckpointInput = Omit<Checkpoint, 'extensions'> & { extensions?: readonly string[] };

/** OpenedCheckpoint is a verified checkpoint with the note signatures that verified and those from unknown keys. */
export interface OpenedCheckpoint {
  checkpoint: Checkpoint;
  text: string;
  verifiedBy: NoteSignature[];
  unverified: NoteSignature[];
}

/** CheckpointError reports a checkpoint body that does not follow tlog-checkpoint. */
export class CheckpointError extends PgsealError {
  constructor(message: string) {
    super('audit_error', message);
  }
}

const SIZE = /^(0|[1-9][0-9]*)$/; // tlog-checkpoint: decimal, no leading zeroes
const CONTROL = /[\u0000-\u001f]/; // no line may hold a newline or other control (signed-note §Format)

/** formatCheckpoint returns `origin\nsize\nbase64(root)\n` followed by one line per extension. */
export function formatCheckpoint(input: CheckpointInput): string {
  const { origin, size, root } = input;
  const extensions = input.extensions ?? [];
  checkLine(origin, 'origin');
  extensions.forEach((e, i) => checkLine(e, `extension line ${i + 1}`));
  if (!isTreeSize(size)) throw new CheckpointError('checkpoint size must be a non-negative safe integer');
  if (!Buffer.isBuffer(root) || root.length !== HASH_SIZE) throw new CheckpointError(`checkpoint root must be ${HASH_SIZE} bytes`);
  return [origin, String(size), root.toString('base64'), ...extensions].map((line) => `${line}\n`).join('');
}

/** parseCheckpoint parses a checkpoint body strictly: non-empty lines, canonical size and a canonical 32-byte base64 root. */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw new CheckpointError('checkpoint must end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new CheckpointError('checkpoint needs origin, size and root lines');
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  checkLine(origin, 'origin');
  extensions.forEach((e, i) => checkLine(e, `extension line ${i + 1}`));
  const size = Number(sizeText);
  if (!SIZE.test(sizeText) || !isTreeSize(size)) {
    throw new CheckpointError('checkpoint size must be a canonical decimal safe integer');
  }
  return { origin, size, root: parseRoot(rootText), extensions };
}

/** signCheckpoint formats (or, given text, validates) a checkpoint body and signs it as a note. */
export function signCheckpoint(body: string | CheckpointInput, signers: readonly NoteSigner[]): string {
  const text = typeof body === 'string' ? body : formatCheckpoint(body);
  parseCheckpoint(text);
  return signNote(text, signers);
}

/** openCheckpoint verifies a signed checkpoint note and parses its body; with expectedOrigin, the origin must match. */
export function openCheckpoint(
  note: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
  expectedOrigin?: string,
): OpenedCheckpoint {
  const opened = openNote(note, verifiers);
  const checkpoint = parseCheckpoint(opened.text);
  if (expectedOrigin !== undefined && checkpoint.origin !== expectedOrigin) {
    throw new CheckpointError(`checkpoint origin ${JSON.stringify(checkpoint.origin)} is not ${JSON.stringify(expectedOrigin)}`);
  }
  return { checkpoint, ...opened };
}

function parseRoot(text: string): Buffer {
  const root = decodeBase64(text);
  if (root?.length !== HASH_SIZE) throw new CheckpointError(`checkpoint root must be canonical base64 of ${HASH_SIZE} bytes`);
  return root;
}

function checkLine(line: string, what: string): void {
  if (typeof line !== 'string' || line === '' || CONTROL.test(line)) {
    throw new CheckpointError(`checkpoint ${what} must be a non-empty line without control characters`);
  }
}
