import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ScramServerExchange,
  buildScramVerifier,
  deriveScramKeys,
  parseScramVerifier,
  tlsServerEndPoint,
  type ScramVerifier,
} from '../../src/auth/index.js';
import { RFC7677, assertPgsealError, ecdsaP256Certificate, pgSasl, fakeTlsStream, seededBytes } from './helpers.js';

const rfcVerifier = parseScramVerifier(
  buildScramVerifier(RFC7677.password, { salt: RFC7677.salt, iterations: RFC7677.iterations }),
);
const rfcKeys = deriveScramKeys(RFC7677.password, RFC7677.salt, RFC7677.iterations);
const cert = ecdsaP256Certificate();
const cbData = tlsServerEndPoint(cert);
const b = (s: string): Buffer => Buffer.from(s, 'utf8');

function rfcServer(verifier: ScramVerifier = rfcVerifier, channelBinding: Buffer | null = null): ScramServerExchange {
  return new ScramServerExchange({ verifier, channelBinding, nonce: b(RFC7677.serverNonce) });
}

/** A server that has already answered the RFC client-first-message. */
function rfcServerAfterFirst(verifier: ScramVerifier = rfcVerifier): ScramServerExchange {
  const server = rfcServer(verifier);
  assert.equal(server.handleClientFirst('SCRAM-SHA-256', b(RFC7677.clientFirst)).toString(), RFC7677.serverFirst);
  return server;
}

test('RFC 7677 §3 vector: server-first, server-final and the recovered ClientKey', () => {
  const server = rfcServer();
  assert.deepEqual(server.mechanisms(), ['SCRAM-SHA-256']);
  // The RFC's username is "user": PostgreSQL ignores n= and so must we.
  const serverFirst = server.handleClientFirst('SCRAM-SHA-256', b(RFC7677.clientFirst));
  assert.equal(serverFirst.toString(), RFC7677.serverFirst);
  const { serverFinal, clientKey } = server.handleClientFinal(b(RFC7677.clientFinal));
  assert.equal(serverFinal.toString(), RFC7677.serverFinal);
  assert.ok(clientKey.equals(rfcKeys.clientKey), 'ClientKey = proof XOR ClientSignature');
});

test('mechanisms offers -PLUS first only with channel binding data', () => {
  assert.deepEqual(rfcServer(rfcVerifier, cbData).mechanisms(), ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']);
  assert.deepEqual(rfcServer(rfcVerifier, null).mechanisms(), ['SCRAM-SHA-256']);
});

test('a wrong password fails with auth_failed and a fixed message', () => {
  const other = parseScramVerifier(buildScramVerifier('not-pencil', { salt: RFC7677.salt, iterations: 4096 }));
  const server = rfcServerAfterFirst(other);
  assertPgsealError(() => server.handleClientFinal(b(RFC7677.clientFinal)), 'auth_failed', /^password authentication failed$/);
});

test('client-final: tampered c=, wrong nonce, bad proof length, extensions', () => {
  const nonce = RFC7677.clientNonce + RFC7677.serverNonce;
  const proof = 'p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=';
  const cases: Array<[string, RegExp]> = [
    [`c=eSws,r=${nonce},${proof}`, /channel binding check failed/], // 'y,,' instead of 'n,,'
    [`c=biwsAA==,r=${nonce},${proof}`, /channel binding check failed/],
    [`c=biws,r=${nonce}x,${proof}`, /nonce does not match/],
    [`c=biws,r=${RFC7677.clientNonce},${proof}`, /nonce does not match/],
    [`c=biws,r=${nonce},p=AAAA`, /malformed SCRAM client proof/],
    [`c=biws,r=${nonce},x=ext,${proof}`, /malformed/],
    [`c=biws,r=${nonce}`, /malformed/],
    [`r=${nonce},c=biws,${proof}`, /expected attribute "c"/],
    [`${RFC7677.clientFinal},x=ext`, /malformed/], // a valid proof followed by an extension
  ];
  for (const [msg, re] of cases) {
    assertPgsealError(() => rfcServerAfterFirst().handleClientFinal(b(msg)), 'protocol_violation', re);
  }
});

test('gs2 header: downgrade, -PLUS consistency, authzid, extensions, nonce', () => {
  const bare = 'n=,r=abc';
  const cases: Array<[Buffer | null, string, string, RegExp]> = [
    // 'y' while we offered -PLUS: a mechanism list was stripped on the way.
    [cbData, 'SCRAM-SHA-256', `y,,${bare}`, /channel binding negotiation error/],
    [null, 'SCRAM-SHA-256', `p=tls-server-end-point,,${bare}`, /sent channel binding data/],
    [null, 'SCRAM-SHA-256-PLUS', `p=tls-server-end-point,,${bare}`, /invalid SASL authentication mechanism/],
    [cbData, 'SCRAM-SHA-256-PLUS', `n,,${bare}`, /no channel binding data/],
    [cbData, 'SCRAM-SHA-256-PLUS', `y,,${bare}`, /no channel binding data/],
    [cbData, 'SCRAM-SHA-256', `p=tls-server-end-point,,${bare}`, /sent channel binding data/],
    [cbData, 'SCRAM-SHA-256-PLUS', `p=tls-unique,,${bare}`, /unsupported SCRAM channel-binding type/],
    [null, 'SCRAM-SHA-1', `n,,${bare}`, /invalid SASL authentication mechanism/],
    [null, 'SCRAM-SHA-256', `n,a=admin,${bare}`, /authorization identity/],
    [null, 'SCRAM-SHA-256', `x,,${bare}`, /gs2-cbind-flag/],
    [null, 'SCRAM-SHA-256', `n,,m=ext,${bare}`, /unsupported SCRAM extension/],
    [null, 'SCRAM-SHA-256', `n,,${bare},x=ext`, /extensions are not supported/],
    [null, 'SCRAM-SHA-256', 'n,,n=,r=', /malformed SCRAM client nonce/],
    [null, 'SCRAM-SHA-256', 'n,,n=,r=ab\tc', /malformed SCRAM client nonce/],
    [null, 'SCRAM-SHA-256', 'n,,r=abc', /expected attribute "n"/],
    [null, 'SCRAM-SHA-256', 'n,,n=u\0,r=abc', /NUL/],
  ];
  for (const [cb, mech, msg, re] of cases) {
    const server = new ScramServerExchange({ verifier: rfcVerifier, channelBinding: cb });
    assertPgsealError(() => server.handleClientFirst(mech, b(msg)), 'protocol_violation', re);
  }
  // 'y' is fine when we did not offer -PLUS (a client on a connection without binding data).
  const ok = new ScramServerExchange({ verifier: rfcVerifier, channelBinding: null });
  assert.match(ok.handleClientFirst('SCRAM-SHA-256', b(`y,,${bare}`)).toString(), /^r=abc[^,]{24},s=/);
});

test('client-first size bound is 1024 bytes', () => {
  const head = 'n,,n=,r=';
  const at = (len: number): Buffer => b(head + 'x'.repeat(len - head.length));
  const server = new ScramServerExchange({ verifier: rfcVerifier, channelBinding: null });
  assert.ok(server.handleClientFirst('SCRAM-SHA-256', at(1024)).length > 1024);
  assertPgsealError(
    () => new ScramServerExchange({ verifier: rfcVerifier, channelBinding: null }).handleClientFirst('SCRAM-SHA-256', at(1025)),
    'protocol_violation',
    /exceeds 1024 bytes/,
  );
  assertPgsealError(() => rfcServerAfterFirst().handleClientFinal(Buffer.alloc(2049, 0x61)), 'protocol_violation', /exceeds/);
});

test('garbage and random bytes only ever raise PgsealError', () => {
  const fixed = ['', 'n', 'n,', ',,,', 'n,,', 'n,,r=abc,n=x', '\xff', 'p=,,n=,r=a', '=,=,=', 'n,,n=,r=a,'];
  const random = seededBytes(7);
  const inputs: Buffer[] = [...fixed.map((s) => Buffer.from(s, 'latin1')), Buffer.from([0xc3, 0x28])];
  for (let i = 0; i < 300; i++) inputs.push(random(1 + (i % 64)));
  for (const input of inputs) {
    for (const cb of [null, cbData]) {
      for (const mech of ['SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS']) {
        assertPgsealError(() => new ScramServerExchange({ verifier: rfcVerifier, channelBinding: cb }).handleClientFirst(mech, input));
      }
    }
    assertPgsealError(() => rfcServerAfterFirst().handleClientFinal(input), 'protocol_violation');
  }
});

test('every single-byte change of the RFC client-final-message is refused without leaking secrets', () => {
  const msg = b(RFC7677.clientFinal);
  const secrets = [rfcKeys.clientKey, rfcKeys.storedKey, rfcKeys.serverKey].map((k) => k.toString('base64'));
  secrets.push('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
  for (let i = 0; i < msg.length; i++) {
    for (const mask of [0x01, 0x20, 0x80]) {
      const mangled = Buffer.from(msg);
      mangled[i] ^= mask;
      const err = assertPgsealError(() => rfcServerAfterFirst().handleClientFinal(mangled));
      assert.ok(['auth_failed', 'protocol_violation'].includes(err.code), `byte ${i}: ${err.code}`);
      for (const s of secrets) assert.ok(!err.message.includes(s), `byte ${i}: message leaks a secret`);
    }
  }
});

test('the exchange is one-shot: out-of-order and repeated calls are refused', () => {
  assertPgsealError(() => rfcServer().handleClientFinal(b(RFC7677.clientFinal)), 'protocol_violation', /unexpected/);
  const twice = rfcServerAfterFirst();
  assertPgsealError(() => twice.handleClientFirst('SCRAM-SHA-256', b(RFC7677.clientFirst)), 'protocol_violation');
  const done = rfcServerAfterFirst();
  done.handleClientFinal(b(RFC7677.clientFinal));
  assertPgsealError(() => done.handleClientFinal(b(RFC7677.clientFinal)), 'protocol_violation', /unexpected/);
  // A failure ends the exchange: a later correct message is not accepted.
  const failed = rfcServerAfterFirst();
  assertPgsealError(() => failed.handleClientFinal(b('garbage')));
  assertPgsealError(() => failed.handleClientFinal(b(RFC7677.clientFinal)), 'protocol_violation', /unexpected/);
});

test('a fixed server nonce must be printable', () => {
  assertPgsealError(() => new ScramServerExchange({ verifier: rfcVerifier, channelBinding: null, nonce: b('a,b') }), 'auth_unavailable');
});

test('node-postgres client logs in: without TLS (n), with TLS and -PLUS (p), with TLS but no -PLUS offered (y)', async () => {
  for (const [cb, stream, flag] of [
    [null, undefined, 'n'],
    [cbData, fakeTlsStream(cert), 'p'],
    [null, fakeTlsStream(cert), 'y'],
  ] as const) {
    const server = new ScramServerExchange({ verifier: rfcVerifier, channelBinding: cb });
    const session = pgSasl.startSession(server.mechanisms(), stream);
    assert.equal(session.response[0], flag);
    const serverFirst = server.handleClientFirst(session.mechanism, b(session.response));
    await pgSasl.continueSession(session, RFC7677.password, serverFirst.toString(), stream);
    const { serverFinal, clientKey } = server.handleClientFinal(b(session.response));
    pgSasl.finalizeSession(session, serverFinal.toString());
    assert.ok(clientKey.equals(rfcKeys.clientKey));
  }
});

test('node-postgres client with a stripped mechanism list sends y and is refused (downgrade)', async () => {
  const server = new ScramServerExchange({ verifier: rfcVerifier, channelBinding: cbData });
  const session = pgSasl.startSession(['SCRAM-SHA-256'], fakeTlsStream(cert));
  assertPgsealError(() => server.handleClientFirst(session.mechanism, b(session.response)), 'protocol_violation', /negotiation error/);
});

test('channel binding to a different certificate is refused', async () => {
  const otherCert = ecdsaP256Certificate();
  const server = new ScramServerExchange({ verifier: rfcVerifier, channelBinding: cbData });
  const stream = fakeTlsStream(otherCert); // what a man in the middle presents to the client
  const session = pgSasl.startSession(server.mechanisms(), stream);
  const serverFirst = server.handleClientFirst(session.mechanism, b(session.response));
  await pgSasl.continueSession(session, RFC7677.password, serverFirst.toString(), stream);
  assertPgsealError(() => server.handleClientFinal(b(session.response)), 'protocol_violation', /channel binding check failed/);
  assert.ok(!tlsServerEndPoint(otherCert).equals(cbData));
});
