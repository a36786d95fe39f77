import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadCa } from '../../src/pki/index.js';
import { webcrypto, x509 } from '../../src/pki/x509.js';
import { runCommand, startPostgres, type PgServer } from '../support/postgres.js';
import { pgsealCli, removePgseal, startPgseal, waitFor, type Pgseal } from '../support/pgseal.js';

let server: PgServer;
let seal: Pgseal;
let pki: string;

before(async () => {
  server = await startPostgres({ tls: true, hba: 'scram' });
  await server.createRole('app_ro', 'ro-secret');
  await server.createRole('app_rw', 'rw-secret');
  seal = await startPgseal(server, {
    roles: ['app_ro', 'app_rw'],
    initArgs: ['--client-cert', 'require'],
  });
  pki = join(seal.configFile, '..', 'pki');
  for (const [name, role] of [['alice', 'app_ro'], ['bob', 'app_rw'], ['mallory', 'app_ro']]) {
    const r = await pgsealCli(['cert', 'issue', name!, '--pki', pki, '--role', role!]);
    assert.equal(r.code, 0, r.stderr);
  }
});
after(async () => {
  await removePgseal(seal);
  await server.stop();
});

function psqlAs(name: string, user: string, password: string, files?: { cert: string; key: string }) {
  return server.psql('SELECT current_user', {
    user, password, database: 'postgres', port: seal.port, host: 'localhost', hostaddr: '127.0.0.1', sslmode: 'verify-full',
    extraEnv: { PGSSLROOTCERT: seal.caFile, PGSSLCERT: files?.cert ?? join(pki, 'issued', `${name}.crt`), PGSSLKEY: files?.key ?? join(pki, 'private', `${name}.key`) },
  });
}

test('psql with a client certificate whose embedded role matches logs in; identity is audited', async () => {
  const r = await psqlAs('alice', 'app_ro', 'ro-secret');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'app_ro');
  await waitFor(async () => (await seal.auditRecords()).some((x: any) => x.type === 'session.start' && x.certificate?.identity === 'alice'));
  const start: any = (await seal.auditRecords()).find((x: any) => x.type === 'session.start' && x.certificate?.identity === 'alice');
  assert.equal(start.auth_method, 'scram-sha-256+certificate');
  assert.match(start.certificate.fingerprint, /^[0-9a-f]{64}$/);
  assert.match(start.certificate.serial, /^[0-9A-F]+$/);
  assert.match(start.certificate.subject, /CN=alice/);
});

test('node-postgres with sslcert/sslkey logs in too', async () => {
  const c = new pg.Client({
    host: '127.0.0.1', port: seal.port, user: 'app_rw', password: 'rw-secret', database: 'postgres',
    ssl: { ca: readFileSync(seal.caFile), servername: 'localhost', cert: readFileSync(join(pki, 'issued', 'bob.crt')), key: readFileSync(join(pki, 'private', 'bob.key')) },
  });
  await c.connect();
  assert.equal((await c.query('SELECT current_user AS u')).rows[0].u, 'app_rw');
  await c.end();
});

test('a role outside the certificate\'s roles is refused before anything reaches the database, and audited', async () => {
  const r = await psqlAs('alice', 'app_rw', 'rw-secret');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /certificate identity "alice" is not allowed to log in as role "app_rw"/);
  await waitFor(async () => (await seal.auditRecords()).some((x: any) => x.type === 'session.reject' && x.sqlstate === '28000' && x.certificate?.identity === 'alice' && x.user === 'app_rw'));
});

test('without a client certificate the connection is refused when client_cert is require', async () => {
  const r = await server.psql('SELECT 1', { user: 'app_ro', password: 'ro-secret', port: seal.port, host: 'localhost', hostaddr: '127.0.0.1', sslmode: 'verify-full', extraEnv: { PGSSLROOTCERT: seal.caFile } });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /requires a valid client certificate/);
});

test('a certificate from a foreign CA is refused naming the reason', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'foreign-'));
  const run = (args: string[]) => runCommand('openssl', args, { cwd: dir });
  await run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=evil CA', '-days', '2']);
  await run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'c.key', '-out', 'c.csr', '-subj', '/CN=alice']);
  await run(['x509', '-req', '-in', 'c.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'c.crt', '-days', '2']);
  const r = await psqlAs('alice', 'app_ro', 'ro-secret', { cert: join(dir, 'c.crt'), key: join(dir, 'c.key') });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /client certificate "CN=alice" was rejected: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT)/);
});

test('an expired certificate from pgseal\'s CA is refused', async () => {
  const ca = await loadCa(pki);
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '01' + randomBytes(8).toString('hex'), subject: 'CN=alice', issuer: ca.certificate.subject,
    notBefore: new Date(Date.now() - 10 * 86400_000), notAfter: new Date(Date.now() - 86400_000),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, publicKey: keys.publicKey, signingKey: ca.signingKey,
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
  });
  const dir = await mkdtemp(join(tmpdir(), 'expired-'));
  const keyPem = createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' });
  await writeFile(join(dir, 'c.crt'), cert.toString('pem'));
  await writeFile(join(dir, 'c.key'), keyPem, { mode: 0o600 });
  const r = await psqlAs('alice', 'app_ro', 'ro-secret', { cert: join(dir, 'c.crt'), key: join(dir, 'c.key') });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /was rejected: CERT_HAS_EXPIRED/);
});

test('a revoked certificate is refused after SIGHUP reloads the CRL; live sessions survive the reload', async () => {
  const live = new pg.Client({
    host: '127.0.0.1', port: seal.port, user: 'app_ro', password: 'ro-secret', database: 'postgres',
    ssl: { ca: readFileSync(seal.caFile), servername: 'localhost', cert: readFileSync(join(pki, 'issued', 'mallory.crt')), key: readFileSync(join(pki, 'private', 'mallory.key')) },
  });
  await live.connect();
  // revoke moves the files (easy-rsa layout); mallory keeps her copies.
  const kept = await mkdtemp(join(tmpdir(), 'mallory-'));
  const files = { cert: join(kept, 'm.crt'), key: join(kept, 'm.key') };
  await writeFile(files.cert, await readFile(join(pki, 'issued', 'mallory.crt')));
  await writeFile(files.key, await readFile(join(pki, 'private', 'mallory.key')), { mode: 0o600 });
  assert.equal((await psqlAs('mallory', 'app_ro', 'ro-secret', files)).code, 0);
  const revoke = await pgsealCli(['cert', 'revoke', 'mallory', '--pki', pki, '--reason', 'keyCompromise']);
  assert.equal(revoke.code, 0, revoke.stderr);
  const logged = seal.log.length;
  seal.proc.kill('SIGHUP');
  await waitFor(() => seal.log.slice(logged).some((l) => l.includes('configuration reloaded')));
  const r = await psqlAs('mallory', 'app_ro', 'ro-secret', files);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /was rejected: CERT_REVOKED/);
  assert.equal((await live.query('SELECT 1 AS one')).rows[0].one, 1, 'a live session is not dropped by the reload');
  await live.end();
  assert.equal((await psqlAs('alice', 'app_ro', 'ro-secret')).code, 0, 'others still get in');
});

test('a broken file on SIGHUP keeps the old settings and logs why', async () => {
  const crl = join(pki, 'crl.pem');
  const good = await readFile(crl);
  await writeFile(crl, 'not a CRL');
  try {
    const logged = seal.log.length;
    seal.proc.kill('SIGHUP');
    await waitFor(() => seal.log.slice(logged).some((l) => l.includes('reload failed')));
    assert.equal((await psqlAs('alice', 'app_ro', 'ro-secret')).code, 0);
  } finally {
    await writeFile(crl, good);
  }
});

test('a mapping file maps identities by regular expression with \\1 substitution', async () => {
  const map = join(seal.dir, 'ident.map');
  await writeFile(map, '# identity  role\n/^(app_.*)$  \\1\n');
  const cfg = await readFile(seal.configFile, 'utf8');
  await writeFile(seal.configFile, `${cfg}\nmapping:\n  file: ${map}\n  certificate_roles: false\n`);
  const r = await pgsealCli(['cert', 'issue', 'app_rw', '--pki', pki]);
  assert.equal(r.code, 0, r.stderr);
  const logged = seal.log.length;
  seal.proc.kill('SIGHUP');
  await waitFor(() => seal.log.slice(logged).some((l) => l.includes('configuration reloaded')));
  assert.equal((await psqlAs('app_rw', 'app_rw', 'rw-secret')).code, 0, 'identity app_rw maps to role app_rw');
  const denied = await psqlAs('alice', 'app_ro', 'ro-secret');
  assert.notEqual(denied.code, 0, 'embedded roles are ignored when certificate_roles is false');
  assert.match(denied.stderr, /not allowed to log in as role "app_ro"/);
});

async function servedCertificate(): Promise<string> {
  const net = await import('node:net');
  const tls = await import('node:tls');
  const { once } = await import('node:events').then((m) => m.default);
  const raw = net.connect({ host: '127.0.0.1', port: seal.port });
  await once(raw, 'connect');
  const req = Buffer.alloc(8);
  req.writeInt32BE(8, 0);
  req.writeInt32BE(80877103, 4);
  raw.write(req);
  await once(raw, 'data');
  const s = tls.connect({ socket: raw, ca: readFileSync(seal.caFile), servername: 'localhost' });
  await once(s, 'secureConnect');
  const fp = s.getPeerCertificate().fingerprint256;
  s.destroy();
  return fp;
}

test('SIGHUP swaps the server certificate for new connections', async () => {
  const before = await servedCertificate();
  const r = await pgsealCli(['cert', 'server', 'server2', '--pki', pki, '--san', 'DNS:localhost,IP:127.0.0.1']);
  assert.equal(r.code, 0, r.stderr);
  const cfg = await readFile(seal.configFile, 'utf8');
  await writeFile(seal.configFile, cfg.replace('cert: pki/issued/server.crt', 'cert: pki/issued/server2.crt').replace('key: pki/private/server.key', 'key: pki/private/server2.key'));
  const logged = seal.log.length;
  seal.proc.kill('SIGHUP');
  await waitFor(() => seal.log.slice(logged).some((l) => l.includes('configuration reloaded')));
  const after = await servedCertificate();
  assert.notEqual(after, before);
  assert.equal((await psqlAs('app_rw', 'app_rw', 'rw-secret')).code, 0, 'clients verify-full against the new certificate');
});
