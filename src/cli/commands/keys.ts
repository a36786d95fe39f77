import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { clientKeyFromPassword, formatScramClientKey } from '../../auth/index.js';
import { parseSignerKey } from '../../audit/note.js';
import { writeSigningKey } from '../signing-key.js';
import { PgsealError } from '../../errors.js';

/** register adds `pgseal keys show` and `pgseal keys client-key`. */
export function register(program: Command): void {
  const keys = program.command('keys').description('audit signing keys and upstream login keys');
  keys
    .command('init')
    .description('create an Ed25519 audit signing key (0600) and its verifier key (.pub); prints the vkey')
    .requiredOption('--key <file>', 'signing key file to create, e.g. keys/audit-2026.key')
    .requiredOption('--name <name>', 'key name (conventionally the log origin)')
    .action(async (o: { key: string; name: string }) => {
      process.stdout.write(`${await writeSigningKey(o.key, o.name)}\n`);
    });
  keys
    .command('show')
    .description('print the verifier key (vkey) of an audit signing key')
    .requiredOption('--key <file>', 'signing key file (keys/audit.key)')
    .action((o: { key: string }) => {
      const signer = parseSignerKey(readFileSync(o.key));
      process.stdout.write(`${signer.verifier().toString()}\n`);
      signer.erase();
    });
  keys
    .command('client-key')
    .description("derive a role's SCRAM client key from its password (read from stdin) for auth.auth_query.credentials_file")
    .requiredOption('--role <role>', 'the role pgseal logs in as to run the auth query')
    .requiredOption('--verifier <text>', "the role's rolpassword (SCRAM-SHA-256$...) from pg_authid")
    .action((o: { role: string; verifier: string }) => {
      const password = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
      if (!password) throw new PgsealError('usage', 'no password on standard input');
      const key = clientKeyFromPassword(password, o.verifier);
      process.stdout.write(`"${o.role.replace(/"/g, '""')}" "${formatScramClientKey(key)}"\n`);
    });
}
