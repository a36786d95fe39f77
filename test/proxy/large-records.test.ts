import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { startPostgres, type PgServer } from '../support/postgres.js';
import { pgsealCli, removePgseal, restartPgseal, startPgseal, type Pgseal } from '../support/pgseal.js';

// A record line is limited to 16 MiB (the log refuses to reopen a segment with a longer one), while
// a client message may be up to limits.max_message_bytes (64 MiB): long SQL is recorded cut with
// its length and SHA-256, and a record that still cannot fit refuses its query before forwarding.
let server: PgServer;
let seal: Pgseal;

before(async () => {
  server = await startPostgres({ tls: true, hba: 'scram' });
  await server.createRole('bulk', 'bulk-secret');
  await server.psql('CREATE TABLE marks(id int); GRANT ALL ON marks TO bulk;');
  seal = await startPgseal(server, { roles: ['bulk'], editYaml: (y) => y.replace(/dir: audit\n/, 'dir: audit\n  max_param_bytes: 1048576\n') });
});
after(async () => {
  await removePgseal(seal);
  await server.stop();
});

function client(): pg.Client {
  const c = new pg.Client({ host: '127.0.0.1', port: seal.port, user: 'bulk', password: 'bulk-secret', database: 'postgres', ssl: { ca: readFileSync(seal.caFile), servername: 'localhost' } });
  c.on('error', () => {});
  return c;
}

test('a 20 MiB query runs, is recorded cut with its length and SHA-256, and pgseal restarts on the log; an unrecordable query is refused with 54000', async () => {
  const sql = `SELECT length('${'x'.repeat(20 << 20)}') AS n`;
  const c = client();
  await c.connect();
  const r = await c.query(sql);
  assert.equal(r.rows[0].n, 20 << 20);

  // 17 bind values of 1 MiB (max_param_bytes here) make a query record over 16 MiB.
  const values = Array.from({ length: 17 }, (_, i) => String.fromCharCode(97 + i).repeat(1 << 20));
  const placeholders = values.map((_, i) => `$${i + 1}::text`).join(', ');
  await assert.rejects(c.query(`INSERT INTO marks SELECT 7 WHERE octet_length(concat(${placeholders})) > 0`, values), (e: any) => {
    assert.equal(e.code, '54000');
    assert.match(e.message, /audit record too large/);
    return true;
  });
  await c.end().catch(() => {});
  assert.equal((await server.psql('SELECT count(*) FROM marks')).stdout.trim(), '0', 'the refused query never reached PostgreSQL');

  const c2 = client();
  await c2.connect();
  await c2.query('INSERT INTO marks VALUES (1)');
  await c2.end();
  assert.equal(await seal.stop(), 0);
  seal = await restartPgseal(seal); // the log with the long record reopens
  const c3 = client();
  await c3.connect();
  assert.equal((await c3.query('SELECT count(*)::int AS n FROM marks')).rows[0].n, 1);
  await c3.end();
  assert.equal(await seal.stop(), 0);

  const home = dirname(seal.configFile);
  const v = await pgsealCli(['verify', join(home, 'audit'), '--key', join(home, 'keys', 'audit.pub'), '--strict']);
  assert.equal(v.code, 0, `verify: ${v.stdout}${v.stderr}`);
  const recs = await seal.auditRecords();
  const big = recs.find((x) => x.type === 'query' && String(x.sql).startsWith('SELECT length('));
  assert.ok(big, 'the long query has its record');
  assert.equal(big.sql_length, Buffer.byteLength(sql));
  assert.equal(big.sql_sha256, createHash('sha256').update(sql).digest('hex'));
  assert.equal(Buffer.byteLength(String(big.sql)), 1 << 20, 'audit.max_sql_bytes (1 MiB) of the text is kept');
  assert.ok(!recs.some((x) => x.type === 'query' && String(x.sql).startsWith('INSERT INTO marks SELECT 7')), 'no record of the refused query');
  const ends = recs.filter((x) => x.type === 'session.end').map((x) => String(x.reason));
  assert.ok(ends.some((reason) => /audit record too large/.test(reason)), `session ends: ${ends.join('; ')}`);
});
