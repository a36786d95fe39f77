// Signing checkpoints for one log, through key rotations (docs/audit-log-format.md §key.rotate),
// and publishing the newest one as DIR/checkpoint.latest.
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

import { PgsealError } from '../errors.js';
import { formatCheckpoint, signCheckpoint } from './checkpoint.js';
import { emptyRoot } from './merkle.js';
import type { SignerKey } from './note.js';
import type { StoreRecord } from './record.js';
import { auditError } from './segment.js';

/** LATEST_CHECKPOINT is the file name of the newest signed checkpoint note in a log directory. */
export const LATEST_CHECKPOINT = 'checkpoint.latest';

/** Checkpointer signs tree heads of one origin; after a key rotation the next note is signed by both keys, then the old key is erased. */
export class Checkpointer {
  #current: SignerKey;
  #retiring: SignerKey | null = null;

  constructor(
    readonly origin: string,
    signer: SignerKey,
  ) {
    formatCheckpoint({ origin, size: 0, root: emptyRoot() }); // refuse an unusable origin up front
    this.#current = signer;
  }

  /** beginRotation makes next the signing key and returns the key.rotate record to append before the next checkpoint. */
  beginRotation(next: SignerKey): StoreRecord {
    if (this.#retiring !== null) throw new PgsealError('audit_error', 'a key rotation is already waiting for its checkpoint');
    if (next.keyId === this.#current.keyId && next.name === this.#current.name) {
      throw new PgsealError('audit_error', 'the new audit key is the current key');
    }
    const record: StoreRecord = { type: 'key.rotate', new_key: next.verifier().toString(), old_key_id: hex8(this.#current.keyId) };
    this.#retiring = this.#current;
    this.#current = next;
    return record;
  }

  /** sign returns the signed checkpoint note for (size, root); the first note after beginRotation carries the old and the new key's signatures. */
  sign(size: number, root: Buffer): string {
    const retiring = this.#retiring;
    const signers = retiring === null ? [this.#current] : [retiring, this.#current];
    const note = signCheckpoint({ origin: this.origin, size, root }, signers);
    if (retiring !== null) {
      retiring.erase(); // its last duty is done: the dual-signed note hands trust to the new key
      this.#retiring = null;
    }
    return note;
  }
}

/** writeLatestCheckpoint replaces DIR/checkpoint.latest atomically (write a temporary file, then rename), mode 0644. */
export function writeLatestCheckpoint(dir: string, note: string, durable: boolean): void {
  const tmp = join(dir, `${LATEST_CHECKPOINT}.tmp`);
  try {
    const fd = openSync(tmp, 'w', 0o644);
    try {
      fchmodSync(fd, 0o644); // a leftover temporary file keeps its old mode otherwise
      const data = Buffer.from(note);
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off);
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(dir, LATEST_CHECKPOINT));
  } catch (err) {
    throw auditError(`write ${LATEST_CHECKPOINT}`, err);
  }
}

function hex8(id: number): string {
  return id.toString(16).padStart(8, '0');
}
