import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, startPostgres, type PgServer } from '../support/postgres.js';
import { pgsealCli, removePgseal, startPgseal, type Pgseal } from '../support/pgseal.js';

// A real full disk: a tiny tmpfs holds the audit log. Mounting needs root (CI runs as root).
let mountPoint: string | null = null;
let server: PgServer;
let seal: Pgseal;
let adminPort: number;

function tryMount(dir: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pgseal-full-'));
  if (tryMount(dir)) mountPoint = dir;
  server = await startPostgres({ tls: true, hba: 'scram' });
  await server.createRole('fc', 'fc-secret');
  await server.psql('CREATE TABLE t(id int); GRANT ALL ON t TO fc;');
  adminPort = await freePort();
  if (mountPoint) {
    seal = await startPgseal(server, { roles: ['fc'], initArgs: ['--admin', `127.0.0.1:${adminPort}`], editYaml: (y) => y.replace(/dir: audit/, `dir: ${mountPoint}/audit`) });
  }
});
after(async () => {
  if (seal) await removePgseal(seal);
  await server.stop();
  if (mountPoint) execFileSync('umount', ['-l', mountPoint]);
});

function client(): pg.Client {
  const c = new pg.Client({ host: '127.0.0.1', port: seal.port, user: 'fc', password: 'fc-secret', database: 'postgres', ssl: { ca: readFileSync(seal.caFile), servername: 'localhost' } });
  c.on('error', () => {});
  return c;
}

function insertSql(id: number): string {
  return `INSERT INTO t VALUES (${id}) -- ${'x'.repeat(3900)}`;
}

async function direct(sql: string): Promise<string> {
  return (await server.psql(sql)).stdout.trim();
}

test('a full disk fails closed: nothing unrecorded reaches PostgreSQL, and service resumes when space returns', async (t) => {
  if (!mountPoint) return t.skip('cannot mount a tmpfs here (needs root); fail-closed on a full disk not exercised');
  const c = client();
  await c.connect();
  await c.query('INSERT INTO t VALUES (1)');
  const filler = join(mountPoint, 'filler');
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k', 'count=64'], { stdio: 'ignore' });
  } catch {
    // dd stops with ENOSPC once the tmpfs is full: that is the point
  }
  // Writes go on into space the log had already reserved (a mapped segment keeps up to 768 KiB
  // ahead, mapped-segment.ts; write(2) fills the current page's slack), then fail. Each INSERT
  // carries a 3.9 KB comment so that happens within a few hundred statements, yet stays short
  // enough for the records to go straight into the mapped segment (store.ts #direct): the first
  // reservation to fail is that path's (a query's record or a result's), the failures after it
  // the buffered path's.
  let failedId = 0;
  for (let id = 100; id < 2100 && failedId === 0; id++) {
    try {
      await c.query(insertSql(id));
    } catch (e: any) {
      assert.equal(e.code, '58030');
      assert.match(e.message, /audit log write failed/);
      failedId = id;
    }
  }
  assert.ok(failedId > 0, 'a write eventually fails on the full disk');
  assert.equal(await direct(`SELECT count(*) FROM t WHERE id = ${failedId}`), '0', 'the unrecorded INSERT never reached PostgreSQL');
  assert.equal(await direct('SELECT count(*) FROM t WHERE id >= 100'), String(failedId - 100), 'every recorded INSERT ran');
  await assert.rejects(client().connect(), (e: any) => e.code === '58030', 'new sessions are refused while the log cannot be written');
  const failing = await pgsealCli(['status', '--admin', `127.0.0.1:${adminPort}`]);
  assert.equal(failing.code, 1, failing.stdout + failing.stderr);
  assert.match(failing.stdout, /FAILING CLOSED/);
  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  assert.match(metrics, /^pgseal_audit_fail_closed 1$/m);
  assert.equal((await fetch(`http://127.0.0.1:${adminPort}/healthz`)).status, 503);
  await rm(filler);
  const again = client();
  await again.connect();
  await again.query('INSERT INTO t VALUES (3)');
  await again.end();
  assert.equal(await direct('SELECT count(*) FROM t WHERE id = 3'), '1');
  const healthy = await pgsealCli(['status', '--admin', `127.0.0.1:${adminPort}`]);
  assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
  assert.match(healthy.stdout, /audit: healthy/);
  assert.match(healthy.stdout, /queries: \d+ \(1 errors\)/);
  const recs = await seal.auditRecords();
  const failed: any = recs.find((r: any) => r.type === 'query' && r.sql === insertSql(failedId));
  assert.ok(failed, 'the refused query is on record once space returned: ' + JSON.stringify(recs.slice(-12).map((r: any) => [r.seq, r.type, r.sql ?? r.reason ?? r.status])));
  const failedResult: any = recs.find((r: any) => r.type === 'result' && r.session === failed.session && r.query === failed.query);
  assert.equal(failedResult?.status, 'error', 'and marked as not executed');
  assert.ok(recs.some((r: any) => r.type === 'query' && r.sql === 'INSERT INTO t VALUES (3)'));
  await writeFile(join(mountPoint, 'probe'), 'x'); // the tmpfs is writable again
});
