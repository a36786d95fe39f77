import type { Command } from 'commander';
import { openLog } from '../../audit/log-reader.js';
import { loadVerifierKey, readNoteFile } from '../../audit/verify-input.js';
import { formatReport, verifyLog } from '../../audit/verify.js';
import { CliExit } from '../exit.js';

// `pgseal verify` (DESIGN §4): exit 0 intact, 1 tampered or invalid, 2 usage or I/O error.

/** register adds `pgseal verify`. */
export function register(program: Command): void {
  program
    .command('verify')
    .description('verify an audit log: every record, the Merkle tree, every checkpoint signature and key rotation')
    .argument('<path...>', 'a log directory, segment files (seg-*.jsonl), or a .tar / .tar.gz of a log directory')
    .requiredOption('--key <vkey>', 'the trusted verifier key (vkey text, or a file holding it): the key that signed the first checkpoints')
    .option('--checkpoint <file>', 'a signed checkpoint kept elsewhere (e.g. a copy of checkpoint.latest): catches a cut tail, a rollback or a fork')
    .option('--strict', 'also fail on unsealed records after the last checkpoint and on a torn final line')
    .option('--partial', 'the log may start at a later segment (older ones archived): start from its recorded frontier')
    .option('--json', 'print the full report as JSON')
    .addHelpText(
      'after',
      `
Exit status: 0 intact, 1 tampered or invalid (the first fault: kind, segment, line, seq range),
2 usage or I/O error (unreadable path, not a tar/gzip archive, corrupt archive).
Records after the last checkpoint are "unsealed": no signature covers them yet, so an edit there
cannot be detected; they are counted, and fail the check only with --strict.
A .tar.gz whose members are not in name order needs temporary space (TMPDIR) for the members
that arrive early.`,
    )
    .action(async (paths: string[], o: { key: string; checkpoint?: string; strict?: boolean; partial?: boolean; json?: boolean }) => {
      const trustedKey = await loadVerifierKey(o.key);
      const externalCheckpoint = o.checkpoint === undefined ? undefined : await readNoteFile(o.checkpoint);
      const report = await verifyLog(await openLog(paths), {
        trustedKey,
        externalCheckpoint,
        strict: o.strict === true,
        partial: o.partial === true,
      });
      if (o.json === true) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else if (report.ok) process.stdout.write(`${formatReport(report)}\n`);
      if (!report.ok) throw new CliExit(1, formatReport(report));
    });
}
