import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runCommand, startPostgres, type PgServer } from '../support/postgres.js';
import { pgsealCli, removePgseal, startPgseal, waitFor, type Pgseal } from '../support/pgseal.js';

let server: PgServer;
let seal: Pgseal;
let home: string;

before(async () => {
  server = await startPostgres({ tls: true, hba: 'scram' });
  await server.createRole('aud', 'aud-secret');
  seal = await startPgseal(server, { roles: ['aud'] });
  home = dirname(seal.configFile);
});
after(async () => {
  await removePgseal(seal);
  await server.stop();
});

const sql = (q: string) =>
  server.psql(q, { user: 'aud', password: 'aud-secret', port: seal.port, host: 'localhost', hostaddr: '127.0.0.1', sslmode: 'verify-full', extraEnv: { PGSSLROOTCERT: seal.caFile, PGAPPNAME: 'audit-test' } });

test('a real proxy log verifies, survives key rotation by SIGHUP, and names the place of an edit', async () => {
  for (let i = 0; i < 5; i++) assert.equal((await sql(`SELECT ${i} AS before_rotation`)).code, 0);
  const vkey = join(home, 'keys', 'audit.pub');
  const made = await pgsealCli(['keys', 'init', '--key', join(home, 'keys', 'audit-2.key'), '--name', 'rotated.example/log']);
  assert.equal(made.code, 0, made.stderr);
  const cfg = await readFile(seal.configFile, 'utf8');
  await writeFile(seal.configFile, cfg.replace('key: keys/audit.key', 'key: keys/audit-2.key'));
  const logged = seal.log.length;
  seal.proc.kill('SIGHUP');
  await waitFor(() => seal.log.slice(logged).some((l) => l.includes('audit signing key rotated')));
  for (let i = 0; i < 5; i++) assert.equal((await sql(`SELECT ${i} AS after_rotation`)).code, 0);
  assert.equal(await seal.stop(), 0);
  const audit = join(home, 'audit');

  const ok = await pgsealCli(['verify', audit, '--key', vkey, '--strict']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  const recs = await seal.auditRecords();
  assert.ok(recs.some((r) => r.type === 'key.rotate'));
  assert.equal(recs.at(-1)!.type, 'checkpoint', 'a clean shutdown seals the log with a final checkpoint');

  const wrongKey = await pgsealCli(['verify', audit, '--key', join(home, 'keys', 'audit-2.pub')]);
  assert.equal(wrongKey.code, 1, 'the new key alone cannot vouch for checkpoints before the rotation');

  const show = await pgsealCli(['log', 'show', audit]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /SELECT 3 AS after_rotation/);
  assert.match(show.stdout, /aud/);

  // Tamper with a copy: change one query's SQL.
  const copy = join(seal.dir, 'tampered');
  await cp(audit, copy, { recursive: true });
  const seg = (await readdir(copy)).filter((n) => n.startsWith('seg-')).sort()[0]!;
  const text = await readFile(join(copy, seg), 'utf8');
  assert.ok(text.includes('SELECT 2 AS before_rotation'));
  await writeFile(join(copy, seg), text.replace('SELECT 2 AS before_rotation', 'SELECT 7 AS before_rotation'));
  const bad = await pgsealCli(['verify', copy, '--key', vkey]);
  assert.equal(bad.code, 1);
  // A root mismatch narrows the edit to the records the failing checkpoint added: a seq range that holds it.
  const editedSeq = text.split('\n').findIndex((l) => l.includes('SELECT 2 AS before_rotation'));
  const m = /TAMPERED checkpoint-root-mismatch: (seg-\d+\.jsonl) line \d+, seq (\d+)\.\.(\d+)/.exec(bad.stdout + bad.stderr);
  assert.ok(m, bad.stdout + bad.stderr);
  assert.equal(m[1], seg);
  assert.ok(Number(m[2]) <= editedSeq && editedSeq <= Number(m[3]), `seq ${editedSeq} within ${m[2]}..${m[3]}`);

  // The archive of the directory verifies as it is.
  const tgz = join(seal.dir, 'audit.tar.gz');
  assert.equal((await runCommand('tar', ['-czf', tgz, '-C', home, 'audit'])).code, 0);
  const archived = await pgsealCli(['verify', tgz, '--key', vkey]);
  assert.equal(archived.code, 0, archived.stdout + archived.stderr);

  // A checkpoint kept elsewhere catches a cut tail.
  const kept = join(seal.dir, 'checkpoint.kept');
  await cp(join(audit, 'checkpoint.latest'), kept);
  const cut = join(seal.dir, 'cut');
  await cp(audit, cut, { recursive: true });
  const segs = (await readdir(cut)).filter((n) => n.startsWith('seg-')).sort();
  const last = join(cut, segs.at(-1)!);
  const lines = (await readFile(last, 'utf8')).split('\n').filter(Boolean);
  await writeFile(last, lines.slice(0, -3).join('\n') + '\n');
  const truncated = await pgsealCli(['verify', cut, '--key', vkey, '--checkpoint', kept]);
  assert.equal(truncated.code, 1, truncated.stdout + truncated.stderr);
});
