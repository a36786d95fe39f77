import type { Command } from 'commander';
import { generateCrl, readPassphrase } from '../../pki/index.js';
import { addStoreOptions, parseDays, print } from './ca.js';

// `pgseal crl` (DESIGN §5): sign a fresh CRL from index.txt.

/** register adds `pgseal crl`. */
export function register(program: Command): void {
  addStoreOptions(
    program
      .command('crl')
      .description('regenerate crl.pem from the revocations in index.txt')
      .option('--days <n>', 'days until the CRL\'s nextUpdate', parseDays, 7),
  ).action(async (opts: { pki: string; days: number; passphraseFile?: string }) => {
    const passphrase = await readPassphrase(opts.passphraseFile);
    const r = await generateCrl({ dir: opts.pki, days: opts.days, passphrase });
    print(
      `CRL number ${r.crlNumber} written to ${r.crlPath}`,
      `  revoked      ${r.revoked}`,
      `  next update  ${r.nextUpdate.toISOString()}`,
    );
  });
}
