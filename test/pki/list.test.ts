import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { PgsealError } from '../../src/errors.js';
import {
  expiringWithin,
  initCa,
  issueClientCertificate,
  issueServerCertificate,
  listCertificates,
  revokeCertificate,
} from '../../src/pki/index.js';
import { tempDir } from './helpers.js';

test('listCertificates reports name, serial, status, expiry, subject and roles in issue order', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  const srv = await issueServerCertificate({ dir, name: 'proxy', sans: ['DNS:localhost'] });
  const alice = await issueClientCertificate({ dir, name: 'alice', roles: ['app', 'ops'], days: 3 });
  const bob = await issueClientCertificate({ dir, name: 'bob', roles: ['ro'] });
  await revokeCertificate({ dir, nameOrSerial: 'bob' });
  const list = await listCertificates({ dir });
  assert.deepEqual(
    list.map((c) => [c.name, c.serial, c.status, c.subject, c.roles]),
    [
      ['proxy', srv.serial, 'valid', '/CN=proxy', []],
      ['alice', alice.serial, 'valid', '/CN=alice', ['app', 'ops']],
      ['bob', bob.serial, 'revoked', '/CN=bob', ['ro']],
    ],
  );
  assert.equal(list[1]!.notAfter.getTime(), alice.notAfter.getTime());
  assert.equal(list[2]!.certPath, join(dir, 'revoked', 'certs_by_serial', `${bob.serial}.crt`));
  assert.ok(list[2]!.revokedAt instanceof Date);
});

test('a certificate past its expiry is listed as expired; expiringWithin picks the soon-expiring valid ones', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  await issueServerCertificate({ dir, name: 'proxy', sans: ['DNS:localhost'] });
  await issueClientCertificate({ dir, name: 'short', roles: [], days: 3 });
  const now = new Date();
  const inTenDays = new Date(now.getTime() + 10 * 86_400_000);
  const later = await listCertificates({ dir, now: inTenDays });
  assert.deepEqual(later.map((c) => c.status), ['valid', 'expired']);
  const current = await listCertificates({ dir, now });
  assert.deepEqual(expiringWithin(current, 7, now).map((c) => c.name), ['short']);
  assert.deepEqual(expiringWithin(current, 2, now).map((c) => c.name), []);
  assert.deepEqual(expiringWithin(later, 7, inTenDays).map((c) => c.name), []); // expired is not "expiring"
});

test('a certificate marked E in index.txt is listed as expired', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir });
  await issueClientCertificate({ dir, name: 'c', roles: [] });
  const index = join(dir, 'index.txt');
  await writeFile(index, (await readFile(index, 'utf8')).replace(/^V/, 'E'));
  assert.deepEqual((await listCertificates({ dir })).map((c) => c.status), ['expired']);
});

test('listCertificates on a directory without a CA is a PgsealError', async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(listCertificates({ dir }), PgsealError);
});
