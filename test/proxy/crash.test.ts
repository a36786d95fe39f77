import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';

import { mappedSegmentsAvailable } from '../../src/audit/mapped-segment.js';
import { pgbench, startPostgres, type PgServer } from '../support/postgres.js';
import { pgsealCli, removePgseal, restartPgseal, startPgseal, waitFor, type Pgseal } from '../support/pgseal.js';

let server: PgServer;
let seal: Pgseal;

before(async () => {
  server = await startPostgres({ tls: true, hba: 'scram' });
  await server.createRole('loader', 'loader-secret');
  await server.psql('CREATE TABLE ids(id bigint PRIMARY KEY); GRANT ALL ON ids TO loader;');
  seal = await startPgseal(server, { roles: ['loader'] });
});
after(async () => {
  await removePgseal(seal);
  await server.stop();
});

test('kill -9 under load: after restart verify passes and every inserted row has its query record', async () => {
  const script = join(seal.dir, 'insert.sql');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(script, '\\set id random(1, 9000000000000000000)\nINSERT INTO ids VALUES (:id) ON CONFLICT DO NOTHING;\n');
  const env = { PGHOST: '127.0.0.1', PGPORT: String(seal.port), PGUSER: 'loader', PGPASSWORD: 'loader-secret', PGDATABASE: 'postgres', PGSSLMODE: 'verify-ca', PGSSLROOTCERT: seal.caFile };
  const load = pgbench(['-n', '-M', 'simple', '-c', '4', '-j', '2', '-T', '20', '-f', script], env, 60_000);
  await waitFor(async () => Number((await server.psql('SELECT count(*) FROM ids')).stdout.trim()) > 2000, 20_000);
  const mapped = mappedSegmentsAvailable;
  assert.ok(seal.log.some((l) => l.includes('"pgseal listening"') && l.includes(`"audit_appends":"${mapped ? 'mapped' : 'write'}"`)), seal.log.join('\n'));
  seal.proc.kill('SIGKILL');
  await load; // pgbench stops with connection errors: expected
  const rows = (await server.psql('SELECT id FROM ids')).stdout.trim().split('\n');
  assert.ok(rows.length > 2000);
  if (mapped) {
    // The killed process left its open segment with reserved space after the records.
    const auditDir = join(dirname(seal.configFile), 'audit');
    const last = (await readdir(auditDir)).filter((n) => n.endsWith('.jsonl')).sort().at(-1)!;
    const bytes = await readFile(join(auditDir, last));
    assert.equal(bytes.at(-1), 0, `${last} ends in reserved zeros`);
  }

  seal = await restartPgseal(seal);
  const after = await pgbench(['-n', '-M', 'simple', '-c', '1', '-t', '20', '-f', script], env);
  assert.equal(after.code, 0, after.stderr);
  assert.equal(await seal.stop(), 0);

  const home = dirname(seal.configFile);
  const v = await pgsealCli(['verify', join(home, 'audit'), '--key', join(home, 'keys', 'audit.pub'), '--strict']);
  assert.equal(v.code, 0, `verify: ${v.stdout}${v.stderr}`);
  const recs = await seal.auditRecords();
  const recorded = new Set<string>();
  for (const r of recs) {
    const m = r.type === 'query' ? /^INSERT INTO ids VALUES \((\d+)\)/.exec(String(r.sql)) : null;
    if (m) recorded.add(m[1]!);
  }
  const missing = rows.filter((id) => !recorded.has(id));
  assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of ${rows.length} rows have no query record`);
  assert.ok(recs.some((r) => r.type === 'segment.start' && r.reason === 'start' && Number(r.seq) > 0), 'the restart began a new segment that continues the tree');
});
