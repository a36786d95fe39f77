import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, startPostgres, type PgServer } from '../support/postgres.js';
import { CLI, pgsealCli, removePgseal, startPgseal, waitFor, type Pgseal } from '../support/pgseal.js';

let certPg: PgServer;
let scramPg: PgServer;

before(async () => {
  certPg = await startPostgres({ tls: true, hba: 'cert' });
  await certPg.createRole('dave', 'unused-password');
  scramPg = await startPostgres({ tls: true, hba: 'scram' });
  await scramPg.createRole('erin', 'erin-secret');
});
after(async () => {
  await certPg.stop();
  await scramPg.stop();
});

async function issue(seal: Pgseal, name: string, role: string) {
  const pki = join(seal.configFile, '..', 'pki');
  const r = await pgsealCli(['cert', 'issue', name, '--pki', pki, '--role', role]);
  assert.equal(r.code, 0, r.stderr);
  return { cert: join(pki, 'issued', `${name}.crt`), key: join(pki, 'private', `${name}.key`) };
}

function psqlWithCert(server: PgServer, seal: Pgseal, user: string, files: { cert: string; key: string }) {
  return server.psql('SELECT current_user, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())', {
    user, database: 'postgres', port: seal.port, host: 'localhost', hostaddr: '127.0.0.1', sslmode: 'verify-full',
    extraEnv: { PGSSLROOTCERT: seal.caFile, PGSSLCERT: files.cert, PGSSLKEY: files.key },
  });
}

test('certificate login: pgseal mints a short-lived client certificate that PostgreSQL (pg_hba cert) accepts', async () => {
  const seal = await startPgseal(certPg, {
    initArgs: ['--auth', 'certificate'],
    editYaml: (y) => y.replace(/auth:\n  method: certificate\n/, `auth:\n  method: certificate\n  upstream_cert:\n    ca_cert: ${certPg.caFile}\n    ca_key: ${certPg.caKeyFile}\n`),
  });
  try {
    const files = await issue(seal, 'dave-laptop', 'dave');
    const r = await psqlWithCert(certPg, seal, 'dave', files);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'dave|t', 'logged in upstream over TLS as the mapped role, no password asked');
    const denied = await psqlWithCert(certPg, seal, 'postgres', files);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /certificate identity "dave-laptop" is not allowed to log in as role "postgres"/);
    await waitFor(async () => (await seal.auditRecords()).some((x: any) => x.type === 'session.start' && x.auth_method === 'certificate' && x.certificate?.identity === 'dave-laptop'));
  } finally {
    await removePgseal(seal);
  }
});

test('certificate login with a stored SCRAM client key from a 0600 credentials file', async () => {
  const seal = await startPgseal(scramPg, { initArgs: ['--auth', 'certificate'] });
  try {
    const made = await runCommand(process.execPath, [CLI, 'keys', 'client-key', '--role', 'erin', '--verifier', await scramPg.scramVerifier('erin')], { input: 'erin-secret\n' });
    assert.equal(made.code, 0, made.stderr);
    const creds = join(seal.dir, 'credentials.txt');
    await writeFile(creds, made.stdout, { mode: 0o600 });
    const { readFile } = await import('node:fs/promises');
    const cfg = await readFile(seal.configFile, 'utf8');
    await writeFile(seal.configFile, cfg.replace(/auth:\n  method: certificate\n/, `auth:\n  method: certificate\n  credentials_file: ${creds}\n`));
    const logged = seal.log.length;
    seal.proc.kill('SIGHUP');
    await waitFor(() => seal.log.slice(logged).some((l) => l.includes('configuration reloaded')));
    const files = await issue(seal, 'erin', 'erin');
    const r = await psqlWithCert(scramPg, seal, 'erin', files);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'erin|t');
    const none = await scramPg.psql('SELECT 1', { user: 'erin', database: 'postgres', port: seal.port, host: 'localhost', hostaddr: '127.0.0.1', sslmode: 'verify-full', extraEnv: { PGSSLROOTCERT: seal.caFile } });
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /requires a valid client certificate/);
  } finally {
    await removePgseal(seal);
  }
});
