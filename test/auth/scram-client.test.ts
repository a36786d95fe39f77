import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ScramClientExchange,
  ScramServerExchange,
  deriveScramKeys,
  parseScramVerifier,
  buildScramVerifier,
  tlsServerEndPoint,
} from '../../src/auth/index.js';
import { RFC7677, assertPgsealError, ecdsaP256Certificate, seededBytes } from './helpers.js';

const salt = Buffer.from('c2FsdHNhbHRzYWx0c2FsdA==', 'base64');
const password = 'correct horse battery staple';
const keys = deriveScramKeys(password, salt, 4096);
const verifier = parseScramVerifier(buildScramVerifier(password, { salt, iterations: 4096 }));
const cert = ecdsaP256Certificate();
const cbData = tlsServerEndPoint(cert);
const b = (s: string): Buffer => Buffer.from(s, 'utf8');

function client(channelBinding: Buffer | null, nonce?: string): ScramClientExchange {
  return new ScramClientExchange({
    clientKey: keys.clientKey,
    serverKey: keys.serverKey,
    channelBinding,
    ...(nonce === undefined ? {} : { nonce: b(nonce) }),
  });
}

/** Runs our client against our server; returns the messages and the ClientKey the server recovered. */
function roundTrip(clientCb: Buffer | null, serverCb: Buffer | null): { clientFirst: string; clientKey: Buffer } {
  const c = client(clientCb);
  const s = new ScramServerExchange({ verifier, channelBinding: serverCb });
  const mechanism = c.chooseMechanism(s.mechanisms());
  const clientFirst = c.clientFirst();
  const serverFirst = s.handleClientFirst(mechanism, clientFirst);
  const clientFinal = c.handleServerFirst(serverFirst);
  const { serverFinal, clientKey } = s.handleClientFinal(clientFinal);
  c.handleServerFinal(serverFinal);
  return { clientFirst: clientFirst.toString(), clientKey };
}

test('chooseMechanism prefers -PLUS only when offered and we have binding data', () => {
  assert.equal(client(cbData).chooseMechanism(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']), 'SCRAM-SHA-256-PLUS');
  assert.equal(client(null).chooseMechanism(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']), 'SCRAM-SHA-256');
  assert.equal(client(cbData).chooseMechanism(['SCRAM-SHA-256']), 'SCRAM-SHA-256');
  assertPgsealError(() => client(null).chooseMechanism(['SCRAM-SHA-1', 'OAUTHBEARER']), 'upstream_protocol', /SCRAM-SHA-1/);
  assertPgsealError(() => client(null).chooseMechanism(['SCRAM-SHA-256-PLUS']), 'upstream_protocol');
  assertPgsealError(() => client(null).chooseMechanism([]), 'upstream_protocol');
});

test('clientFirst: n,, or p=tls-server-end-point,, (never y), empty username, 18-byte nonce', () => {
  const plain = client(cbData, 'fixedNonce');
  plain.chooseMechanism(['SCRAM-SHA-256']);
  assert.equal(plain.clientFirst().toString(), 'n,,n=,r=fixedNonce');
  const plus = client(cbData, 'fixedNonce');
  plus.chooseMechanism(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']);
  assert.equal(plus.clientFirst().toString(), 'p=tls-server-end-point,,n=,r=fixedNonce');
  const nonces = [client(null), client(null)].map((c) => {
    c.chooseMechanism(['SCRAM-SHA-256']);
    return c.clientFirst().toString().slice('n,,n=,r='.length);
  });
  assert.match(nonces[0]!, /^[A-Za-z0-9+/]{24}$/);
  assert.notEqual(nonces[0], nonces[1]);
  assertPgsealError(() => client(null).clientFirst(), 'upstream_protocol', /before chooseMechanism/);
});

test('round trip with our server, with and without channel binding', () => {
  const plus = roundTrip(cbData, cbData);
  assert.ok(plus.clientFirst.startsWith('p=tls-server-end-point,,'));
  assert.ok(plus.clientKey.equals(keys.clientKey));
  const plain = roundTrip(null, null);
  assert.ok(plain.clientFirst.startsWith('n,,'));
  assert.ok(plain.clientKey.equals(keys.clientKey));
  // A client with binding data facing a server without -PLUS uses 'n', which the server accepts.
  assert.ok(roundTrip(cbData, null).clientFirst.startsWith('n,,'));
});

test('channel binding data that differs from the server certificate fails at the server', () => {
  const other = tlsServerEndPoint(ecdsaP256Certificate());
  assertPgsealError(() => roundTrip(other, cbData), 'protocol_violation', /channel binding check failed/);
});

test('a ClientKey that does not match the verifier fails at the server', () => {
  const wrong = deriveScramKeys('wrong', salt, 4096);
  const c2 = new ScramClientExchange({ clientKey: wrong.clientKey, serverKey: wrong.serverKey, channelBinding: null });
  const s2 = new ScramServerExchange({ verifier, channelBinding: null });
  const serverFirst = s2.handleClientFirst(c2.chooseMechanism(s2.mechanisms()), c2.clientFirst());
  assertPgsealError(() => s2.handleClientFinal(c2.handleServerFirst(serverFirst)), 'auth_failed');
});

/** A client that has sent its first message with the RFC 7677 client nonce. */
function rfcClient(): ScramClientExchange {
  const c = client(null, RFC7677.clientNonce);
  c.chooseMechanism(['SCRAM-SHA-256']);
  c.clientFirst();
  return c;
}

test('server-first-message: nonce, salt, iteration count and extensions are checked', () => {
  const n = RFC7677.clientNonce;
  const cases: Array<[string, RegExp]> = [
    [`r=${n},s=QQ==,i=4096`, /nonce mismatch/], // no server part
    [`r=X${n}abc,s=QQ==,i=4096`, /nonce mismatch/],
    [`r=${n}a\tb,s=QQ==,i=4096`, /nonce mismatch/],
    [`r=${n}abc,s=,i=4096`, /malformed SCRAM salt/],
    [`r=${n}abc,s=QR==,i=4096`, /malformed SCRAM salt/], // non-canonical base64
    [`r=${n}abc,s=QQ==,i=0`, /iteration count/],
    [`r=${n}abc,s=QQ==,i=04096`, /iteration count/],
    [`r=${n}abc,s=QQ==,i=2147483648`, /iteration count/],
    [`r=${n}abc,s=QQ==,i=4096,x=ext`, /extensions/],
    [`m=ext,r=${n}abc,s=QQ==,i=4096`, /extension/],
    [`s=QQ==,r=${n}abc,i=4096`, /expected attribute "r"/],
  ];
  for (const [msg, re] of cases) assertPgsealError(() => rfcClient().handleServerFirst(b(msg)), 'upstream_protocol', re);
  assert.match(rfcClient().handleServerFirst(b(RFC7677.serverFirst)).toString(), /^c=biws,r=rOpr[^,]+,p=[A-Za-z0-9+/]{43}=$/);
});

test('server-final-message: e= is auth_failed, a wrong or malformed signature is refused', () => {
  const final = (msg: string | Buffer): void => {
    const c = rfcClient();
    c.handleServerFirst(b(RFC7677.serverFirst));
    c.handleServerFinal(typeof msg === 'string' ? b(msg) : msg);
  };
  assertPgsealError(() => final('e=invalid-proof'), 'auth_failed', /^upstream SCRAM error: invalid-proof$/);
  assertPgsealError(() => final('e=bad\u0007\u00e9'), 'auth_failed', /^upstream SCRAM error: bad\?\?$/);
  assertPgsealError(() => final(`v=${Buffer.alloc(32).toString('base64')}`), 'upstream_protocol', /signature mismatch/);
  assertPgsealError(() => final('v=AAAA'), 'upstream_protocol', /malformed SCRAM server signature/);
  assertPgsealError(() => final(RFC7677.serverFinal), 'upstream_protocol', /signature mismatch/); // for n=user, not n=
  assertPgsealError(() => final(''), 'upstream_protocol');
});

test('every single-byte change of server-first or server-final is detected', () => {
  const s = new ScramServerExchange({ verifier, channelBinding: cbData, nonce: b('serverNonce') });
  const c = client(cbData, 'clientNonce');
  const serverFirst = s.handleClientFirst(c.chooseMechanism(s.mechanisms()), c.clientFirst());
  const { serverFinal } = s.handleClientFinal(c.handleServerFirst(serverFirst));
  c.handleServerFinal(serverFinal);

  const fresh = (): ScramClientExchange => {
    const x = client(cbData, 'clientNonce');
    x.chooseMechanism(['SCRAM-SHA-256-PLUS']);
    x.clientFirst();
    return x;
  };
  for (let i = 0; i < serverFirst.length; i++) {
    const mangled = Buffer.from(serverFirst);
    mangled[i] ^= 0x01;
    // Either refused outright, or the salt/iterations changed the AuthMessage and the signature fails.
    assertPgsealError(() => {
      const x = fresh();
      x.handleServerFirst(mangled);
      x.handleServerFinal(serverFinal);
    });
  }
  for (let i = 0; i < serverFinal.length; i++) {
    for (const mask of [0x01, 0x80]) {
      const mangled = Buffer.from(serverFinal);
      mangled[i] ^= mask;
      assertPgsealError(() => {
        const x = fresh();
        x.handleServerFirst(serverFirst);
        x.handleServerFinal(mangled);
      });
    }
  }
});

test('random bytes from the server only ever raise PgsealError', () => {
  const random = seededBytes(42);
  for (let i = 0; i < 300; i++) {
    const input = random(1 + (i % 80));
    assertPgsealError(() => rfcClient().handleServerFirst(input), 'upstream_protocol');
    const c = rfcClient();
    c.handleServerFirst(b(RFC7677.serverFirst));
    assertPgsealError(() => c.handleServerFinal(input));
  }
  assertPgsealError(() => rfcClient().handleServerFirst(Buffer.alloc(2049, 0x61)), 'upstream_protocol', /exceeds/);
});

test('the exchange is one-shot and keys must be 32 bytes', () => {
  const c = rfcClient();
  assertPgsealError(() => c.clientFirst(), 'upstream_protocol');
  assertPgsealError(() => c.handleServerFirst(b(RFC7677.serverFirst)), 'upstream_protocol', /unexpected/);
  assertPgsealError(() => rfcClient().handleServerFinal(b('v=AAAA')), 'upstream_protocol', /unexpected/);
  assertPgsealError(
    () => new ScramClientExchange({ clientKey: Buffer.alloc(31), serverKey: keys.serverKey, channelBinding: null }),
    'auth_unavailable',
  );
});
