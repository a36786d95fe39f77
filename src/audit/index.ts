// Public surface of src/audit: records, the sealed store, the Merkle tree, signed notes and checkpoints, the verifier.
export {
  HASH_SIZE,
  MerkleError,
  MerkleFrontier,
  decodeHash,
  emptyRoot,
  leafHash,
  nodeHash,
  rootFromLeaves,
  type FrontierJSON,
} from './merkle.js';
export {
  ProofError,
  RootMismatchError,
  proveConsistency,
  proveInclusion,
  verifyConsistency,
  verifyInclusion,
  type HashReader,
  type HashSource,
} from './merkle-proof.js';
export {
  MAX_NOTE_SIZE,
  MAX_SIGNATURES,
  NoteError,
  SignerKey,
  VerifierKey,
  formatSignerKey,
  formatVerifierKey,
  generateSignerKey,
  isValidKeyName,
  keyId,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  type NoteErrorReason,
  type NoteSignature,
  type NoteSigner,
  type NoteVerifier,
  type OpenedNote,
} from './note.js';
export {
  CheckpointError,
  formatCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
  type Checkpoint,
  type CheckpointInput,
  type OpenedCheckpoint,
} from './checkpoint.js';
export type { AuditEvent, AuditParam, AuditSink, CertificateInfo, ClientAddress, TlsInfo } from './events.js';
export { SealedLog, type SealedLogOptions } from './store.js';
export { NullSink } from './null-sink.js';
export { LATEST_CHECKPOINT } from './checkpointer.js';
export { listSegments, parseSegmentName, segmentName } from './segment.js';
export { encodeRecord, MAX_LINE_BYTES, type LogRecord, type StoreRecord } from './record.js';
export { formatFault, formatReport, verifyLog, type FaultKind, type VerifyFault, type VerifyOptions, type VerifyReport } from './verify.js';
export { openLog, type SegmentSource } from './log-reader.js';
export { checkProof, makeConsistencyProof, makeInclusionProof, type ConsistencyProof, type InclusionProof } from './verify-proof.js';
