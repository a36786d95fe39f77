// The README's first command: a throw-away PostgreSQL 15 (TLS, SCRAM) behind pgseal, a client
// certificate issued from pgseal's CA, and the psql line to connect. Ctrl-C stops everything.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, runCommand, startPostgres, tcpProbe } from '../test/support/postgres.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cli = join(root, 'dist/src/cli/main.js');
const home = join(root, 'demo');

async function pgsealCli(args: string[]): Promise<string> {
  const r = await runCommand(process.execPath, [cli, ...args], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`pgseal ${args[0]} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

async function main(): Promise<void> {
  await rm(home, { recursive: true, force: true });
  await mkdir(home, { recursive: true, mode: 0o700 });
  const pg = await startPostgres({ tls: true, hba: 'scram' });
  const password = randomBytes(9).toString('base64url');
  await pg.createRole('demo', password);
  await pg.psql('GRANT CREATE ON SCHEMA public TO demo;');
  const authFile = join(home, 'userlist.txt');
  await writeFile(authFile, `"demo" "${await pg.scramVerifier('demo')}"\n`, { mode: 0o600 });
  const port = Number(process.env.PGSEAL_DEMO_PORT ?? (await freePort()));
  const dir = join(home, 'pgseal');
  await pgsealCli(['init', '--dir', dir, '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${pg.port}`,
    '--upstream-ca', pg.caFile, '--upstream-server-name', 'localhost', '--auth-file', authFile, '--client-cert', 'optional']);
  await pgsealCli(['cert', 'issue', 'demo', '--pki', join(dir, 'pki'), '--role', 'demo']);
  const logFile = join(home, 'pgseal.log');
  const serve = spawn(process.execPath, [cli, 'serve', '--config', join(dir, 'pgseal.yaml')], { stdio: ['ignore', openSync(logFile, 'a'), 'inherit'] });
  await waitForPort(port);
  const pki = join(dir, 'pki');
  process.stdout.write(
    [
      '',
      `PostgreSQL ${pg.port} (throw-away, in ${pg.baseDir}) is behind pgseal on 127.0.0.1:${port}.`,
      'Connect with:',
      '',
      `  PGPASSWORD='${password}' psql "host=localhost hostaddr=127.0.0.1 port=${port} dbname=postgres user=demo sslmode=verify-full sslrootcert=${pki}/ca.crt sslcert=${pki}/issued/demo.crt sslkey=${pki}/private/demo.key"`,
      '',
      `Audit log: ${dir}/audit   operational log: ${logFile}`,
      'Press Ctrl-C to stop pgseal and PostgreSQL.',
      '',
    ].join('\n'),
  );
  await new Promise<void>((r) => {
    process.once('SIGINT', r);
    process.once('SIGTERM', r);
    serve.once('exit', () => r());
  });
  serve.kill('SIGTERM');
  await new Promise((r) => serve.once('exit', r).once('error', r));
  await pg.stop();
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await tcpProbe(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('pgseal did not start; see demo/pgseal.log');
}

main().catch((err) => {
  process.stderr.write(`demo: ${(err as Error).message}\n`);
  process.exit(1);
});
