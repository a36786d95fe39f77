import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import pg from 'pg';
import { startPostgres, type PgServer } from './postgres.js';

function assertGone(pid: number): void {
  assert.throws(
    () => process.kill(pid, 0),
    (err: NodeJS.ErrnoException) => err.code === 'ESRCH',
    `postgres pid ${pid} is still alive`,
  );
}

test('harness: TLS + SCRAM server with psql, node-postgres and a clean stop', { timeout: 60_000 }, async (t) => {
  const server: PgServer = await startPostgres({ tls: true, hba: 'scram' });
  t.after(() => server.stop());
  assert.equal(server.host, '127.0.0.1');
  assert.notEqual(server.port, 5432);

  await server.createRole('alice', 'alice-secret');

  // psql with full verification of the server certificate against the test CA.
  const ok = await server.psql('SELECT 1', {
    user: 'alice',
    password: 'alice-secret',
    host: 'localhost',
    hostaddr: '127.0.0.1',
    sslmode: 'verify-full',
    extraEnv: { PGSSLROOTCERT: server.caFile },
  });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), '1');

  // The session really is TLS, and used SCRAM.
  const ssl = await server.psql('SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()', {
    user: 'alice',
    password: 'alice-secret',
  });
  assert.equal(ssl.code, 0, ssl.stderr);
  assert.match(ssl.stdout.trim(), /^t\|TLSv1\.[23]$/);

  // Wrong password: 28P01, reported by psql as text.
  const bad = await server.psql('SELECT 1', { user: 'alice', password: 'wrong' });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /password authentication failed for user "alice"/);

  // node-postgres over TLS verified against the CA, parameterised query.
  const ca = await readFile(server.caFile, 'utf8');
  for (const enableChannelBinding of [false, true]) {
    const client = new pg.Client({
      host: server.host,
      port: server.port,
      user: 'alice',
      password: 'alice-secret',
      database: 'postgres',
      ssl: { ca, servername: 'localhost' },
      enableChannelBinding,
    });
    await client.connect();
    try {
      const r = await client.query<{ n: number; s: string }>('SELECT $1::int + 1 AS n, $2::text AS s', [41, 'hé']);
      assert.deepEqual(r.rows, [{ n: 42, s: 'hé' }]);
    } finally {
      await client.end();
    }
  }

  const wrong = new pg.Client({
    host: server.host,
    port: server.port,
    user: 'alice',
    password: 'nope',
    database: 'postgres',
    ssl: { ca, servername: 'localhost' },
  });
  await assert.rejects(wrong.connect(), (err: Error & { code?: string }) => err.code === '28P01');
  await wrong.end().catch(() => {});

  const verifier = await server.scramVerifier('alice');
  assert.ok(verifier.startsWith('SCRAM-SHA-256$4096:'), verifier);
  assert.ok((await server.scramVerifier('postgres')).startsWith('SCRAM-SHA-256$4096:'));

  const { pid, baseDir } = server;
  await server.stop();
  assertGone(pid);
  assert.equal(existsSync(baseDir), false, 'temp dir removed');
  await server.stop(); // idempotent
});

test('harness: trust without TLS starts and stops', { timeout: 60_000 }, async (t) => {
  const server = await startPostgres({ tls: false, hba: 'trust', settings: { max_connections: '50' } });
  t.after(() => server.stop());
  const r = await server.psql('SHOW max_connections', { user: 'postgres', password: '' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '50');
  const s = await server.psql('SHOW ssl');
  assert.equal(s.stdout.trim(), 'off');

  const { pid, baseDir } = server;
  await server.stop();
  assertGone(pid);
  assert.equal(existsSync(baseDir), false, 'temp dir removed');
});

test('harness: cert auth with a client certificate from the test CA', { timeout: 60_000 }, async (t) => {
  const server = await startPostgres({ hba: 'cert' });
  t.after(() => server.stop());
  await server.createRole('bob', 'unused-password');
  const { certFile, keyFile } = await server.clientCert('bob');

  const withCert = await server.psql('SELECT current_user', {
    user: 'bob',
    sslmode: 'verify-full',
    host: 'localhost',
    hostaddr: '127.0.0.1',
    extraEnv: { PGSSLCERT: certFile, PGSSLKEY: keyFile },
  });
  assert.equal(withCert.code, 0, withCert.stderr);
  assert.equal(withCert.stdout.trim(), 'bob');

  const noCert = await server.psql('SELECT 1', { user: 'bob', password: 'unused-password' });
  assert.notEqual(noCert.code, 0);
  assert.match(noCert.stderr, /certificate/i);

  // The superuser keeps SCRAM over TLS (psql defaults).
  const su = await server.psql('SELECT current_user');
  assert.equal(su.code, 0, su.stderr);
  assert.equal(su.stdout.trim(), 'postgres');
});
