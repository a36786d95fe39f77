import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { generateSignerKey } from '../audit/note.js';

/** publicKeyPath names the .pub file that goes with a signing key file. */
export function publicKeyPath(keyFile: string): string {
  return keyFile.replace(/\.key$/, '') + '.pub';
}

/** writeSigningKey creates a new Ed25519 signing key file (0600, never overwritten) and its .pub vkey file; returns the vkey. */
export async function writeSigningKey(keyFile: string, name: string): Promise<string> {
  await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 });
  const signer = generateSignerKey(name);
  const vkey = signer.verifier().toString();
  const skey = signer.toSignerKeyText();
  signer.erase();
  try {
    await writeFile(keyFile, skey, { mode: 0o600, flag: 'wx' });
  } finally {
    skey.fill(0);
  }
  await writeFile(publicKeyPath(keyFile), `${vkey}\n`, { mode: 0o644, flag: 'wx' });
  return vkey;
}
