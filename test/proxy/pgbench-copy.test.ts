import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { findPgBinary, pgbench, runCommand, startPostgres, type PgServer } from '../support/postgres.js';
import { removePgseal, startPgseal, waitFor, type Pgseal } from '../support/pgseal.js';

let server: PgServer;
let seal: Pgseal;

before(async () => {
  server = await startPostgres({ tls: true, hba: 'scram' });
  await server.createRole('bench', 'bench-secret');
  await server.psql('GRANT CREATE ON SCHEMA public TO bench;');
  seal = await startPgseal(server, { roles: ['bench'] });
});
after(async () => {
  await removePgseal(seal);
  await server.stop();
});

const env = () => ({ PGHOST: '127.0.0.1', PGPORT: String(seal.port), PGUSER: 'bench', PGPASSWORD: 'bench-secret', PGDATABASE: 'postgres', PGSSLMODE: 'verify-ca', PGSSLROOTCERT: seal.caFile });

test('pgbench runs through pgseal in simple, extended and prepared modes with no failed transactions', async () => {
  const init = await pgbench(['-i', '-s', '1', '-q'], env());
  assert.equal(init.code, 0, init.stderr);
  for (const mode of ['simple', 'extended', 'prepared']) {
    const r = await pgbench(['-n', '-M', mode, '-c', '4', '-j', '2', '-t', '50'], env());
    assert.equal(r.code, 0, `${mode}: ${r.stderr}`);
    assert.match(r.stdout, /number of transactions actually processed: 200\/200/, mode);
    assert.match(r.stdout, /number of failed transactions: 0 \(0\.000%\)/, mode);
  }
  const recs = await seal.auditRecords();
  const updates = recs.filter((x) => x.type === 'query' && String(x.sql).startsWith('UPDATE pgbench_accounts'));
  assert.ok(updates.length >= 600, `every pgbench UPDATE is recorded (${updates.length})`);
  assert.ok(updates.some((u) => u.protocol === 'simple') && updates.some((u) => u.protocol === 'extended'));
});

function psqlThroughPgseal(sql: string, input?: string) {
  return runCommand(findPgBinary('psql'), ['-X', '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql], {
    env: { ...process.env, ...env(), PGHOST: 'localhost', PGHOSTADDR: '127.0.0.1', PGSSLMODE: 'verify-full', LC_ALL: 'C' },
    ...(input === undefined ? {} : { input }),
    timeoutMs: 120_000,
  });
}

test('COPY of more than 10 MB goes in and comes back out byte for byte, and is recorded', async () => {
  const rows = 200_000;
  const text = Array.from({ length: rows }, (_, i) => `${i}\t${'x'.repeat(50)}${i}\n`).join('');
  assert.ok(Buffer.byteLength(text) > 10 * 1024 * 1024);
  assert.equal((await psqlThroughPgseal('CREATE TABLE big(id int, payload text)')).code, 0);
  const copyIn = await psqlThroughPgseal('\\copy big FROM STDIN', text);
  assert.equal(copyIn.code, 0, copyIn.stderr);
  assert.equal(copyIn.stdout.trim(), `COPY ${rows}`);
  const copyOut = await psqlThroughPgseal('\\copy (SELECT * FROM big ORDER BY id) TO STDOUT');
  assert.equal(copyOut.code, 0, copyOut.stderr);
  assert.equal(sha256(copyOut.stdout), sha256(text));
  let recs = await seal.auditRecords();
  const copyOf = (re: RegExp) => {
    const q = recs.find((x) => x.type === 'query' && re.test(String(x.sql)));
    return recs.find((x) => x.type === 'copy' && x.session === q?.session && x.query === q?.query);
  };
  // copy and result records are written within milliseconds of the COPY's end
  const resultOf = (r: Record<string, unknown> | undefined) => recs.find((x) => x.type === 'result' && x.session === r?.session && x.query === r?.query);
  await waitFor(async () => {
    recs = await seal.auditRecords();
    return resultOf(copyOf(/big FROM STDIN/i)) !== undefined && copyOf(/FROM big ORDER BY id \) TO STDOUT/i) !== undefined;
  });
  const inRec = copyOf(/big FROM STDIN/i);
  const outRec = copyOf(/FROM big ORDER BY id \) TO STDOUT/i);
  assert.ok(inRec && outRec, 'both COPY directions recorded');
  assert.equal(inRec.direction, 'in');
  assert.equal(outRec.direction, 'out');
  assert.ok(Number(inRec.bytes) >= Buffer.byteLength(text), `copy in bytes ${inRec.bytes}`);
  assert.ok(Number(outRec.bytes) >= Buffer.byteLength(text), `copy out bytes ${outRec.bytes}`);
  const inResult = resultOf(inRec);
  assert.deepEqual(inResult?.tags, [`COPY ${rows}`]);
  assert.equal(inResult?.rows, rows);
});

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
