import { randomBytes } from 'node:crypto';
import { Command, Option } from 'commander';
import {
  exportPkcs12,
  expiringWithin,
  issueClientCertificate,
  issueServerCertificate,
  listCertificates,
  readPassphrase,
  revokeCertificate,
  type CertificateSummary,
  type RevocationReason,
} from '../../pki/index.js';
import { DEFAULT_PKI_DIR, addStoreOptions, parseDays, print } from './ca.js';

// `pgseal cert issue|server|revoke|list` (DESIGN §5). Flags in, src/pki calls, text out.

/** P12_PASSPHRASE_ENV is the environment variable holding a PKCS#12 export passphrase. */
export const P12_PASSPHRASE_ENV = 'PGSEAL_P12_PASSPHRASE';

const EXPIRY_WARNING_DAYS = 7;

interface StoreOpts {
  pki: string;
  passphraseFile?: string;
}

/** collect accumulates a repeatable option's values. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** register adds `pgseal cert` and its subcommands. */
export function register(program: Command): void {
  const cert = program.command('cert').description('issue, revoke and list certificates of a PKI store');
  registerIssue(cert);
  registerServer(cert);
  registerRevoke(cert);
  registerList(cert);
}

/** registerIssue adds `cert issue NAME`: a client certificate carrying database roles. */
function registerIssue(cert: Command): void {
  addStoreOptions(
    cert
      .command('issue <name>')
      .description('issue a client certificate (CN=NAME) carrying database roles')
      .option('--role <role>', 'database role to embed (repeatable)', collect, [])
      .option('--san <spec>', 'subjectAltName such as email:a@b or URI:u (repeatable, comma-separated)', collect, [])
      .option('--days <n>', 'validity in days', parseDays, 30)
      .option('--p12', 'also write private/NAME.p12 (PKCS#12 with the CA certificate)')
      .option('--p12-passphrase-file <file>', `PKCS#12 passphrase file (else env ${P12_PASSPHRASE_ENV}, else a generated one)`),
  ).action(async (name: string, opts: StoreOpts & { role: string[]; san: string[]; days: number; p12?: boolean; p12PassphraseFile?: string }) => {
    const passphrase = await readPassphrase(opts.passphraseFile);
    const sans = opts.san.flatMap((s) => s.split(',')).filter((s) => s.trim() !== '');
    const r = await issueClientCertificate({ dir: opts.pki, name, roles: opts.role, sans, days: opts.days, passphrase });
    printIssued(name, r);
    print(`  roles        ${opts.role.length > 0 ? opts.role.join(', ') : '(none)'}`);
    if (opts.p12) await writeP12(opts.pki, name, opts.p12PassphraseFile);
  });
}

/** writeP12 exports the PKCS#12 bundle, generating and printing a passphrase when none is supplied. */
async function writeP12(dir: string, name: string, file: string | undefined): Promise<void> {
  const supplied = await readPassphrase(file, P12_PASSPHRASE_ENV);
  const passphrase = supplied ?? randomBytes(18).toString('base64url');
  const { p12Path } = await exportPkcs12({ dir, name, passphrase });
  print(`  pkcs12       ${p12Path}`);
  if (supplied === undefined) print(`  p12 passphrase (shown once): ${passphrase}`);
}

/** registerServer adds `cert server NAME --san ...`: a server certificate. */
function registerServer(cert: Command): void {
  addStoreOptions(
    cert
      .command('server <name>')
      .description('issue a server certificate (ECDSA P-256) for the proxy')
      .requiredOption('--san <specs>', 'subjectAltNames, e.g. DNS:localhost,IP:127.0.0.1 (repeatable)', collect)
      .option('--days <n>', 'validity in days', parseDays, 825),
  ).action(async (name: string, opts: StoreOpts & { san: string[]; days: number }) => {
    const passphrase = await readPassphrase(opts.passphraseFile);
    const sans = opts.san.flatMap((s) => s.split(',')).filter((s) => s.trim() !== '');
    const r = await issueServerCertificate({ dir: opts.pki, name, sans, days: opts.days, passphrase });
    printIssued(name, r);
    print(`  SANs         ${sans.join(', ')}`);
  });
}

/** printIssued prints where an issued certificate went. */
function printIssued(name: string, r: { certPath: string; keyPath: string; serial: string; notAfter: Date }): void {
  print(
    `issued "${name}"`,
    `  certificate  ${r.certPath}`,
    `  key          ${r.keyPath}`,
    `  serial       ${r.serial}`,
    `  expires      ${formatDate(r.notAfter)}`,
  );
}

/** registerRevoke adds `cert revoke NAME|SERIAL`. */
function registerRevoke(cert: Command): void {
  const reasons: RevocationReason[] = ['unspecified', 'keyCompromise', 'superseded', 'cessationOfOperation'];
  addStoreOptions(
    cert
      .command('revoke <nameOrSerial>')
      .description('revoke a certificate by name (or serial) and regenerate the CRL')
      .addOption(new Option('--reason <reason>', 'revocation reason').choices(reasons)),
  ).action(async (nameOrSerial: string, opts: StoreOpts & { reason?: RevocationReason }) => {
    const passphrase = await readPassphrase(opts.passphraseFile);
    const r = await revokeCertificate({ dir: opts.pki, nameOrSerial, reason: opts.reason, passphrase });
    print(`revoked "${r.name}" (serial ${r.serial})${opts.reason ? `, reason ${opts.reason}` : ''}`, `  CRL          ${r.crlPath}`);
  });
}

/** registerList adds `cert list`: a table, then a warning per certificate expiring soon. */
function registerList(cert: Command): void {
  cert
    .command('list')
    .description(`list certificates (warns about those expiring within ${EXPIRY_WARNING_DAYS} days)`)
    .option('--pki <dir>', 'CA store directory', DEFAULT_PKI_DIR)
    .action(async (opts: { pki: string }) => {
      const now = new Date();
      const certs = await listCertificates({ dir: opts.pki, now });
      print(...formatTable(certs));
      for (const c of expiringWithin(certs, EXPIRY_WARNING_DAYS, now)) {
        const days = Math.max(0, Math.floor((c.notAfter.getTime() - now.getTime()) / 86_400_000));
        print(`warning: "${c.name}" expires in ${days} day(s), on ${formatDate(c.notAfter)}`);
      }
    });
}

/** formatTable lays out the certificate list in aligned columns. */
export function formatTable(certs: readonly CertificateSummary[]): string[] {
  if (certs.length === 0) return ['no certificates'];
  const rows = [
    ['NAME', 'STATUS', 'EXPIRES', 'SERIAL', 'ROLES'],
    ...certs.map((c) => [c.name, c.status, formatDate(c.notAfter), c.serial, c.roles.length > 0 ? c.roles.join(',') : '-']),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

/** formatDate renders a date as "YYYY-MM-DD HH:MM UTC". */
function formatDate(d: Date): string {
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
