import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeStartupPacket, encodeStartupMessage, MessageWriter, ProtocolError } from '../../src/protocol/index.js';

const body = (b: Buffer) => b.subarray(4);

test('StartupMessage round-trips and database defaults to user', () => {
  const p = decodeStartupPacket(body(encodeStartupMessage(new Map([['user', 'alice'], ['application_name', 'x']]))));
  assert.equal(p.kind, 'StartupMessage');
  if (p.kind !== 'StartupMessage') return;
  assert.equal(p.params.get('database'), 'alice');
  assert.equal(p.params.get('application_name'), 'x');
});

test('startup packets that are malformed are refused with ProtocolError', () => {
  const dup = new MessageWriter(null).int32(196608).cstring('user').cstring('a').cstring('user').cstring('b').byte(0).finish();
  assert.throws(() => decodeStartupPacket(body(dup)), (e) => e instanceof ProtocolError && /duplicate/.test(e.message));
  const noUser = new MessageWriter(null).int32(196608).cstring('database').cstring('d').byte(0).finish();
  assert.throws(() => decodeStartupPacket(body(noUser)), ProtocolError);
  const v4 = new MessageWriter(null).int32(4 << 16).byte(0).finish();
  assert.throws(() => decodeStartupPacket(body(v4)), (e) => e instanceof ProtocolError && e.code === 'unsupported_feature');
  const unterminated = new MessageWriter(null).int32(196608).bytes(Buffer.from('user')).finish();
  assert.throws(() => decodeStartupPacket(body(unterminated)), ProtocolError);
  assert.throws(() => decodeStartupPacket(Buffer.alloc(2)), ProtocolError);
  const sslExtra = new MessageWriter(null).int32(80877103).int32(1).finish();
  assert.throws(() => decodeStartupPacket(body(sslExtra)), ProtocolError);
});

test('SSLRequest, GSSENCRequest and CancelRequest decode', () => {
  assert.deepEqual(decodeStartupPacket(body(new MessageWriter(null).int32(80877103).finish())), { kind: 'SSLRequest' });
  assert.deepEqual(decodeStartupPacket(body(new MessageWriter(null).int32(80877104).finish())), { kind: 'GSSENCRequest' });
  const c = decodeStartupPacket(body(new MessageWriter(null).int32(80877102).int32(42).int32(7).finish()));
  assert.equal(c.kind, 'CancelRequest');
  if (c.kind === 'CancelRequest') assert.equal(c.pid, 42);
});
