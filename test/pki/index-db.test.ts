import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PgsealError } from '../../src/errors.js';
import {
  formatIndex,
  formatIndexLine,
  formatIndexTime,
  normalizeSerial,
  parseIndex,
  parseIndexLine,
  parseIndexTime,
} from '../../src/pki/index-db.js';

test('index times are UTCTime up to 2049 and GeneralizedTime from 2050 (RFC 5280 4.1.2.5)', () => {
  assert.equal(formatIndexTime(new Date('2026-03-04T05:06:07.890Z')), '260304050607Z');
  assert.equal(formatIndexTime(new Date('2049-12-31T23:59:59Z')), '491231235959Z');
  assert.equal(formatIndexTime(new Date('2050-01-01T00:00:00Z')), '20500101000000Z');
  assert.equal(parseIndexTime('491231235959Z').toISOString(), '2049-12-31T23:59:59.000Z');
  assert.equal(parseIndexTime('500101000000Z').toISOString(), '1950-01-01T00:00:00.000Z');
  assert.equal(parseIndexTime('20500101000000Z').toISOString(), '2050-01-01T00:00:00.000Z');
  for (const bad of ['2603040506Z', '260304050607', '261304050607Z', '260230000000Z', '260304250000Z']) {
    assert.throws(() => parseIndexTime(bad), PgsealError, bad);
  }
});

test('index lines parse into their six fields and format back byte for byte', () => {
  const text = [
    'V\t280101000000Z\t\t4A0B\tunknown\t/CN=proxy',
    'R\t280101000000Z\t260101120000Z,keyCompromise\t5C0D\tunknown\t/CN=alice',
    'R\t20600101000000Z\t260101120000Z\t6E\tunknown\t/CN=bob',
    'E\t250101000000Z\t\t7F\tunknown\t/CN=old',
    '',
  ].join('\n');
  const entries = parseIndex(text);
  assert.deepEqual(entries.map((e) => [e.status, e.serial, e.subject, e.reason]), [
    ['V', '4A0B', '/CN=proxy', null],
    ['R', '5C0D', '/CN=alice', 'keyCompromise'],
    ['R', '6E', '/CN=bob', null],
    ['E', '7F', '/CN=old', null],
  ]);
  assert.equal(entries[1]!.revokedAt!.toISOString(), '2026-01-01T12:00:00.000Z');
  assert.equal(entries[2]!.expiry.toISOString(), '2060-01-01T00:00:00.000Z');
  assert.equal(formatIndex(entries), text);
});

test('malformed index lines name their line number', () => {
  assert.throws(() => parseIndex('V\t280101000000Z\t\t4A\tunknown\t/CN=a\nX\t280101000000Z\t\t4B\tunknown\t/CN=b'), /line 2: unknown status/);
  assert.throws(() => parseIndexLine('V\t280101000000Z\t\t4A\tunknown'), /6 tab-separated fields/);
  assert.throws(() => parseIndexLine('V\t280101000000Z\t\t4a\tunknown\t/CN=a'), /invalid serial/);
  assert.throws(() => parseIndexLine('V\t280101000000Z\t\tABC\tunknown\t/CN=a'), /invalid serial/);
  assert.throws(() => parseIndexLine('V\t280101000000Z\t260101120000Z\t4A\tunknown\t/CN=a'), /revocation field/);
  assert.throws(() => parseIndexLine('R\t280101000000Z\t\t4A\tunknown\t/CN=a'), /revocation field/);
  assert.throws(
    () => formatIndexLine({ status: 'R', expiry: new Date(), revokedAt: null, reason: null, serial: '4A', subject: '/CN=a' }),
    /no revocation date/,
  );
});

test('normalizeSerial accepts any case and colons, pads to whole octets', () => {
  assert.equal(normalizeSerial('4a:0b'), '4A0B');
  assert.equal(normalizeSerial('abc'), '0ABC');
  assert.throws(() => normalizeSerial('xyz'), PgsealError);
  assert.throws(() => normalizeSerial(''), PgsealError);
});
