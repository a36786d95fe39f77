import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { PgsealError } from '../../src/errors.js';
import {
  exportPkcs12,
  generateCrl,
  initCa,
  issueClientCertificate,
  issueServerCertificate,
  parseIndex,
  revokeCertificate,
} from '../../src/pki/index.js';
import { openssl, tempDir } from './helpers.js';

/** store makes a CA with a server certificate and two client certificates. */
async function store(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  await initCa({ dir });
  const server = await issueServerCertificate({ dir, name: 'proxy', sans: ['DNS:localhost'] });
  const alice = await issueClientCertificate({ dir, name: 'alice', roles: ['app'] });
  const bob = await issueClientCertificate({ dir, name: 'bob', roles: ['ro'] });
  return { dir, server, alice, bob, ca: join(dir, 'ca.crt'), crl: join(dir, 'crl.pem') };
}

test('a revoked certificate fails openssl verify -crl_check; the others still pass', async (t) => {
  const s = await store(t);
  const before = openssl(['verify', '-crl_check', '-CAfile', s.ca, '-CRLfile', s.crl, s.alice.certPath]);
  assert.equal(before.status, 0, before.output);
  const r = await revokeCertificate({ dir: s.dir, nameOrSerial: 'alice', reason: 'keyCompromise' });
  assert.equal(r.serial, s.alice.serial);
  const moved = join(s.dir, 'revoked', 'certs_by_serial', `${s.alice.serial}.crt`);
  const revoked = openssl(['verify', '-crl_check', '-CAfile', s.ca, '-CRLfile', s.crl, moved]);
  assert.notEqual(revoked.status, 0);
  assert.match(revoked.output, /certificate revoked/);
  for (const other of [s.bob.certPath, s.server.certPath]) {
    const ok = openssl(['verify', '-crl_check', '-CAfile', s.ca, '-CRLfile', s.crl, other]);
    assert.equal(ok.status, 0, ok.output);
  }
});

test('revocation moves the certificate and key into revoked/ by serial', async (t) => {
  const s = await store(t);
  await exportPkcs12({ dir: s.dir, name: 'alice', passphrase: 'pw' });
  await revokeCertificate({ dir: s.dir, nameOrSerial: 'alice' });
  await assert.rejects(stat(s.alice.certPath), { code: 'ENOENT' });
  await assert.rejects(stat(s.alice.keyPath), { code: 'ENOENT' });
  await stat(join(s.dir, 'revoked', 'certs_by_serial', `${s.alice.serial}.crt`));
  const key = await stat(join(s.dir, 'revoked', 'private_by_serial', `${s.alice.serial}.key`));
  assert.equal(key.mode & 0o777, 0o600);
  await stat(join(s.dir, 'revoked', 'private_by_serial', `${s.alice.serial}.p12`));
});

test('index.txt marks the entry R with the revocation time and reason', async (t) => {
  const s = await store(t);
  await revokeCertificate({ dir: s.dir, nameOrSerial: 'bob', reason: 'superseded' });
  const lines = (await readFile(join(s.dir, 'index.txt'), 'utf8')).trimEnd().split('\n');
  const fields = lines[2]!.split('\t');
  assert.equal(fields[0], 'R');
  assert.match(fields[2]!, /^\d{12}Z,superseded$/);
  assert.equal(fields[3], s.bob.serial);
  const entries = parseIndex(lines.join('\n'));
  assert.deepEqual(entries.map((e) => e.status), ['V', 'V', 'R']);
  assert.ok(Math.abs(entries[2]!.revokedAt!.getTime() - Date.now()) < 60_000);
});

test('the CRL carries its number, the AKI and each entry with its reason code', async (t) => {
  const s = await store(t);
  await revokeCertificate({ dir: s.dir, nameOrSerial: 'alice', reason: 'keyCompromise' });
  await revokeCertificate({ dir: s.dir, nameOrSerial: s.bob.serial.toLowerCase() }); // by serial, any case
  const r = openssl(['crl', '-in', s.crl, '-noout', '-text', '-CAfile', s.ca]);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /verify OK/);
  assert.match(r.stdout, /X509v3 CRL Number:\s+3\n/); // 1: init, 2: alice, 3: bob
  assert.match(r.stdout, /X509v3 Authority Key Identifier:/);
  assert.match(r.stdout, new RegExp(`Serial Number: ${s.alice.serial}\\n\\s+Revocation Date: .*\\n\\s+CRL entry extensions:\\n\\s+X509v3 CRL Reason Code:\\s+Key Compromise`));
  assert.match(r.stdout, new RegExp(`Serial Number: ${s.bob.serial}\\n`));
  assert.equal(await readFile(join(s.dir, 'crlnumber'), 'utf8'), '04\n');
  const again = await generateCrl({ dir: s.dir, days: 1 });
  assert.equal(again.crlNumber, 4n);
  assert.equal(again.revoked, 2);
});

test('unknown names, unknown serials and double revocation are PgsealErrors', async (t) => {
  const s = await store(t);
  for (const nameOrSerial of ['nobody', 'ABCDEF', '']) {
    await assert.rejects(revokeCertificate({ dir: s.dir, nameOrSerial }), (err: unknown) => {
      assert.ok(err instanceof PgsealError);
      assert.equal(err.code, 'pki_error');
      return true;
    });
  }
  await revokeCertificate({ dir: s.dir, nameOrSerial: 'alice' });
  await assert.rejects(revokeCertificate({ dir: s.dir, nameOrSerial: 'alice' }), /already revoked/);
  await assert.rejects(revokeCertificate({ dir: s.dir, nameOrSerial: s.alice.serial }), /already revoked/);
  await assert.rejects(
    revokeCertificate({ dir: s.dir, nameOrSerial: 'bob', reason: 'bogus' as 'superseded' }),
    /unknown revocation reason/,
  );
});

test('a name can be issued again after its certificate is revoked', async (t) => {
  const s = await store(t);
  await revokeCertificate({ dir: s.dir, nameOrSerial: 'alice' });
  const again = await issueClientCertificate({ dir: s.dir, name: 'alice', roles: ['app'] });
  assert.notEqual(again.serial, s.alice.serial);
  const ok = openssl(['verify', '-crl_check', '-CAfile', s.ca, '-CRLfile', s.crl, again.certPath]);
  assert.equal(ok.status, 0, ok.output);
});

test('OpenSSL reads our index.txt, serial and crlnumber as its own CA database', async (t) => {
  const s = await store(t);
  await revokeCertificate({ dir: s.dir, nameOrSerial: 'alice', reason: 'cessationOfOperation' });
  const cnf = join(s.dir, 'openssl-test.cnf');
  await writeFile(cnf, [
    '[ ca ]', 'default_ca = pgseal', '[ pgseal ]', `dir = ${s.dir}`,
    'database = $dir/index.txt', 'serial = $dir/serial', 'crlnumber = $dir/crlnumber',
    'certificate = $dir/ca.crt', 'private_key = $dir/private/ca.key', 'new_certs_dir = $dir/issued',
    'default_md = sha256', 'default_crl_days = 7', '',
  ].join('\n'));
  assert.match(openssl(['ca', '-config', cnf, '-status', s.alice.serial]).output, new RegExp(`${s.alice.serial}=Revoked \\(R\\)`));
  assert.match(openssl(['ca', '-config', cnf, '-status', s.bob.serial]).output, new RegExp(`${s.bob.serial}=Valid \\(V\\)`));
  const out = join(s.dir, 'openssl.crl');
  const gen = openssl(['ca', '-config', cnf, '-gencrl', '-out', out]);
  assert.equal(gen.status, 0, gen.output);
  const text = openssl(['crl', '-in', out, '-noout', '-text']).stdout;
  assert.match(text, new RegExp(`Serial Number: ${s.alice.serial}[\\s\\S]*Cessation Of Operation`));
  assert.match(text, /X509v3 CRL Number:\s+3\n/); // 1: init, 2: our revoke, 3: OpenSSL's
  assert.equal(await readFile(join(s.dir, 'crlnumber'), 'utf8'), '04\n');
});

test('with an encrypted CA key, a wrong passphrase revokes nothing', async (t) => {
  const dir = await tempDir(t);
  await initCa({ dir, passphrase: 'pw' });
  await issueClientCertificate({ dir, name: 'alice', roles: [], passphrase: 'pw' });
  const index = await readFile(join(dir, 'index.txt'), 'utf8');
  await assert.rejects(revokeCertificate({ dir, nameOrSerial: 'alice', passphrase: 'nope' }), /wrong passphrase/);
  await assert.rejects(generateCrl({ dir }), /encrypted/);
  assert.equal(await readFile(join(dir, 'index.txt'), 'utf8'), index);
  await revokeCertificate({ dir, nameOrSerial: 'alice', passphrase: 'pw' });
  assert.match(await readFile(join(dir, 'index.txt'), 'utf8'), /^R\t/);
});
