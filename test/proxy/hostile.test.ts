import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import pg from 'pg';
import { freePort, startPostgres, type PgServer } from '../support/postgres.js';
import { removePgseal, restartPgseal, startPgseal, waitFor, type Pgseal } from '../support/pgseal.js';

let server: PgServer;
let seal: Pgseal;

before(async () => {
  server = await startPostgres({ tls: true, hba: 'scram' });
  await server.createRole('eve', 'eve-secret');
  seal = await startPgseal(server, { roles: ['eve'], extraYaml: 'limits:\n  startup_timeout_ms: 1500\n  max_message_bytes: 65536' });
});
after(async () => {
  await removePgseal(seal);
  await server.stop();
});

/** exchange sends bytes and collects everything the server says until it closes (or 5 s pass). */
async function exchange(bytes: Buffer[], port = seal.port): Promise<{ data: Buffer; closed: boolean }> {
  const s = net.connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  const chunks: Buffer[] = [];
  s.on('data', (d) => chunks.push(d));
  s.on('error', () => {});
  for (const b of bytes) s.write(b);
  const closed = await Promise.race([once(s, 'close').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5_000))]);
  s.destroy();
  return { data: Buffer.concat(chunks), closed };
}

function int32s(...v: number[]): Buffer {
  const b = Buffer.alloc(v.length * 4);
  v.forEach((x, i) => b.writeInt32BE(x | 0, i * 4));
  return b;
}

function sqlstateOf(data: Buffer): string | null {
  if (data[0] !== 0x45) return null;
  const m = /C([0-9A-Z]{5})\0/.exec(data.toString('latin1'));
  return m ? m[1]! : null;
}

async function stillServes(): Promise<void> {
  const c = new pg.Client({ host: '127.0.0.1', port: seal.port, user: 'eve', password: 'eve-secret', database: 'postgres', ssl: { ca: readFileSync(seal.caFile), servername: 'localhost' } });
  await c.connect();
  assert.equal((await c.query('SELECT 7 AS n')).rows[0].n, 7);
  await c.end();
}

const startupWithLength = (len: number) => Buffer.concat([int32s(len), Buffer.alloc(4)]);

for (const [name, bytes] of [
  ['length 0', [int32s(0)]],
  ['length 3', [int32s(3)]],
  ['length 2^31-1', [int32s(0x7fffffff)]],
  ['length 10001', [startupWithLength(10_001)]],
  ['unknown protocol version 4.0', [int32s(12, 4 << 16, 0)]],
  ['garbage', [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]],
] as Array<[string, Buffer[]]>) {
  test(`hostile startup input (${name}) gets 08P01/0A000 or a close, and pgseal keeps serving`, async () => {
    const { data, closed } = await exchange(bytes);
    assert.ok(closed, 'connection closed');
    if (data.length > 0) assert.ok(['08P01', '0A000'].includes(sqlstateOf(data) ?? ''), `answer ${data.toString('latin1')}`);
    await stillServes();
  });
}

test('bytes sent after SSLRequest, before the answer, close the connection without TLS', async () => {
  const { data, closed } = await exchange([Buffer.concat([int32s(8, 80877103), Buffer.from([0x16, 3, 1, 0, 5])])]);
  assert.ok(closed);
  assert.equal(data.length, 0, 'no S was sent');
  await stillServes();
});

test('a client that sends nothing is dropped after the startup timeout', async () => {
  const started = Date.now();
  const { closed } = await exchange([]);
  assert.ok(closed);
  assert.ok(Date.now() - started < 4_000);
});

test('GSSENCRequest is answered N and the connection may go on with SSLRequest', async () => {
  const s = net.connect({ host: '127.0.0.1', port: seal.port });
  await once(s, 'connect');
  s.write(int32s(8, 80877104));
  assert.equal(((await once(s, 'data')) as [Buffer])[0].toString(), 'N');
  s.write(int32s(8, 80877103));
  assert.equal(((await once(s, 'data')) as [Buffer])[0].toString(), 'S');
  s.destroy();
});

test('plaintext clients are refused with a FATAL that says how to connect', async () => {
  const r = await server.psql('SELECT 1', { user: 'eve', password: 'eve-secret', port: seal.port, sslmode: 'disable' });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /requires an encrypted connection/);
  assert.match(r.stderr, /sslmode=require/);
  await waitFor(async () => (await seal.auditRecords()).some((x) => x.type === 'session.reject' && x.sqlstate === '28000' && x.user === 'eve'));
});

async function directTls(alpn: string[] | undefined): Promise<{ secure: boolean; first: Buffer | null }> {
  const s = tls.connect({ host: '127.0.0.1', port: seal.port, servername: 'localhost', ca: readFileSync(seal.caFile), ...(alpn ? { ALPNProtocols: alpn } : {}) });
  s.on('error', () => {});
  const secure = await Promise.race([once(s, 'secureConnect').then(() => true), once(s, 'close').then(() => false)]);
  if (!secure) return { secure, first: null };
  const params = Buffer.from('user\0eve\0database\0postgres\0\0');
  s.write(Buffer.concat([int32s(8 + params.length, 196608), params]));
  const first = await Promise.race([once(s, 'data').then((d) => (d as [Buffer])[0]), once(s, 'close').then(() => null)]);
  s.destroy();
  return { secure, first };
}

test('PostgreSQL 17 direct TLS with ALPN postgresql reaches authentication; without ALPN it is closed', async () => {
  const ok = await directTls(['postgresql']);
  assert.ok(ok.secure);
  assert.equal(ok.first?.[0], 0x52, 'AuthenticationSASL');
  assert.match(ok.first!.toString('latin1'), /SCRAM-SHA-256-PLUS/);
  const bad = await directTls(undefined);
  assert.equal(bad.first, null, 'no answer without ALPN');
});

test('a message over max_message_bytes gets 08P01 and the session is closed', async () => {
  const c = new pg.Client({ host: '127.0.0.1', port: seal.port, user: 'eve', password: 'eve-secret', database: 'postgres', ssl: { ca: readFileSync(seal.caFile), servername: 'localhost' } });
  c.on('error', () => {});
  await c.connect();
  await assert.rejects(c.query(`SELECT '${'y'.repeat(100_000)}'`), (e: any) => e.code === '08P01' && /exceeds the limit/.test(e.message));
  await c.end().catch(() => {});
  await stillServes();
});

test('an unreachable upstream gets 08001 naming the cause', async () => {
  const dead = await freePort();
  const other = await startPgseal(server, { roles: ['eve'], editYaml: (y) => y.replace(/address: 127\.0\.0\.1:\d+/, `address: 127.0.0.1:${dead}`) });
  try {
    const c = new pg.Client({ host: '127.0.0.1', port: other.port, user: 'eve', password: 'eve-secret', database: 'postgres', ssl: { ca: readFileSync(other.caFile), servername: 'localhost' } });
    await assert.rejects(c.connect(), (e: any) => e.code === '08001' && /connection refused/.test(e.message));
  } finally {
    await removePgseal(other);
  }
});

test('replication connections are refused unless enabled', async () => {
  const c = new pg.Client({ host: '127.0.0.1', port: seal.port, user: 'eve', password: 'eve-secret', database: 'postgres', replication: 'database', ssl: { ca: readFileSync(seal.caFile), servername: 'localhost' } } as pg.ClientConfig);
  await assert.rejects(c.connect(), (e: any) => e.code === '28000' && /replication connections are not allowed/.test(e.message));
});

test('random messages after login get an error or a close, never a crash (seeded fuzz)', async () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let round = 0; round < 20; round++) {
    const c = new pg.Client({ host: '127.0.0.1', port: seal.port, user: 'eve', password: 'eve-secret', database: 'postgres', ssl: { ca: readFileSync(seal.caFile), servername: 'localhost' } });
    c.on('error', () => {});
    await c.connect();
    const stream = (c as any).connection.stream as net.Socket;
    const closed = once(stream, 'close').then(() => true);
    const parts: Buffer[] = [];
    for (let i = 0; i < 5; i++) {
      const code = 'QPBEDCSHFdcfX?\0'.charCodeAt(rand(15));
      const body = Buffer.alloc(rand(64));
      for (let j = 0; j < body.length; j++) body[j] = rand(256);
      const head = Buffer.alloc(5);
      head[0] = code;
      head.writeInt32BE(rand(10) === 0 ? rand(4) : body.length + 4, 1); // now and then an invalid length
      parts.push(head, body);
    }
    stream.write(Buffer.concat(parts));
    const ended = await Promise.race([closed, new Promise<boolean>((r) => setTimeout(() => r(false), 3_000))]);
    if (!ended) await c.end().catch(() => {});
    stream.destroy();
  }
  await stillServes();
  assert.equal(seal.proc.exitCode, null, 'pgseal is still running');
  const internal = seal.log.filter((l) => /internal error|unexpected error/.test(l));
  assert.deepEqual(internal, [], 'every bad message was a protocol error, none an internal one');
});

/** serverFirst logs in as user up to SCRAM's server-first-message and returns its salt and iteration count. */
async function serverFirst(user: string, target: Pgseal = seal): Promise<{ salt: Buffer; iterations: number }> {
  const raw = net.connect({ host: '127.0.0.1', port: target.port });
  await once(raw, 'connect');
  raw.write(int32s(8, 80877103)); // SSLRequest
  const [answer] = (await once(raw, 'data')) as [Buffer];
  assert.equal(answer.toString('latin1'), 'S');
  const s = tls.connect({ socket: raw, ca: readFileSync(target.caFile), servername: 'localhost' });
  await once(s, 'secureConnect');
  let buffered = Buffer.alloc(0);
  s.on('data', (d: Buffer) => (buffered = Buffer.concat([buffered, d])));
  const next = async (): Promise<{ code: number; body: Buffer }> => {
    await waitFor(() => buffered.length >= 5 && buffered.length >= 1 + buffered.readInt32BE(1));
    const len = buffered.readInt32BE(1);
    const m = { code: buffered[0]!, body: buffered.subarray(5, 1 + len) };
    buffered = buffered.subarray(1 + len);
    return m;
  };
  const params = Buffer.from(`user\0${user}\0database\0postgres\0\0`);
  s.write(Buffer.concat([int32s(8 + params.length, 196608), params]));
  const sasl = await next();
  assert.equal(sasl.code, 0x52);
  assert.equal(sasl.body.readInt32BE(0), 10, 'AuthenticationSASL');
  const clientFirst = Buffer.from('n,,n=,r=abcdefghijklmnopqrstuvwx');
  const mech = Buffer.from('SCRAM-SHA-256\0');
  const body = Buffer.concat([mech, int32s(clientFirst.length), clientFirst]);
  s.write(Buffer.concat([Buffer.from('p'), int32s(4 + body.length), body]));
  const cont = await next();
  assert.equal(cont.code, 0x52);
  assert.equal(cont.body.readInt32BE(0), 11, 'AuthenticationSASLContinue');
  const text = cont.body.subarray(4).toString();
  s.destroy();
  const m = /^r=abcdefghijklmnopqrstuvwx[A-Za-z0-9+/=]+,s=([A-Za-z0-9+/=]+),i=(\d+)$/.exec(text);
  assert.ok(m, text);
  return { salt: Buffer.from(m[1]!, 'base64'), iterations: Number(m[2]) };
}

test('a role pgseal holds no verifier for gets a SCRAM exchange like a real one: a salt stable per role, the default iterations', async () => {
  const real = await serverFirst('eve');
  const first = await serverFirst('nobody');
  const again = await serverFirst('nobody');
  const other = await serverFirst('nobody-else');
  for (const x of [real, first, other]) {
    assert.equal(x.salt.length, 16);
    assert.equal(x.iterations, 4096);
  }
  assert.deepEqual(again.salt, first.salt, 'the same salt each time, as a stored verifier would give');
  assert.notDeepEqual(other.salt, first.salt);
  // The client left after the server-first-message: the record still says the role had no verifier.
  await waitFor(async () => (await seal.auditRecords()).some((x) => x.type === 'auth.failure' && x.user === 'nobody-else' && /no SCRAM verifier for role "nobody-else"/.test(String(x.reason))));
  await seal.stop();
  seal = await restartPgseal(seal);
  assert.deepEqual((await serverFirst('nobody')).salt, first.salt, 'and the same after a restart (derived from the TLS key)');
  await stillServes();
  // Verifiers fetched by auth_query may have another shape than the auth file's: the operator says so.
  const shaped = await startPgseal(server, { roles: ['eve'], editYaml: (y) => y.replace(/auth:\n  method: scram\n/, 'auth:\n  method: scram\n  decoy_iterations: 10000\n  decoy_salt_length: 20\n') });
  try {
    const d = await serverFirst('nobody', shaped);
    assert.equal(d.iterations, 10000);
    assert.equal(d.salt.length, 20);
  } finally {
    await removePgseal(shaped);
  }
});
