import { InvalidArgumentError, type Command } from 'commander';
import { PgsealError } from '../../errors.js';
import { openLog } from '../../audit/log-reader.js';
import { loadVerifierKey, readNoteFile, readSmallFile } from '../../audit/verify-input.js';
import { checkProof, makeConsistencyProof, makeInclusionProof } from '../../audit/verify-proof.js';
import { CliExit } from '../exit.js';

// `pgseal proof` (DESIGN §5): RFC 9162 inclusion and consistency proofs as JSON, and checking them.

/** register adds `pgseal proof inclusion|consistency|check`. */
export function register(program: Command): void {
  const proof = program
    .command('proof')
    .description('prove that a record is in the log, or that an older tree is a prefix of a newer one (RFC 9162)')
    .addHelpText(
      'after',
      `
Examples:
  pgseal proof inclusion --log DIR --seq 1234 > p.json      # against the newest checkpoint covering it
  pgseal proof consistency --log DIR --from 5000 > c.json   # tree 5000 is a prefix of the newest checkpoint
  pgseal proof check p.json --key VKEY [--checkpoint NOTE]  # exit 0 valid, 1 invalid, 2 unreadable
A proof embeds the log's signed checkpoint note when one exists at its tree size. Producing a
proof reads the log and keeps 32 bytes per record in memory; checking needs only the proof.`,
    );
  proof
    .command('inclusion')
    .description('print a JSON proof that record SEQ is in the tree of size SIZE')
    .requiredOption('--log <path>', 'the log directory (or a .tar/.tar.gz of it)')
    .requiredOption('--seq <n>', 'the record (leaf index)', parseCount)
    .option('--size <m>', 'tree size (default: the newest checkpoint covering the record)', parseCount)
    .action(async (o: { log: string; seq: number; size?: number }) => {
      print(await makeInclusionProof(await openLog([o.log]), o.seq, o.size));
    });
  proof
    .command('consistency')
    .description('print a JSON proof that the tree of size FROM is a prefix of the tree of size TO')
    .requiredOption('--log <path>', 'the log directory (or a .tar/.tar.gz of it)')
    .requiredOption('--from <m>', 'the older tree size (at least 1)', parseCount)
    .option('--to <n>', 'the newer tree size (default: the newest checkpoint)', parseCount)
    .action(async (o: { log: string; from: number; to?: number }) => {
      print(await makeConsistencyProof(await openLog([o.log]), o.from, o.to));
    });
  proof
    .command('check')
    .description('check a proof file and that its roots are signed by a trusted key')
    .argument('<file>', 'a proof printed by pgseal proof inclusion|consistency')
    .requiredOption('--key <vkey...>', 'trusted verifier key(s): vkey text or files')
    .option('--checkpoint <file...>', 'signed checkpoint notes to accept besides those in the proof')
    .action(async (file: string, o: { key: string[]; checkpoint?: string[] }) => {
      const keys = await Promise.all(o.key.map(loadVerifierKey));
      const notes = await Promise.all((o.checkpoint ?? []).map(readNoteFile));
      const text = (await readSmallFile(file, 64 * 1024 * 1024, 'proof')).toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new PgsealError('usage', `${file} is not JSON`);
      }
      const result = checkProof(parsed, keys, notes);
      if (!result.ok) throw new CliExit(1, `proof invalid: ${result.message}`);
      process.stdout.write(`${result.message}\n`);
    });
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function parseCount(text: string): number {
  const n = Number(text);
  if (!/^(0|[1-9][0-9]*)$/.test(text) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}
