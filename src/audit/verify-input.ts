// Reading verify's and proof's small inputs: a verifier key given as text or as a file, and
// signed notes or proof files (size-capped: they are read whole).
import { open } from 'node:fs/promises';

import { PgsealError } from '../errors.js';
import { MAX_NOTE_SIZE, parseVerifierKey, type VerifierKey } from './note.js';

/** loadVerifierKey parses VKEY as vkey text, or else reads it from the file VKEY names; throws PgsealError('usage'). */
export async function loadVerifierKey(arg: string): Promise<VerifierKey> {
  try {
    return parseVerifierKey(arg.trim());
  } catch {
    // not key text: a file holding one
  }
  let text: string;
  try {
    text = (await readSmallFile(arg, 64 * 1024, 'key file')).toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new PgsealError('usage', `--key ${arg} is neither a vkey (name+hex8+base64) nor a file`);
    throw err;
  }
  try {
    return parseVerifierKey(text.trim());
  } catch (err) {
    throw new PgsealError('usage', `${arg} does not hold a verifier key: ${(err as Error).message}`);
  }
}

/** readNoteFile reads a signed note (at most 1 MiB) as text. */
export async function readNoteFile(path: string): Promise<string> {
  return (await readSmallFile(path, MAX_NOTE_SIZE, 'signed note')).toString('utf8');
}

/** readSmallFile reads a whole file of at most max bytes; throws PgsealError('usage') if it is larger. */
export async function readSmallFile(path: string, max: number, what: string): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const buf = Buffer.alloc(max + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await file.read(buf, length, buf.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > max) throw new PgsealError('usage', `${path}: a ${what} is at most ${max} bytes`);
    }
    return buf.subarray(0, length);
  } finally {
    await file.close();
  }
}
