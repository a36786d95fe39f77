import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import pg from 'pg';
import { startPostgres, type PgServer } from '../support/postgres.js';
import { removePgseal, startPgseal, waitFor, type Pgseal } from '../support/pgseal.js';

let server: PgServer;

before(async () => {
  server = await startPostgres({ tls: true, hba: 'scram' });
  await server.createRole('ivy', 'ivy-secret');
});
after(async () => {
  await server.stop();
});

function client(seal: Pgseal): pg.Client {
  const c = new pg.Client({ host: '127.0.0.1', port: seal.port, user: 'ivy', password: 'ivy-secret', database: 'postgres', ssl: { ca: readFileSync(seal.caFile), servername: 'localhost' } });
  c.on('error', () => {});
  return c;
}

async function withPgseal(edit: (y: string) => string, extraYaml: string | undefined, fn: (s: Pgseal) => Promise<void>, pgServer = server): Promise<void> {
  const seal = await startPgseal(pgServer, { roles: ['ivy'], editYaml: edit, ...(extraYaml ? { extraYaml } : {}) });
  try {
    await fn(seal);
  } finally {
    await removePgseal(seal);
  }
}

test('an upstream certificate that does not match the expected name gets 08001 naming the TLS failure', async () => {
  await withPgseal((y) => y.replace('server_name: localhost', 'server_name: db.example.com'), undefined, async (seal) => {
    await assert.rejects(client(seal).connect(), (e: any) => e.code === '08001' && /TLS with upstream .* failed/.test(e.message) && /db\.example\.com/.test(e.message));
  });
});

test('an upstream without TLS gets 08001 saying it does not support SSL', async () => {
  const plain = await startPostgres({ tls: false, hba: 'scram' });
  try {
    await plain.createRole('ivy', 'ivy-secret');
    await withPgseal((y) => y, undefined, async (seal) => {
      await assert.rejects(client(seal).connect(), (e: any) => e.code === '08001' && /does not support SSL/.test(e.message));
    }, plain);
  } finally {
    await plain.stop();
  }
});

test('an upstream that accepts TCP but never answers times out with 08001', async () => {
  const silent = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as net.AddressInfo).port;
  try {
    await withPgseal((y) => y.replace(/address: 127\.0\.0\.1:\d+/, `address: 127.0.0.1:${port}`).replace('tls: verify-full', 'tls: verify-full\n  connect_timeout_ms: 500'), undefined, async (seal) => {
      const started = Date.now();
      await assert.rejects(client(seal).connect(), (e: any) => e.code === '08001' && /timeout|closed/.test(e.message));
      assert.ok(Date.now() - started < 5_000);
    });
  } finally {
    silent.close();
  }
});

test('max_clients refuses the connection beyond the limit with 53300 and admits again after one leaves', async () => {
  await withPgseal((y) => y, 'limits:\n  max_clients: 1', async (seal) => {
    const first = client(seal);
    await first.connect();
    await assert.rejects(client(seal).connect(), (e: any) => e.code === '53300');
    await first.end();
    await waitFor(async () => {
      const c = client(seal);
      try {
        await c.connect();
        await c.end();
        return true;
      } catch {
        return false;
      }
    });
  });
});

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

test('a client that stops reading pauses the upstream: pgseal memory stays bounded', async () => {
  await withPgseal((y) => y, undefined, async (seal) => {
    const c = client(seal);
    await c.connect();
    const before = rssKiB(seal.proc.pid!);
    const stream = (c as any).connection.stream as net.Socket;
    // ~300 MB of rows; the client stops reading right after sending the query.
    const q = c.query("SELECT repeat('x', 1000) FROM generate_series(1, 300000)");
    stream.pause();
    await waitFor(async () => (await server.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'ClientWrite'")).stdout.trim() === '1', 20_000);
    const during = rssKiB(seal.proc.pid!);
    assert.ok(during - before < 64 * 1024, `pgseal grew by ${during - before} KiB while the client was not reading`);
    stream.resume();
    const r = await q;
    assert.equal(r.rowCount, 300000);
    await c.end();
  });
});
