import { Command, InvalidArgumentError } from 'commander';
import { initCa, readPassphrase } from '../../pki/index.js';

// `pgseal ca init` (DESIGN §5). Also the option helpers the cert and crl commands share.

/** DEFAULT_PKI_DIR is the store used when --pki is not given. */
export const DEFAULT_PKI_DIR = './pki';

/** parseDays is a commander argument parser for a whole, positive number of days. */
export function parseDays(value: string): number {
  if (!/^[1-9]\d{0,4}$/.test(value)) throw new InvalidArgumentError('expected a whole number of days (1-36500)');
  return Number(value);
}

/** addStoreOptions adds --pki and --passphrase-file, which every PKI command takes. */
export function addStoreOptions(cmd: Command): Command {
  return cmd
    .option('--pki <dir>', 'CA store directory', DEFAULT_PKI_DIR)
    .option('--passphrase-file <file>', 'file holding the CA key passphrase (else env PGSEAL_CA_PASSPHRASE)');
}

/** print writes lines to stdout. */
export function print(...lines: string[]): void {
  process.stdout.write(lines.map((l) => `${l}\n`).join(''));
}

/** register adds `pgseal ca init`. */
export function register(program: Command): void {
  const ca = program.command('ca').description('manage the certificate authority of a PKI store');
  addStoreOptions(
    ca
      .command('init')
      .description('create a CA and an empty store (easy-rsa layout) in --pki DIR')
      .option('--cn <name>', 'CA common name', 'pgseal CA')
      .option('--days <n>', 'validity in days', parseDays, 3650),
  ).action(async (opts: { pki: string; cn: string; days: number; passphraseFile?: string }) => {
    const passphrase = await readPassphrase(opts.passphraseFile);
    const r = await initCa({ dir: opts.pki, cn: opts.cn, days: opts.days, passphrase });
    print(
      `CA "${opts.cn}" created in ${opts.pki}`,
      `  certificate  ${r.certPath}`,
      `  key          ${r.keyPath}${passphrase === undefined ? '' : ' (encrypted)'}`,
      `  CRL          ${r.crlPath}`,
      `  SHA-256      ${r.fingerprintSha256}`,
    );
  });
}
