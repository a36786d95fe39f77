import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PgsealError } from '../../src/errors.js';
import {
  DerTag,
  decodeChildren,
  decodeElement,
  decodeExact,
  decodeOid,
  encodeInteger,
  encodeLength,
  encodeOid,
  encodeSequence,
  encodeUtf8String,
} from '../../src/pki/der.js';
import { ROLES_OID, decodeRoles, encodeRoles } from '../../src/pki/roles.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('encodeLength uses the short form below 128 and the fewest octets above', () => {
  assert.equal(hex(encodeLength(0)), '00');
  assert.equal(hex(encodeLength(127)), '7f');
  assert.equal(hex(encodeLength(128)), '8180');
  assert.equal(hex(encodeLength(256)), '820100');
});

test('encodeInteger is minimal and positive (X.690 8.3)', () => {
  assert.equal(hex(encodeInteger(0)), '020100');
  assert.equal(hex(encodeInteger(1)), '020101');
  assert.equal(hex(encodeInteger(127)), '02017f');
  assert.equal(hex(encodeInteger(128)), '02020080');
  assert.equal(hex(encodeInteger(256)), '02020100');
  assert.throws(() => encodeInteger(-1), PgsealError);
});

test('encodeOid and decodeOid round-trip arcs beyond 2^53, as asn1js encodes them', () => {
  // Bytes as asn1js writes them from the dotted string.
  assert.equal(hex(encodeOid(ROLES_OID)), '0614698389def28dd6ceca95939392fbd393e7d5f44c');
  assert.equal(hex(encodeOid('1.2.840.113549.1.7.1')), '06092a864886f70d010701');
  assert.equal(hex(encodeOid('2.999.3')), '0603883703');
  for (const oid of [ROLES_OID, '2.5.29.20', '0.9.2342.19200300.100.1.25', '2.999.3']) {
    assert.equal(decodeOid(decodeExact(encodeOid(oid), DerTag.oid).value), oid);
  }
  assert.throws(() => encodeOid('1'), PgsealError);
  assert.throws(() => encodeOid('1.02'), PgsealError);
  assert.throws(() => decodeOid(Uint8Array.of(0x80, 0x01)), /non-minimal/);
  assert.throws(() => decodeOid(Uint8Array.of(0x2a, 0x86)), /truncated/);
});

test('decodeElement rejects truncation, non-minimal and indefinite lengths', () => {
  assert.throws(() => decodeElement(Uint8Array.of(0x30)), /truncated/);
  assert.throws(() => decodeElement(Uint8Array.of(0x04, 0x02, 0x00)), /overrun/);
  assert.throws(() => decodeElement(Uint8Array.of(0x04, 0x81, 0x05, 1, 2, 3, 4, 5)), /non-minimal/);
  assert.throws(() => decodeElement(Uint8Array.of(0x30, 0x80, 0, 0)), /length form/);
  assert.throws(() => decodeExact(Uint8Array.of(0x05, 0x00, 0x00), DerTag.null), /trailing/);
  assert.throws(() => decodeExact(Uint8Array.of(0x05, 0x00), DerTag.sequence), /expected tag/);
  const seq = encodeSequence(encodeUtf8String('a'), encodeUtf8String('bc'));
  assert.deepEqual(decodeChildren(decodeExact(seq, DerTag.sequence).value).map((e) => e.value.length), [1, 2]);
});

test('roles encode as a DER SEQUENCE OF UTF8String and decode strictly', () => {
  assert.equal(hex(encodeRoles(['ab', 'c'])), '30070c0261620c0163');
  assert.deepEqual(decodeRoles(encodeRoles(['app_rw', 'ops', 'ünï'])), ['app_rw', 'ops', 'ünï']);
  assert.deepEqual(decodeRoles(encodeRoles([])), []);
  assert.deepEqual(encodeRoles(['a', 'a']), encodeRoles(['a']));
  // A PrintableString element, trailing bytes, or a bare string are not our format.
  assert.throws(() => decodeRoles(Uint8Array.of(0x30, 0x03, 0x13, 0x01, 0x61)), /not a UTF8String/);
  assert.throws(() => decodeRoles(Uint8Array.of(0x30, 0x00, 0x00)), /trailing/);
  assert.throws(() => decodeRoles(encodeUtf8String('a,b')), /expected tag/);
  assert.throws(() => encodeRoles(['']), /invalid role/);
  assert.throws(() => encodeRoles(['x'.repeat(64)]), /invalid role/);
});
