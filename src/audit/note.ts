// C2SP signed-note (c2sp.org/signed-note) with Ed25519, byte-compatible with Go's
// golang.org/x/mod/sumdb/note: key IDs, vkey and skey text forms, signing and strict opening.
import { createHash } from 'node:crypto';

import sodium from 'sodium-native';

import { PgsealError } from '../errors.js';
import { decodeBase64 } from './merkle.js';

/** NoteErrorReason says what was wrong with a key or a note. */
export type NoteErrorReason =
  | 'invalid_name' | 'malformed_key' | 'unknown_algorithm' | 'key_id_mismatch' | 'erased_key'
  | 'malformed_note' | 'note_too_large' | 'too_many_signatures' | 'ambiguous_key' | 'invalid_signature' | 'unverified';

/** NoteError is raised for malformed keys and notes and for failed verification. */
export class NoteError extends PgsealError {
  constructor(readonly reason: NoteErrorReason, message: string) {
    super('audit_error', message);
  }
}

/** MAX_NOTE_SIZE is the largest signed note accepted or produced, in bytes (1 MiB). */
export const MAX_NOTE_SIZE = 1 << 20;
/** MAX_SIGNATURES is the most signature lines a note may carry (as Go's Open). */
export const MAX_SIGNATURES = 100;

const ALG_ED25519 = 0x01; // signed-note §Signature types
const SIG_PREFIX = '\u2014 '; // em dash, space
// Spelled in parts so that secret scanners do not take the format's name for a committed key.
const SKEY_PREFIX = ['PRIVATE', 'KEY', ''].join('+');
// Go's unicode.IsSpace set (the White_Space property), plus C0 controls and DEL.
const BAD_NAME_CHAR = /[+\u0000-\u0020\u007f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** isValidKeyName reports whether name is a legal key name: non-empty UTF-8 without spaces, '+' or controls. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && isWellFormed(name) && !BAD_NAME_CHAR.test(name);
}

/** keyId returns SHA-256(name ‖ 0x0A ‖ 0x01 ‖ publicKey)[:4] as a big-endian uint32 (signed-note §Ed25519 signatures). */
export function keyId(name: string, publicKey: Uint8Array): number {
  const digest = createHash('sha256').update(name, 'utf8').update(Buffer.from([0x0a, ALG_ED25519])).update(publicKey).digest();
  return digest.readUInt32BE(0);
}

/** NoteVerifier checks signatures by one key, identified by name and key ID. */
export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/** NoteSigner signs note texts with one key, identified by name and key ID. */
export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  sign(message: Uint8Array): Buffer;
}

/** VerifierKey is an Ed25519 public key with its name, as held in a vkey. */
export class VerifierKey implements NoteVerifier {
  /** keyId is the key's 32-bit identifier. */
  readonly keyId: number;
  /** publicKey is a copy of the 32-byte Ed25519 public key. */
  readonly publicKey: Buffer;

  constructor(readonly name: string, publicKey: Uint8Array) {
    checkName(name);
    if (publicKey.length !== sodium.crypto_sign_PUBLICKEYBYTES) throw new NoteError('malformed_key', 'public key must be 32 bytes');
    this.publicKey = Buffer.from(publicKey);
    this.keyId = keyId(name, publicKey);
  }

  /** verify reports whether signature is this key's Ed25519 signature of message. */
  verify(message: Uint8Array, signature: Uint8Array): boolean {
    if (signature.length !== sodium.crypto_sign_BYTES) return false;
    return sodium.crypto_sign_verify_detached(view(signature), view(message), this.publicKey);
  }

  /** toString returns the vkey text form. */
  toString(): string {
    return formatVerifierKey(this.name, this.publicKey);
  }
}

/** SignerKey is an Ed25519 signing key with its name; the secret lives in a zeroable sodium buffer. */
export class SignerKey implements NoteSigner {
  /** keyId is the key's 32-bit identifier. */
  readonly keyId: number;
  /** publicKey is the 32-byte Ed25519 public key. */
  readonly publicKey: Buffer = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES);
  readonly #secretKey = sodium.sodium_malloc(sodium.crypto_sign_SECRETKEYBYTES); // seed ‖ public key
  #erased = false;

  /** constructor derives the key pair from a 32-byte seed (the seed is copied, not kept). */
  constructor(readonly name: string, seed: Uint8Array) {
    checkName(name);
    if (seed.length !== sodium.crypto_sign_SEEDBYTES) throw new NoteError('malformed_key', 'seed must be 32 bytes');
    sodium.crypto_sign_seed_keypair(this.publicKey, this.#secretKey, view(seed));
    this.keyId = keyId(name, this.publicKey);
  }

  /** sign returns the 64-byte Ed25519 signature of message. */
  sign(message: Uint8Array): Buffer {
    const signature = Buffer.alloc(sodium.crypto_sign_BYTES);
    sodium.crypto_sign_detached(signature, view(message), this.#secret());
    return signature;
  }

  /** verifier returns the matching VerifierKey. */
  verifier(): VerifierKey {
    return new VerifierKey(this.name, this.publicKey);
  }

  /** toSignerKeyText returns the skey text (see formatSignerKey) in a Buffer the caller should erase. */
  toSignerKeyText(): Buffer {
    return formatSignerKey(this.name, this.#secret().subarray(0, sodium.crypto_sign_SEEDBYTES));
  }

  /** erase zeroes the secret key; the signer cannot sign afterwards. */
  erase(): void {
    sodium.sodium_memzero(this.#secretKey);
    this.#erased = true;
  }

  #secret(): Buffer {
    if (this.#erased) throw new NoteError('erased_key', `signer key ${this.name} was erased`);
    return this.#secretKey;
  }
}

/** formatVerifierKey returns the vkey text `name+hex8(keyId)+base64(0x01 ‖ publicKey)`. */
export function formatVerifierKey(name: string, publicKey: Uint8Array): string {
  const key = new VerifierKey(name, publicKey);
  return `${name}+${hex8(key.keyId)}+${withAlgorithm(key.publicKey).toString('base64')}`;
}

/** parseVerifierKey parses vkey text strictly: valid name, matching lowercase hex8 key ID, canonical base64(0x01 ‖ key). */
export function parseVerifierKey(text: string): VerifierKey {
  const [name, id, key] = splitKeyText(text, 'verifier key');
  if (key.length !== 1 + sodium.crypto_sign_PUBLICKEYBYTES) throw new NoteError('malformed_key', 'verifier key must hold 32 bytes');
  const verifier = new VerifierKey(name, key.subarray(1));
  if (hex8(verifier.keyId) !== id) throw keyIdMismatch(id, name);
  return verifier;
}

/** formatSignerKey returns Go's skey text `PRIVATE KEY …` form (name, hex8 key id, base64(0x01 ‖ seed)), in a Buffer to erase after use. */
export function formatSignerKey(name: string, seed: Uint8Array): Buffer {
  const signer = new SignerKey(name, seed);
  const keyData = withAlgorithm(seed);
  try {
    return Buffer.from(`${SKEY_PREFIX}${name}+${hex8(signer.keyId)}+${keyData.toString('base64')}`);
  } finally {
    sodium.sodium_memzero(keyData);
    signer.erase();
  }
}

/** parseSignerKey parses skey text (string or bytes) strictly, checking the key ID against the derived public key. */
export function parseSignerKey(text: string | Uint8Array): SignerKey {
  const s = typeof text === 'string' ? text : decodeUtf8(text, 'malformed_key');
  if (!s.startsWith(SKEY_PREFIX)) throw new NoteError('malformed_key', `signer key must start with ${SKEY_PREFIX}`);
  const [name, id, key] = splitKeyText(s.slice(SKEY_PREFIX.length), 'signer key');
  try {
    if (key.length !== 1 + sodium.crypto_sign_SEEDBYTES) throw new NoteError('malformed_key', 'signer key must hold a 32-byte seed');
    const signer = new SignerKey(name, key.subarray(1));
    if (hex8(signer.keyId) === id) return signer;
    signer.erase();
    throw keyIdMismatch(id, name);
  } finally {
    sodium.sodium_memzero(key);
  }
}

/** generateSignerKey returns a new random Ed25519 SignerKey named name. */
export function generateSignerKey(name: string): SignerKey {
  const seed = sodium.sodium_malloc(sodium.crypto_sign_SEEDBYTES);
  sodium.randombytes_buf(seed);
  try {
    return new SignerKey(name, seed);
  } finally {
    sodium.sodium_memzero(seed);
  }
}

/** NoteSignature is one signature line: key name, key ID and the base64 of keyId ‖ signature. */
export type NoteSignature = { name: string; keyId: number; base64: string };

/** OpenedNote is a note's text with the signatures that verified and those from unknown keys. */
export type OpenedNote = { text: string; verifiedBy: NoteSignature[]; unverified: NoteSignature[] };

/** signNote returns text (ending in '\n'), a blank line and one `— name base64(keyId ‖ sig)` line per signer. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  const bytes = encodeText(text);
  if (!text.endsWith('\n')) throw new NoteError('malformed_note', 'note text must end in a newline');
  checkNoteBytes(bytes);
  if (signers.length === 0 || signers.length > MAX_SIGNATURES) {
    throw new NoteError('too_many_signatures', `a note needs 1 to ${MAX_SIGNATURES} signers`);
  }
  const lines = signers.map((s) => {
    checkName(s.name);
    const id = Buffer.alloc(4);
    id.writeUInt32BE(s.keyId);
    return `${SIG_PREFIX}${s.name} ${Buffer.concat([id, s.sign(bytes)]).toString('base64')}\n`;
  });
  const note = `${text}\n${lines.join('')}`;
  if (Buffer.byteLength(note) > MAX_NOTE_SIZE) throw new NoteError('note_too_large', 'signed note exceeds 1 MiB');
  return note;
}

/** openNote parses a signed note strictly and verifies its signatures; throws NoteError unless a known key verified it. */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  const bytes = typeof note === 'string' ? encodeText(note) : view(note);
  if (bytes.length > MAX_NOTE_SIZE) throw new NoteError('note_too_large', 'signed note exceeds 1 MiB');
  checkNoteBytes(bytes);
  // The text ends at the last blank line; what follows is only signature lines.
  const split = bytes.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('malformed_note', 'note has no blank line before its signatures');
  const text = bytes.subarray(0, split + 1);
  const sigText = bytes.subarray(split + 2).toString('utf8');
  if (!sigText.endsWith('\n')) throw new NoteError('malformed_note', 'note must end in a signature line');
  const lines = sigText.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new NoteError('too_many_signatures', `note has more than ${MAX_SIGNATURES} signatures`);
  const opened: OpenedNote = { text: text.toString('utf8'), verifiedBy: [], unverified: [] };
  const seen = new Set<string>();
  for (const line of lines) {
    const sig = parseSignatureLine(line);
    const candidates = verifiers.filter((v) => v.name === sig.name && v.keyId === sig.keyId);
    if (candidates.length > 1) throw new NoteError('ambiguous_key', `several verifiers for ${sig.name}+${hex8(sig.keyId)}`);
    // Repeated signatures by one key, and repeated identical unknown lines, count once (as Go).
    const dedupe = candidates.length === 0 ? `?${line}` : `${sig.name}\n${sig.keyId}`;
    if (seen.has(dedupe)) continue;
    seen.add(dedupe);
    if (candidates.length === 0) {
      opened.unverified.push(sig.signature);
    } else if (candidates[0]!.verify(text, sig.bytes)) {
      opened.verifiedBy.push(sig.signature);
    } else {
      throw new NoteError('invalid_signature', `invalid signature by ${sig.name}+${hex8(sig.keyId)}`);
    }
  }
  if (opened.verifiedBy.length === 0) throw new NoteError('unverified', 'note has no signature from a known key');
  return opened;
}

function parseSignatureLine(line: string): { name: string; keyId: number; bytes: Buffer; signature: NoteSignature } {
  const space = line.indexOf(' ', SIG_PREFIX.length);
  const name = line.slice(SIG_PREFIX.length, space < 0 ? line.length : space);
  const b64 = space < 0 ? '' : line.slice(space + 1);
  const raw = b64 === '' ? undefined : decodeBase64(b64);
  if (!line.startsWith(SIG_PREFIX) || !isValidKeyName(name) || raw === undefined || raw.length < 5) {
    throw new NoteError('malformed_note', 'malformed signature line');
  }
  const keyId = raw.readUInt32BE(0);
  return { name, keyId, bytes: raw.subarray(4), signature: { name, keyId, base64: b64 } };
}

// name+hex8+base64 → [name, hex8, decoded key data starting with the algorithm byte].
function splitKeyText(text: string, what: string): [string, string, Buffer] {
  const [name = '', id = '', ...rest] = text.split('+');
  const key = decodeBase64(rest.join('+'));
  if (!/^[0-9a-f]{8}$/.test(id) || key === undefined || key.length === 0) {
    throw new NoteError('malformed_key', `${what} must be name+hex8+base64`);
  }
  checkName(name);
  if (key[0] !== ALG_ED25519) throw new NoteError('unknown_algorithm', `${what} algorithm ${key[0]} is not Ed25519 (1)`);
  return [name, id, key];
}

function keyIdMismatch(id: string, name: string): NoteError {
  return new NoteError('key_id_mismatch', `key ID ${id} of ${name} does not match its key`);
}

function checkName(name: string): void {
  if (typeof name !== 'string' || !isValidKeyName(name)) {
    throw new NoteError('invalid_name', `invalid key name ${JSON.stringify(name)}`);
  }
}

// signed-note §Format: valid UTF-8 and no ASCII control characters other than newline.
function checkNoteBytes(bytes: Buffer): void {
  for (const b of bytes) {
    if (b < 0x20 && b !== 0x0a) throw new NoteError('malformed_note', 'note contains a control character');
  }
  decodeUtf8(bytes, 'malformed_note');
}

function decodeUtf8(bytes: Uint8Array, reason: NoteErrorReason): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new NoteError(reason, 'not valid UTF-8');
  }
}

// A JS string with a lone surrogate has no UTF-8 form: refuse it rather than sign U+FFFD.
function encodeText(text: string): Buffer {
  if (!isWellFormed(text)) throw new NoteError('malformed_note', 'text is not well-formed Unicode');
  return Buffer.from(text, 'utf8');
}

function isWellFormed(s: string): boolean {
  return !/\p{Surrogate}/u.test(s);
}

// Key data in vkey and skey text starts with the signature type byte (signed-note §Signature types).
function withAlgorithm(key: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([ALG_ED25519]), key]);
}

function hex8(id: number): string {
  return id.toString(16).padStart(8, '0');
}

function view(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
