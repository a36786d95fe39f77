// Which keys may sign a checkpoint of a given tree size (docs/audit-log-format.md §key.rotate):
// the trusted key from --key, then each key.rotate's new key. The checkpoint after a key.rotate
// is signed by both keys; the old key is valid up to that checkpoint's tree_size, the new key for
// tree sizes above the key.rotate record's seq.
import { parseVerifierKey, type NoteSignature, type VerifierKey } from './note.js';

/** KeyProblem says why a checkpoint's signatures are not acceptable at its tree size. */
export type KeyProblem = { kind: 'checkpoint-signature' | 'checkpoint-key-validity'; message: string };

type KeyEntry = { key: VerifierKey; after: number; until: number }; // valid for after < tree size <= until

/** KeyChain follows key rotations from a trusted key and judges checkpoint signatures by tree size. */
export class KeyChain {
  readonly #entries: KeyEntry[];
  #current: KeyEntry;
  #rotation: { old: KeyEntry; next: KeyEntry } | null = null;

  constructor(trusted: VerifierKey) {
    this.#current = { key: trusted, after: -1, until: Infinity };
    this.#entries = [this.#current];
  }

  /** verifiers lists every key seen, so that a note signed by a retired key is recognised as such. */
  get verifiers(): VerifierKey[] {
    return this.#entries.map((e) => e.key);
  }

  /** current is the key that signs the next checkpoints (the new key once a rotation is under way). */
  get current(): VerifierKey {
    return (this.#rotation?.next ?? this.#current).key;
  }

  /** rotate applies a key.rotate record at seq; returns why it is invalid, or null. */
  rotate(seq: number, newKey: unknown, oldKeyId: unknown): string | null {
    if (this.#rotation !== null) return 'a second key.rotate before the checkpoint that completes the first';
    if (oldKeyId !== hex8(this.#current.key.keyId)) {
      return `old_key_id ${JSON.stringify(oldKeyId)} is not the current key ${describeKey(this.#current.key)}`;
    }
    let key: VerifierKey;
    try {
      key = parseVerifierKey(typeof newKey === 'string' ? newKey : '');
    } catch (err) {
      return `new_key is not a verifier key: ${(err as Error).message}`;
    }
    if (this.#find(key.name, key.keyId) !== undefined) return `new_key ${describeKey(key)} is already known`;
    const next = { key, after: seq, until: Infinity };
    this.#entries.push(next);
    this.#rotation = { old: this.#current, next };
    return null;
  }

  /** check judges the keys that verified a checkpoint note of tree size `size`; returns the problem, or null. */
  check(size: number, verifiedBy: readonly NoteSignature[]): KeyProblem | null {
    const signers: KeyEntry[] = [];
    for (const sig of verifiedBy) {
      const e = this.#find(sig.name, sig.keyId)!;
      signers.push(e);
      if (size <= e.after || size > e.until) {
        return { kind: 'checkpoint-key-validity', message: `signed by ${describeKey(e.key)}, which is valid only for tree sizes ${range(e)}, not ${size}` };
      }
    }
    const required = this.#rotation === null ? [this.#current] : [this.#rotation.old, this.#rotation.next];
    for (const r of required) {
      if (!signers.includes(r)) {
        const why = this.#rotation === null ? '' : ' (the checkpoint after a key.rotate must be signed by the old and the new key)';
        return { kind: 'checkpoint-signature', message: `not signed by ${describeKey(r.key)}${why}` };
      }
    }
    return null;
  }

  /** sealed records a verified checkpoint of tree size `size`: it completes a pending rotation. */
  sealed(size: number): void {
    if (this.#rotation === null) return;
    this.#rotation.old.until = size;
    this.#current = this.#rotation.next;
    this.#rotation = null;
  }

  #find(name: string, keyId: number): KeyEntry | undefined {
    return this.#entries.find((e) => e.key.name === name && e.key.keyId === keyId);
  }
}

/** describeKey names a key as name+hex8 key ID, as in vkey text. */
export function describeKey(key: { name: string; keyId: number }): string {
  return `${key.name}+${hex8(key.keyId)}`;
}

function range(e: KeyEntry): string {
  const from = e.after + 1;
  return e.until === Infinity ? `>= ${from}` : `${from}..${e.until}`;
}

function hex8(id: number): string {
  return id.toString(16).padStart(8, '0');
}
