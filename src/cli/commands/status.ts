import type { Command } from 'commander';
import { loadConfig, splitHostPort } from '../../config/index.js';
import { PgsealError } from '../../errors.js';
import { CliExit } from '../exit.js';

/** register adds `pgseal status`, which reads the admin endpoint of a running pgseal. */
export function register(program: Command): void {
  program
    .command('status')
    .description('show a running pgseal\'s sessions, queries and audit state (exit 0 healthy, 1 failing closed, 2 unreachable)')
    .option('--config <file>', 'read admin.listen from this configuration', '/etc/pgseal/pgseal.yaml')
    .option('--admin <host:port>', 'the admin address (overrides --config)')
    .option('--json', 'print the metrics as JSON')
    .action(async (o: { config: string; admin?: string; json?: boolean }) => {
      const address = o.admin ?? loadConfig(o.config).admin.listen;
      if (!address) throw new PgsealError('usage', 'no admin address: set admin.listen in the configuration or pass --admin');
      const { host, port } = splitHostPort(address);
      const metrics = parseMetrics(await fetchMetrics(`http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`));
      const v = (name: string) => metrics.get(name) ?? 0;
      const failing = v('pgseal_audit_fail_closed') === 1;
      if (o.json) process.stdout.write(`${JSON.stringify(Object.fromEntries(metrics), null, 2)}\n`);
      else {
        process.stdout.write(
          [
            `pgseal at ${address}: ${v('pgseal_sessions_active')} active sessions (${v('pgseal_client_connections')} connections), ${v('pgseal_sessions_total')} since start, ${v('pgseal_sessions_rejected_total')} refused, ${v('pgseal_auth_failures_total')} auth failures`,
            `queries: ${v('pgseal_queries_total')} (${v('pgseal_query_errors_total')} errors); bytes from clients ${v('pgseal_bytes_total{direction="from_client"}')}, from servers ${v('pgseal_bytes_total{direction="from_server"}')}`,
            `audit: ${failing ? 'FAILING CLOSED (log cannot be written; queries are refused)' : 'healthy'}, ${v('pgseal_audit_records_total')} records, last checkpoint ${v('pgseal_audit_seconds_since_checkpoint').toFixed(1)} s ago`,
          ].join('\n') + '\n',
        );
      }
      if (failing) throw new CliExit(1);
    });
}

async function fetchMetrics(url: string): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return await res.text();
  } catch (err) {
    throw new PgsealError('io', `cannot read ${url}: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`);
  }
}

function parseMetrics(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return m;
}
