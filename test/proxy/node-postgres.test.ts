import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import pg from 'pg';
import { startPostgres, type PgServer } from '../support/postgres.js';
import { removePgseal, startPgseal, waitFor, type Pgseal } from '../support/pgseal.js';

let server: PgServer;
let seal: Pgseal;

before(async () => {
  server = await startPostgres({ tls: true, hba: 'scram' });
  await server.createRole('app', 'app-secret');
  await server.psql('CREATE TABLE items(id int primary key, name text, data bytea); GRANT ALL ON items TO app;');
  seal = await startPgseal(server, { roles: ['app'] });
});
after(async () => {
  await removePgseal(seal);
  await server.stop();
});

function client(extra: Partial<pg.ClientConfig> = {}): pg.Client {
  return new pg.Client({
    host: '127.0.0.1', port: seal.port, user: 'app', password: 'app-secret', database: 'postgres',
    ssl: { ca: readFileSync(seal.caFile), servername: 'localhost' }, application_name: 'node-test', ...extra,
  });
}

async function records(): Promise<Array<Record<string, any>>> {
  return seal.auditRecords();
}

test('parameterized and prepared queries are executed and audited with their bind values', async () => {
  const c = client();
  await c.connect();
  try {
    await c.query('INSERT INTO items(id, name, data) VALUES ($1, $2, $3)', [1, 'first', Buffer.from([0xde, 0xad])]);
    const named = { name: 'by-id', text: 'SELECT name FROM items WHERE id = $1', values: [1] };
    assert.equal((await c.query(named)).rows[0].name, 'first');
    assert.equal((await c.query({ ...named, values: [1] })).rows[0].name, 'first');
    await assert.rejects(c.query('SELECT * FROM no_such_table WHERE id = $1', [1]), (e: any) => e.code === '42P01');
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1, 'session usable after an error');
  } finally {
    await c.end();
  }
  await waitFor(async () => (await records()).some((r) => r.type === 'session.end' && r.reason === 'client terminated'));
  const recs = await records();
  const insert = recs.find((r) => r.type === 'query' && r.sql.startsWith('INSERT INTO items'));
  assert.ok(insert);
  assert.equal(insert.protocol, 'extended');
  assert.deepEqual(insert.params.map((p: any) => [p.format, p.value]), [['text', '1'], ['text', 'first'], ['binary', 'dead']]);
  const selects = recs.filter((r) => r.type === 'query' && r.sql === 'SELECT name FROM items WHERE id = $1');
  assert.equal(selects.length, 2, 'each Execute of the prepared statement is recorded');
  assert.equal(selects[1].statement, 'by-id');
  const failed = recs.find((r) => r.type === 'query' && r.sql.includes('no_such_table'));
  const failedResult = recs.find((r) => r.type === 'result' && r.session === failed?.session && r.query === failed?.query);
  assert.equal(failedResult?.status, 'error');
  assert.equal(failedResult?.sqlstate, '42P01');
  const start = recs.find((r) => r.type === 'session.start' && r.session === insert.session);
  assert.equal(start?.user, 'app');
  assert.equal(start?.application_name, 'node-test');
  assert.match(start?.tls.version, /^TLSv1\.[23]$/);
});

test('pipelined queries are answered in order and each gets its own result record', async () => {
  const c = client();
  await c.connect();
  try {
    const values = await Promise.all(Array.from({ length: 20 }, (_, i) => c.query('SELECT $1::int * 2 AS v', [i])));
    assert.deepEqual(values.map((r) => r.rows[0].v), Array.from({ length: 20 }, (_, i) => i * 2));
  } finally {
    await c.end();
  }
  // Result records no forward waits for are written within milliseconds: wait for this session's end.
  const mine = (recs: Array<Record<string, any>>) => recs.filter((r) => r.type === 'query' && r.sql === 'SELECT $1::int * 2 AS v');
  await waitFor(async () => {
    const recs = await records();
    const session = mine(recs)[0]?.session;
    return recs.some((r) => r.type === 'session.end' && r.session === session);
  });
  const recs = await records();
  const qs = mine(recs);
  assert.equal(qs.length, 20);
  for (const q of qs) {
    const res = recs.find((r) => r.type === 'result' && r.session === q.session && r.query === q.query);
    assert.equal(res?.status, 'ok');
    assert.equal(res?.rows, 1);
  }
});

test('LISTEN/NOTIFY notifications reach the listener through pgseal', async () => {
  const listener = client();
  const notifier = client();
  await listener.connect();
  await notifier.connect();
  try {
    await listener.query('LISTEN chan');
    const got = new Promise<string>((resolve) => listener.on('notification', (n) => resolve(n.payload ?? '')));
    await notifier.query("SELECT pg_notify('chan', 'hello')");
    assert.equal(await got, 'hello');
  } finally {
    await listener.end();
    await notifier.end();
  }
});

async function sendCancel(pid: number, secretKey: number, overTls: boolean): Promise<void> {
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4);
  packet.writeInt32BE(pid, 8);
  packet.writeInt32BE(secretKey, 12);
  const raw = net.connect({ host: '127.0.0.1', port: seal.port });
  await once(raw, 'connect');
  let sock: net.Socket = raw;
  if (overTls) {
    const ssl = Buffer.alloc(8);
    ssl.writeInt32BE(8, 0);
    ssl.writeInt32BE(80877103, 4);
    raw.write(ssl);
    const [answer] = (await once(raw, 'data')) as [Buffer];
    assert.equal(answer.toString(), 'S');
    sock = tls.connect({ socket: raw, ca: readFileSync(seal.caFile), servername: 'localhost' });
    await once(sock, 'secureConnect');
  }
  sock.on('error', () => {}); // the server closes without answering, as PostgreSQL does
  sock.end(packet);
  await once(sock, 'close');
}

for (const overTls of [false, true]) {
  test(`a cancel request ${overTls ? 'over TLS' : 'in plaintext'} stops pg_sleep and is audited`, async () => {
    const cancelsBefore = (await records()).filter((r) => r.type === 'cancel').length;
    const c = client();
    await c.connect();
    try {
      const sleeping = c.query('SELECT pg_sleep(30)');
      await waitFor(async () => (await server.psql("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'")).stdout.trim() === '1');
      const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
      await sendCancel(processID, secretKey ^ 1, overTls); // a wrong key is ignored
      await sendCancel(processID, secretKey, overTls);
      await assert.rejects(sleeping, (e: any) => e.code === '57014');
    } finally {
      await c.end();
    }
    await waitFor(async () => (await records()).filter((r) => r.type === 'cancel').length >= cancelsBefore + 2);
    const cancels = (await records()).filter((r) => r.type === 'cancel').slice(cancelsBefore);
    assert.deepEqual(cancels.map((r) => r.matched), [false, true], 'the wrong key, then the right one');
    assert.equal(typeof cancels[1]!.session, 'string');
  });
}
