import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, startPostgres, type PgServer } from '../support/postgres.js';
import { CLI, removePgseal, startPgseal, waitFor, type Pgseal } from '../support/pgseal.js';

let pg: PgServer;
let seal: Pgseal;

before(async () => {
  pg = await startPostgres({ tls: true, hba: 'scram' });
  await pg.createRole('alice', 'alice-secret');
  seal = await startPgseal(pg, { roles: ['alice'] });
});
after(async () => {
  await removePgseal(seal);
  await pg.stop();
});

function viaPgseal(sql: string, extraEnv: Record<string, string> = {}, password = 'alice-secret') {
  return pg.psql(sql, {
    user: 'alice', password, database: 'postgres', port: seal.port, host: 'localhost', hostaddr: '127.0.0.1',
    sslmode: 'verify-full', extraEnv: { PGSSLROOTCERT: seal.caFile, ...extraEnv },
  });
}

test('psql with verify-full and default channel binding logs in through pgseal', async () => {
  const r = await viaPgseal("SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'alice|t', 'upstream leg is TLS too');
});

test('psql with channel_binding=require and =disable both log in', async () => {
  for (const cb of ['require', 'disable']) {
    const r = await viaPgseal('SELECT 41 + 1', { PGCHANNELBINDING: cb });
    assert.equal(r.code, 0, `channel_binding=${cb}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), '42');
  }
});

test('a wrong password gets 28P01 and is audited', async () => {
  const r = await viaPgseal('SELECT 1', {}, 'wrong');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /password authentication failed/);
  await waitFor(async () => (await seal.auditRecords()).some((x) => x.type === 'auth.failure' && x.sqlstate === '28P01'));
});

test('queries are recorded with their results', async () => {
  const r = await viaPgseal('CREATE TEMP TABLE t(x int); INSERT INTO t SELECT generate_series(1,5); SELECT count(*) FROM t;');
  assert.equal(r.code, 0, r.stderr);
  await waitFor(async () => (await seal.auditRecords()).some((x) => x.type === 'result' && Array.isArray(x.tags) && (x.tags as string[]).includes('INSERT 0 5')));
  const recs = await seal.auditRecords();
  const q = recs.find((x) => x.type === 'query' && String(x.sql).includes('generate_series'));
  assert.ok(q, 'query record exists');
  const res = recs.find((x) => x.type === 'result' && x.session === q.session && x.query === q.query);
  assert.ok(res);
  assert.deepEqual(res.tags, ['CREATE TABLE', 'INSERT 0 5', 'SELECT 1']);
  assert.equal(res.status, 'ok');
  assert.ok(recs.indexOf(q) < recs.indexOf(res));
});

test('auth_query fetches verifiers upstream as a dedicated role that logs in with its client key', async () => {
  await pg.createRole('pgseal_auth', 'auth-role-secret', { superuser: true });
  await pg.createRole('bob', 'bob-secret');
  const verifier = await pg.scramVerifier('pgseal_auth');
  const made = await runCommand(process.execPath, [CLI, 'keys', 'client-key', '--role', 'pgseal_auth', '--verifier', verifier], { input: 'auth-role-secret\n' });
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stdout, /^"pgseal_auth" "SCRAM-SHA-256-CLIENT-KEY\$4096:/);
  const wrong = await runCommand(process.execPath, [CLI, 'keys', 'client-key', '--role', 'pgseal_auth', '--verifier', verifier], { input: 'nope\n' });
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /does not match/);
  const credFile = join(seal.dir, 'auth-role.txt');
  await writeFile(credFile, made.stdout, { mode: 0o600 });
  const other = await startPgseal(pg, {
    roles: [],
    editYaml: (y) => y.replace(/auth:\n  method: scram\n/, `auth:\n  method: scram\n  auth_query:\n    role: pgseal_auth\n    credentials_file: ${credFile}\n`),
  });
  try {
    const r = await pg.psql('SELECT current_user', {
      user: 'bob', password: 'bob-secret', database: 'postgres', port: other.port, host: 'localhost', hostaddr: '127.0.0.1',
      sslmode: 'verify-full', extraEnv: { PGSSLROOTCERT: other.caFile },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'bob');
    const missing = await pg.psql('SELECT 1', {
      user: 'nobody', password: 'x', database: 'postgres', port: other.port, host: 'localhost', hostaddr: '127.0.0.1',
      sslmode: 'verify-full', extraEnv: { PGSSLROOTCERT: other.caFile },
    });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /password authentication failed for user "nobody"/);
    await waitFor(async () => (await other.auditRecords()).some((x) => x.type === 'auth.failure' && x.user === 'nobody' && /no SCRAM verifier for role "nobody"/.test(String(x.reason))));
  } finally {
    await removePgseal(other);
  }
  // A failing auth_query: the client, not authenticated, hears only that the verifier could not
  // be fetched; the audit record says why (the upstream's error, which names the table).
  const broken = await startPgseal(pg, {
    roles: [],
    editYaml: (y) => y.replace(/auth:\n  method: scram\n/, `auth:\n  method: scram\n  auth_query:\n    role: pgseal_auth\n    credentials_file: ${credFile}\n    sql: SELECT rolpassword FROM no_such_table WHERE rolname = $1\n`),
  });
  try {
    const r = await pg.psql('SELECT 1', {
      user: 'bob', password: 'bob-secret', database: 'postgres', port: broken.port, host: 'localhost', hostaddr: '127.0.0.1',
      sslmode: 'verify-full', extraEnv: { PGSSLROOTCERT: broken.caFile },
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /FATAL: {2}authentication is unavailable: the role's SCRAM verifier could not be fetched/);
    assert.doesNotMatch(r.stderr, /no_such_table|pgseal_auth/);
    await waitFor(async () => (await broken.auditRecords()).some((x) => x.type === 'auth.failure' && x.user === 'bob' && x.sqlstate === '28000' && /auth_query for role "bob" failed: .*no_such_table/.test(String(x.reason))));
  } finally {
    await removePgseal(broken);
  }
});

test('a role missing from the auth file fails as a wrong password does, so roles cannot be probed; the audit record says why', async () => {
  await pg.createRole('carol', 'carol-secret');
  const login = (user: string, password: string) => pg.psql('SELECT 1', {
    user, password, database: 'postgres', port: seal.port, host: 'localhost', hostaddr: '127.0.0.1',
    sslmode: 'verify-full', extraEnv: { PGSSLROOTCERT: seal.caFile },
  });
  const missing = await login('carol', 'carol-secret');
  const wrong = await login('alice', 'not-the-password');
  assert.notEqual(missing.code, 0);
  assert.notEqual(wrong.code, 0);
  assert.match(missing.stderr, /FATAL: {2}password authentication failed for user "carol"/);
  assert.equal(missing.stderr.replaceAll('carol', 'alice'), wrong.stderr, 'the same answer for a role pgseal cannot log in and a wrong password');
  assert.doesNotMatch(missing.stderr, /verifier|auth file/);
  await waitFor(async () => (await seal.auditRecords()).some((x) => x.type === 'auth.failure' && x.user === 'carol' && x.sqlstate === '28P01' && /pgseal has no SCRAM verifier for role "carol"/.test(String(x.reason))));
  assert.ok((await seal.auditRecords()).some((x) => x.type === 'auth.failure' && x.user === 'alice' && x.reason === 'password authentication failed'), 'a wrong password is recorded as such');
});
