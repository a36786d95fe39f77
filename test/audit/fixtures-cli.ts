// The pgseal CLI for the verify/proof/log tests. Until src/cli/commands/index.ts lists the
// verify, proof and log registrars, this entry builds src/cli/main.ts's program with them added
// and maps errors to exit codes exactly as main.ts does; once they are listed, CLI_ENTRY is
// the real dist/src/cli/main.js and this file is not run.
import 'reflect-metadata';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Command, CommanderError } from 'commander';

import { commands } from '../../src/cli/commands/index.js';
import { register as log } from '../../src/cli/commands/log.js';
import { register as proof } from '../../src/cli/commands/proof.js';
import { register as verify } from '../../src/cli/commands/verify.js';
import { CliExit } from '../../src/cli/exit.js';

const here = dirname(fileURLToPath(import.meta.url));
const registered = [verify, proof, log].every((r) => commands.includes(r));

/** CLI_ENTRY is the script to run as `node CLI_ENTRY verify ...`. */
export const CLI_ENTRY = registered ? resolve(here, '../../src/cli/main.js') : fileURLToPath(import.meta.url);

async function main(argv: string[]): Promise<number> {
  const program = new Command('pgseal').exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const register of [...commands, verify, proof, log]) register(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.code === 'commander.helpDisplayed' || err.exitCode === 0 ? 0 : 2;
    if (err instanceof CliExit) {
      if (err.message) process.stderr.write(`pgseal: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`pgseal: ${(err as Error)?.message ?? String(err)}\n`);
    return 2; // main.ts: a PgsealError (usage, I/O) and any other error both exit 2
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
