import { once } from 'node:events';
import type { Command } from 'commander';
import { PgsealError } from '../../errors.js';
import { openLog } from '../../audit/log-reader.js';
import { showLog } from '../../audit/log-reader-show.js';
import { CliExit } from '../exit.js';

// `pgseal log show` (DESIGN §5): read an audit log as one line per query and per session event.

/** register adds `pgseal log show`. */
export function register(program: Command): void {
  const log = program.command('log').description('read audit logs');
  log
    .command('show')
    .description('print one line per query (joined with its result) and per session start, end, reject and auth failure')
    .argument('<path...>', 'a log directory, segment files, or a .tar/.tar.gz of a log directory')
    .option('--session <id>', 'only this session')
    .option('--user <name>', 'only sessions of this user')
    .option('--since <time>', 'only records at or after this time (RFC 3339, e.g. 2026-11-26T13:00:00Z)')
    .option('--json', 'one JSON object per line, with the full SQL and bind parameters')
    .addHelpText(
      'after',
      `
Columns: time, session, user, #query, protocol, status[/sqlstate], rows, duration, SQL (one line,
cut at 200 characters). A query is printed when its result arrives ("no-result" if none came).
This does not check the log's integrity: run pgseal verify for that.`,
    )
    .action(async (paths: string[], o: { session?: string; user?: string; since?: string; json?: boolean }) => {
      if (o.since !== undefined && Number.isNaN(Date.parse(o.since))) throw new PgsealError('usage', `--since ${o.since} is not a date or time`);
      const out = new Output(process.stdout);
      const between = () => out.drained();
      await showLog(await openLog(paths), { ...o, between }, (line) => out.write(line), (line) => process.stderr.write(`pgseal: ${line}\n`));
    });
}

// stdout with backpressure: lines are written as they come, and reading waits while the reader
// of our output (a pager, a pipe) catches up. A closed pipe (EPIPE: `| head`) ends quietly.
class Output {
  #full = false;
  #closed = false;

  constructor(private readonly stream: NodeJS.WriteStream) {
    stream.on('error', () => {
      this.#closed = true;
    });
  }

  write(line: string): void {
    if (!this.#closed && !this.stream.write(`${line}\n`)) this.#full = true;
  }

  async drained(): Promise<void> {
    if (this.#full && !this.#closed) {
      this.#full = false;
      await Promise.race([once(this.stream, 'drain'), once(this.stream, 'error')]);
    }
    if (this.#closed) throw new CliExit(0);
  }
}
