import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import tls from 'node:tls';
import { initCa, issueServerCertificate } from '../../src/pki/index.js';
import { relayLeg, relayLegKind, relayLegStats } from '../../src/proxy/relay-leg.js';
import { atTurnEnd } from '../../src/audit/turn-end.js';
import { tempDir } from '../pki/helpers.js';

// The relay's sockets over real loopback TLS. The handle leg drives Node's native TLS handle
// directly, where a second write in flight aborts the process: these tests push many writes
// at a reader that is slower, mixed with the socket's own writes, to show that never happens.

let credentials: Promise<{ ca: Buffer; cert: Buffer; key: Buffer }> | undefined;
function pki(t: TestContext) {
  credentials ??= (async () => {
    const dir = await tempDir(t);
    await initCa({ dir });
    const srv = await issueServerCertificate({ dir, name: 'proxy', sans: ['DNS:localhost', 'IP:127.0.0.1'] });
    return { ca: await readFile(join(dir, 'ca.crt')), cert: await readFile(srv.certPath), key: await readFile(srv.keyPath) };
  })();
  return credentials;
}

/** tlsPair returns both ends of a loopback TLS connection; `server` is the side under test. */
async function tlsPair(t: TestContext): Promise<{ server: tls.TLSSocket; peer: tls.TLSSocket }> {
  const s = await pki(t);
  const listener = tls.createServer({ cert: s.cert, key: s.key });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'secureConnection') as Promise<[tls.TLSSocket]>;
  const peer = tls.connect({ port: (listener.address() as AddressInfo).port, host: '127.0.0.1', ca: s.ca, servername: 'localhost' });
  await once(peer, 'secureConnect');
  const [server] = await accepted;
  server.pause();
  t.after(() => {
    peer.destroy();
    server.destroy();
    listener.close();
  });
  return { server, peer };
}

function collect(socket: net.Socket): { bytes: () => Buffer; ended: Promise<unknown> } {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return { bytes: () => Buffer.concat(chunks), ended: once(socket, 'end') };
}

test('the relay uses the native handle path unless PGSEAL_HANDLE_RELAY=0', async (t) => {
  assert.equal(relayLegKind, process.env['PGSEAL_HANDLE_RELAY'] === '0' ? 'stream' : 'handle');
  const { server } = await tlsPair(t);
  assert.equal(relayLeg(server).constructor.name, relayLegKind === 'handle' ? 'HandleLeg' : 'StreamLeg');
});

test('thousands of writes to a slow reader arrive whole and in order, with backpressure', async (t) => {
  const { server, peer } = await tlsPair(t);
  // The socket's own write just before the relay takes over must come first.
  server.write('greeting|');
  const leg = relayLeg(server);
  leg.start(() => {}, () => {});
  const sent = createHash('sha256').update('greeting|');
  let sentBytes = 9;
  let refused = 0;
  let drains = 0;
  peer.pause(); // nothing is read until the queue is well past the high-water mark
  for (let i = 0; i < 3000; i++) {
    const chunk = randomBytes(1 + (i % 4096));
    sent.update(chunk);
    sentBytes += chunk.length;
    if (!leg.write(chunk)) refused++;
  }
  leg.onDrain(() => drains++);
  const got = createHash('sha256');
  let gotBytes = 0;
  const all = new Promise<void>((resolve) => {
    peer.on('data', (c: Buffer) => {
      got.update(c);
      gotBytes += c.length;
      if (gotBytes === sentBytes) resolve();
    });
  });
  setTimeout(() => peer.resume(), 50);
  await all;
  assert.ok(refused > 0, 'write reports a full queue');
  assert.equal(drains, 1, 'onDrain fires once the queue has gone out');
  assert.equal(got.digest('hex'), sent.digest('hex'));
});

test('bytes already buffered come first, then live reads; end from the peer closes the leg', async (t) => {
  const { server, peer } = await tlsPair(t);
  peer.write('early|');
  await new Promise((r) => setTimeout(r, 50)); // lands in the paused socket's Readable buffer
  const leg = relayLeg(server);
  const chunks: Buffer[] = [];
  const closed = new Promise<string>((resolve) => leg.start((c) => chunks.push(Buffer.from(c)), resolve));
  peer.write('late');
  peer.end();
  assert.equal(await closed, 'end');
  assert.equal(Buffer.concat(chunks).toString(), 'early|late');
});

test('pause holds reads back until resume; end(last) sends everything queued, then closes', async (t) => {
  const { server, peer } = await tlsPair(t);
  const received = collect(peer);
  const leg = relayLeg(server);
  const chunks: string[] = [];
  leg.start((c) => chunks.push(c.toString()), () => {});
  leg.pause();
  peer.write('while paused');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(chunks, []);
  leg.resume();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(chunks.join(''), 'while paused');
  leg.write(Buffer.from('one|'));
  leg.write(Buffer.from('two|'));
  leg.end(Buffer.from('last'));
  await received.ended;
  assert.equal(received.bytes().toString(), 'one|two|last');
});

test('a plain TCP socket relays through the same leg', async (t) => {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  const peer = net.connect((listener.address() as AddressInfo).port, '127.0.0.1');
  const [server] = await accepted;
  t.after(() => {
    peer.destroy();
    server.destroy();
    listener.close();
  });
  const received = collect(peer);
  const leg = relayLeg(server);
  const echoed = new Promise<string>((resolve) => leg.start((c) => resolve(c.toString()), () => {}));
  peer.write('ping');
  assert.equal(await echoed, 'ping');
  const big = randomBytes(4 << 20);
  leg.write(big);
  leg.end();
  await received.ended;
  assert.ok(received.bytes().equals(big));
});

test('request and response: the next write finds the last one finished, so its completion is never reported', async (t) => {
  const { server, peer } = await tlsPair(t);
  const leg = relayLeg(server);
  leg.start((c) => {
    leg.write(c); // each reply is written a round trip after the last: as a proxy forwards pgbench's queries
  }, () => {});
  const rounds = 2_000;
  const sent = createHash('sha256');
  const got = createHash('sha256');
  const before = relayLegStats.reportedCompletions;
  await new Promise<void>((resolve) => {
    let i = 0;
    let outstanding = 0; // bytes sent and not yet echoed: the next query waits for the whole reply
    const ask = () => {
      const q = randomBytes(1 + (i % 300));
      sent.update(q);
      outstanding += q.length;
      peer.write(q);
    };
    const onReply = (c: Buffer) => {
      got.update(c);
      outstanding -= c.length;
      if (outstanding > 0) return;
      if (++i < rounds) return ask();
      peer.off('data', onReply);
      resolve();
    };
    peer.on('data', onReply);
    ask();
  });
  const reported = relayLegStats.reportedCompletions - before;
  assert.equal(got.digest('hex'), sent.digest('hex'), 'every reply arrived whole and in order');
  if (relayLegKind === 'handle') assert.ok(reported < rounds / 10, `${reported} of ${rounds} completions were reported`);
  // A burst in one turn still waits for each write in flight: the first's completion is asked for.
  const burst = [randomBytes(70_000), randomBytes(10), randomBytes(5_000)];
  const received = collect(peer);
  for (const b of burst) leg.write(b);
  leg.end();
  await received.ended;
  assert.ok(received.bytes().equals(Buffer.concat(burst)));
});

test('end-of-turn work scheduled after a write in flight runs in that write\'s completion, before JavaScript immediates', async (t) => {
  if (relayLegKind !== 'handle' || process.env['PGSEAL_TURN_HOOK'] === '0') return t.skip('needs the handle relay and the turn-end hook');
  const { server, peer } = await tlsPair(t);
  const leg = relayLeg(server);
  leg.start(() => {}, () => {});
  await new Promise((r) => setTimeout(r, 20)); // the leg's first write waits for the socket's own
  const received = collect(peer);
  const order: string[] = [];
  leg.write(Buffer.from('query')); // no completion callback: nothing waits for it yet
  setImmediate(() => order.push('immediate'));
  atTurnEnd(() => order.push('work')); // the write still in flight is asked to carry it
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(order, ['work', 'immediate']);
  leg.end();
  await received.ended;
  assert.equal(received.bytes().toString(), 'query');
});

test('a socket that closed before the relay started is reported closed, not waited on forever', async (t) => {
  const { server } = await tlsPair(t);
  server.destroy();
  await once(server, 'close');
  const leg = relayLeg(server);
  const how = await new Promise<string>((resolve) => leg.start(() => assert.fail('no data from a closed socket'), resolve));
  assert.equal(how, 'close');
});

test('an empty chunk between writes is dropped, never a second write in flight (a TLS handle would abort)', async (t) => {
  const { server, peer } = await tlsPair(t);
  const leg = relayLeg(server);
  leg.start(() => {}, () => {});
  const a = randomBytes(100_000);
  const b = Buffer.from('tail');
  leg.write(Buffer.alloc(0));
  leg.write(a);
  leg.write(Buffer.alloc(0));
  leg.write(b);
  const received = collect(peer);
  leg.end();
  await received.ended;
  assert.ok(received.bytes().equals(Buffer.concat([a, b])));
});

test('a pause before start holds, even with a full Readable buffer at takeover', async (t) => {
  const { server, peer } = await tlsPair(t);
  peer.write(randomBytes(100_000));
  await new Promise((r) => setTimeout(r, 100));
  const leg = relayLeg(server);
  leg.pause();
  let got = 0;
  leg.start((c) => (got += c.length), () => {});
  const atStart = got;
  peer.write(randomBytes(200_000));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(got, atStart, 'nothing more is read while paused');
  leg.resume();
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(got, 300_000);
});

test('writes to a peer that reset the connection end the leg with an error, never a hang or an abort', async (t) => {
  const s = await pki(t);
  const listener = tls.createServer({ cert: s.cert, key: s.key });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'secureConnection') as Promise<[tls.TLSSocket]>;
  const raw = net.connect((listener.address() as AddressInfo).port, '127.0.0.1');
  const peer = tls.connect({ socket: raw, ca: s.ca, servername: 'localhost' });
  await once(peer, 'secureConnect');
  const [server] = await accepted;
  t.after(() => {
    server.destroy();
    listener.close();
  });
  const leg = relayLeg(server);
  let how: string | null = null;
  leg.start(() => {}, (h) => (how = h));
  leg.pause(); // a paused leg does not read, so only its writes can notice the reset
  await new Promise((r) => setTimeout(r, 20)); // the leg's first write waits for the socket's own
  raw.resetAndDestroy(); // an RST, not a TLS close_notify
  await new Promise((r) => setTimeout(r, 50));
  const deadline = Date.now() + 5_000;
  while (how === null && Date.now() < deadline) {
    leg.write(randomBytes(512));
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(how === 'error' || how === 'close' || how === 'end', `the leg reported its end (${String(how)})`);
  leg.destroy();
});
