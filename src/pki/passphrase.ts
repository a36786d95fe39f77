import { readFile } from 'node:fs/promises';
import { PkiError } from './errors.js';

// Passphrases never come from a command-line value (it would show in `ps` and shell
// history): from a file, or from an environment variable.

/** CA_PASSPHRASE_ENV is the environment variable holding the CA key's passphrase. */
export const CA_PASSPHRASE_ENV = 'PGSEAL_CA_PASSPHRASE';

/** readPassphrase returns the first line of file if given, else the env variable's value, else undefined. */
export async function readPassphrase(
  file: string | undefined,
  envName: string = CA_PASSPHRASE_ENV,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  if (file !== undefined) {
    const text = await readFile(file, 'utf8').catch((err: unknown) => {
      throw new PkiError(`cannot read passphrase file ${file}`, { cause: err });
    });
    const line = text.split(/\r?\n/)[0] ?? '';
    if (line === '') throw new PkiError(`passphrase file ${file} is empty`);
    return line;
  }
  const value = env[envName];
  return value === undefined || value === '' ? undefined : value;
}
