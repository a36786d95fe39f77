#!/usr/bin/env node
import 'reflect-metadata';
import { Command, CommanderError } from 'commander';
import { PgsealError } from '../errors.js';
import { commands } from './commands/index.js';
import { CliExit } from './exit.js';

/** main parses argv, runs one command and sets the exit code; only this file exits. */
async function main(argv: string[]): Promise<number> {
  const program = new Command('pgseal')
    .description('TLS-terminating PostgreSQL proxy with a tamper-evident audit log')
    .version(PGSEAL_VERSION)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const register of commands) register(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return reportError(err);
  }
}

/** reportError prints one readable line and chooses the exit code (2: usage or I/O). */
function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) return 0;
    return 2;
  }
  if (err instanceof CliExit) {
    if (err.message) process.stderr.write(`pgseal: ${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof PgsealError) {
    process.stderr.write(`pgseal: ${err.message}\n`);
    return 2;
  }
  const e = err as NodeJS.ErrnoException;
  process.stderr.write(`pgseal: ${e?.message ?? String(err)}\n`);
  return 2;
}

const PGSEAL_VERSION = '0.1.0';

// `pgseal log show … | head` closes our stdout early: stop quietly, as other command-line tools do.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.exitCode = reportError(err);
  },
);
