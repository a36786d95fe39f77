import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { test } from 'node:test';

// native/tls-record.c directly: a sealer and an opener built from the same traffic secret
// stand for the two ends of one direction of a connection. (tls-offload.test.ts runs the same
// code against OpenSSL as the peer.)

type Addon = {
  tlsRecordState(cipher: number, secret: Uint8Array, seq: number, encrypt: boolean, partner: number): [object, number];
  tlsRecordSeal(id: number, data: Uint8Array, out: Uint8Array, contentType: number): number;
  tlsRecordOpen(id: number, chunk: Uint8Array, out: Uint8Array): number;
  tlsRecordGeneration(id: number): number;
};

function load(): Addon | null {
  try {
    const a = createRequire(import.meta.url)('../../native/pgseal_native.node') as Partial<Addon>;
    return typeof a.tlsRecordOpen === 'function' ? (a as Addon) : null;
  } catch {
    return null;
  }
}
const addon = load();
const OUT = 16 * 1024 + 5 + 16640;

function direction(a: Addon, cipher = 2) {
  const secret = randomBytes(cipher === 2 ? 48 : 32);
  const [so, sealer] = a.tlsRecordState(cipher, secret, 0, true, -1);
  const [oo, opener] = a.tlsRecordState(cipher, secret, 0, false, -1);
  const owners = [so, oo];
  const seal = (data: Buffer, type = 23) => {
    const out = Buffer.alloc(data.length + 22 * Math.max(1, Math.ceil(data.length / 16384)));
    assert.equal(a.tlsRecordSeal(sealer, data, out, type), out.length);
    return out;
  };
  const open = (chunk: Buffer) => {
    const out = Buffer.alloc(chunk.length + OUT);
    const n = a.tlsRecordOpen(opener, chunk, out);
    return { data: out.subarray(0, n < 0 ? -n - 1 : n).toString('latin1'), closed: n < 0 };
  };
  return { seal, open, opener, owners };
}

test('records open in any chunking, for each cipher suite', { skip: addon === null }, () => {
  for (const cipher of [1, 2, 3]) {
    const d = direction(addon!, cipher);
    const wire = Buffer.concat([d.seal(Buffer.from('one')), d.seal(Buffer.alloc(40_000, 0x61)), d.seal(Buffer.from('two'))]);
    let text = '';
    for (let off = 0; off < wire.length; ) {
      const n = 1 + Math.floor(Math.random() * 3000);
      text += d.open(wire.subarray(off, off + n)).data;
      off += n;
    }
    assert.equal(text, 'one' + 'a'.repeat(40_000) + 'two', `cipher ${cipher}`);
  }
});

test('a NewSessionTicket split across records is skipped, and data after it arrives', { skip: addon === null }, () => {
  const d = direction(addon!);
  // A 300-byte ticket body whose bytes, read as message headers, would look like a KeyUpdate.
  const body = Buffer.alloc(300, 0);
  body.set([24, 0, 0, 1, 0], 100);
  const ticket = Buffer.concat([Buffer.from([4, 0, 0x01, 0x2c]), body]);
  const wire = Buffer.concat([d.seal(ticket.subarray(0, 2), 22), d.seal(ticket.subarray(2, 150), 22), d.seal(ticket.subarray(150), 22), d.seal(Buffer.from('after'))]);
  assert.equal(d.open(wire).data, 'after');
  assert.equal(addon!.tlsRecordGeneration(d.opener), 0, 'no KeyUpdate was taken from inside the ticket');
});

test('application data inside a split handshake message, a split KeyUpdate, and unknown messages end the connection', { skip: addon === null }, () => {
  const interrupted = direction(addon!);
  assert.throws(() => interrupted.open(Buffer.concat([interrupted.seal(Buffer.from([4, 0, 0, 10, 1]), 22), interrupted.seal(Buffer.from('x'))])), /interrupted/);
  const split = direction(addon!);
  assert.throws(() => split.open(Buffer.concat([split.seal(Buffer.from([24, 0]), 22), split.seal(Buffer.from([0, 1, 0]), 22)])), /KeyUpdate/);
  const unknown = direction(addon!);
  assert.throws(() => unknown.open(unknown.seal(Buffer.from([13, 0, 0, 0]), 22)), /unsupported post-handshake/);
});

test('after a failed record every later chunk fails too, never reading as a clean close', { skip: addon === null }, () => {
  const d = direction(addon!);
  const record = d.seal(Buffer.from('secret'));
  record[record.length - 1]! ^= 1;
  assert.throws(() => d.open(record), /bad record MAC/);
  assert.throws(() => d.open(Buffer.alloc(0)), /failed earlier/);
});

test('close_notify ends the stream after the data before it', { skip: addon === null }, () => {
  const d = direction(addon!);
  const r = d.open(Buffer.concat([d.seal(Buffer.from('last words')), d.seal(Buffer.from([1, 0]), 21), d.seal(Buffer.from('ignored'))]));
  assert.deepEqual(r, { data: 'last words', closed: true });
});
