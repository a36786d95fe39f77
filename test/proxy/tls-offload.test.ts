import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import tls from 'node:tls';
import { initCa, issueServerCertificate } from '../../src/pki/index.js';
import { relayLeg } from '../../src/proxy/relay-leg.js';
import { offloadTls, RecordTap, registerTap, tlsOffloadAvailable, tlsOffloadStats } from '../../src/proxy/tls-offload.js';
import { tempDir } from '../pki/helpers.js';
import { waitFor } from '../support/pgseal.js';

// pgseal's record layer against OpenSSL (through Node's TLS) as the peer: after the hand-over
// the peer must not notice anything, in either direction, for small and large writes, through
// close_notify; a forged record must end the connection; TLS 1.2 must stay on Node's TLS.

let credentials: Promise<{ ca: Buffer; cert: Buffer; key: Buffer }> | undefined;
function pki(t: TestContext) {
  credentials ??= (async () => {
    const dir = await tempDir(t);
    await initCa({ dir });
    const srv = await issueServerCertificate({ dir, name: 'peer', sans: ['DNS:localhost', 'IP:127.0.0.1'] });
    return { ca: await readFile(join(dir, 'ca.crt')), cert: await readFile(srv.certPath), key: await readFile(srv.keyPath) };
  })();
  return credentials;
}

type Pair = { client: tls.TLSSocket; peer: tls.TLSSocket; peerRaw: net.Socket };

/** pair connects a client that runs over a RecordTap (the side under test) to a plain Node TLS peer. */
async function pair(t: TestContext, maxVersion: tls.SecureVersion = 'TLSv1.3'): Promise<Pair> {
  const s = await pki(t);
  const context = tls.createSecureContext({ cert: s.cert, key: s.key, maxVersion });
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = new Promise<{ peer: tls.TLSSocket; peerRaw: net.Socket }>((resolve) =>
    listener.once('connection', (peerRaw: net.Socket) => resolve({ peer: new tls.TLSSocket(peerRaw, { isServer: true, secureContext: context }), peerRaw })),
  );
  const raw = net.connect({ port: (listener.address() as AddressInfo).port, host: '127.0.0.1' });
  await once(raw, 'connect');
  const tap = new RecordTap(raw);
  const client = tls.connect({ socket: tap, ca: s.ca, servername: 'localhost' });
  client.on('keylog', (line: Buffer) => tap.keylog(line));
  registerTap(client, tap);
  await once(client, 'secureConnect');
  const { peer, peerRaw } = await accepted;
  t.after(() => {
    client.destroy();
    raw.destroy();
    peer.destroy();
    listener.close();
  });
  return { client, peer, peerRaw };
}

/** exchange sends a line each way over TLS, so both directions carry application records before the hand-over. */
async function exchange(p: Pair): Promise<void> {
  const got = once(p.peer, 'data');
  p.client.write('hello');
  assert.equal(String((await got)[0]), 'hello');
  const back = once(p.client, 'data');
  p.peer.write('hi');
  assert.equal(String((await back)[0]), 'hi');
  p.client.pause();
  p.client.removeAllListeners('data');
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('a TLS 1.3 connection moves to the record layer and the peer sees no difference, both ways, through close_notify', { skip: !tlsOffloadAvailable }, async (t) => {
  const p = await pair(t);
  await exchange(p);
  const before = tlsOffloadStats.offloaded;
  const off = await offloadTls(p.client, 'client');
  assert.ok(off, 'the connection was handed over');
  assert.equal(tlsOffloadStats.offloaded, before + 1);
  assert.equal(off.pending.length, 0);

  const received: Buffer[] = [];
  let closedHow: string | null = null;
  const reply = randomBytes(200_000);
  const closed = new Promise<void>((resolve) => {
    const leg = relayLeg(off.socket, off.codec);
    leg.start(
      (chunk) => received.push(chunk),
      (how) => {
        closedHow = how;
        resolve();
      },
    );
    // Small and large writes: a 100 kB write spans seven records.
    const small = Buffer.from('SELECT 1');
    const large = randomBytes(100_000);
    const peerGot: Buffer[] = [];
    p.peer.on('data', (c: Buffer) => {
      peerGot.push(c);
      if (Buffer.concat(peerGot).length === small.length + large.length) {
        const all = Buffer.concat(peerGot);
        assert.equal(all.subarray(0, small.length).toString(), 'SELECT 1');
        assert.equal(sha(all.subarray(small.length)), sha(large));
        p.peer.end(reply); // data, then close_notify
      }
    });
    leg.write(small);
    leg.write(large);
  });
  await closed;
  assert.equal(closedHow, 'end', 'close_notify ends the leg');
  assert.equal(sha(Buffer.concat(received)), sha(reply));
});

test('data the peer sent before the hand-over reaches the relay first', { skip: !tlsOffloadAvailable }, async (t) => {
  const p = await pair(t);
  await exchange(p);
  p.peer.write('early one');
  p.peer.write('early two');
  await new Promise((r) => setTimeout(r, 50)); // both records are at the client, in the tap or in TLS
  const off = await offloadTls(p.client, 'client');
  assert.ok(off);
  const received: Buffer[] = [off.pending];
  const leg = relayLeg(off.socket, off.codec);
  leg.start(
    (c) => received.push(c),
    () => {},
  );
  p.peer.write('after');
  await waitFor(() => Buffer.concat(received).toString() === 'early oneearly twoafter', 5_000).catch(() => {});
  assert.equal(Buffer.concat(received).toString(), 'early oneearly twoafter');
  leg.destroy();
});

test('a forged record ends the connection with an error, not with data', { skip: !tlsOffloadAvailable }, async (t) => {
  const p = await pair(t);
  await exchange(p);
  const off = await offloadTls(p.client, 'client');
  assert.ok(off);
  const received: Buffer[] = [];
  const how = new Promise<string>((resolve) => relayLeg(off.socket, off.codec).start((c) => received.push(c), resolve));
  // An application-data record of the right shape whose tag cannot verify.
  p.peerRaw.write(Buffer.concat([Buffer.from([23, 3, 3, 0, 40]), randomBytes(40)]));
  assert.equal(await how, 'error');
  assert.equal(Buffer.concat(received).length, 0);
});

test('a TLS 1.2 connection stays on Node\'s TLS and keeps working', { skip: !tlsOffloadAvailable }, async (t) => {
  const p = await pair(t, 'TLSv1.2');
  assert.equal(p.client.getProtocol(), 'TLSv1.2');
  await exchange(p);
  const declined = tlsOffloadStats.declined;
  assert.equal(await offloadTls(p.client, 'client'), null);
  assert.equal(tlsOffloadStats.declined, declined + 1);
  // The relay then drives the TLS socket over the tap, as it did before the offload existed.
  const received: Buffer[] = [];
  const leg = relayLeg(p.client);
  leg.start(
    (c) => received.push(c),
    () => {},
  );
  const got = once(p.peer, 'data');
  leg.write(Buffer.from('still here'));
  assert.equal(String((await got)[0]), 'still here');
  p.peer.write('and back');
  await waitFor(() => Buffer.concat(received).toString() === 'and back', 5_000).catch(() => {});
  assert.equal(Buffer.concat(received).toString(), 'and back');
  leg.destroy();
});

test('KeyUpdate: pgseal asks for new keys, OpenSSL answers with its own, and data keeps flowing both ways', { skip: !tlsOffloadAvailable }, async (t) => {
  const p = await pair(t);
  await exchange(p);
  const off = await offloadTls(p.client, 'client');
  assert.ok(off);
  const received: Buffer[] = [];
  let closedHow: string | null = null;
  const leg = relayLeg(off.socket, off.codec);
  leg.start(
    (c) => received.push(c),
    (how) => (closedHow = how),
  );
  const peerGot: Buffer[] = [];
  p.peer.on('data', (c: Buffer) => peerGot.push(c));
  for (let round = 0; round < 3; round++) {
    off.codec.requestKeyUpdate(); // KeyUpdate(update_requested) goes out before this round's data
    leg.write(Buffer.from(`ping ${round}`));
    await waitFor(() => Buffer.concat(peerGot).toString().endsWith(`ping ${round}`), 5_000);
    p.peer.write(`pong ${round}`); // OpenSSL sends its own KeyUpdate first, under its old keys
    await waitFor(() => Buffer.concat(received).toString().endsWith(`pong ${round}`), 5_000);
  }
  assert.equal(Buffer.concat(peerGot).toString(), 'ping 0ping 1ping 2');
  assert.equal(Buffer.concat(received).toString(), 'pong 0pong 1pong 2');
  assert.equal(closedHow, null, 'the connection is still open');
  leg.destroy();
});
