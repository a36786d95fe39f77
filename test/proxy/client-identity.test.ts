import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIdentMap } from '../../src/auth/index.js';
import { certificateIdentity, initCa, issueClientCertificate } from '../../src/pki/index.js';
import { ClientFacingError } from '../../src/proxy/client-errors.js';
import { admitCertificate, identityOf, type ClientCertificate } from '../../src/proxy/client-identity.js';

test('the identity comes from CN, the full DN, the SAN email or the SAN URI, as configured', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ident-'));
  try {
    await initCa({ dir });
    const issued = await issueClientCertificate({ dir, name: 'carol', roles: ['app'], sans: ['email:carol@ops.example.com', 'URI:spiffe://example.com/carol'] });
    const c = certificateIdentity(await readFile(issued.certPath, 'utf8'));
    assert.equal(identityOf(c, 'cn'), 'carol');
    assert.equal(identityOf(c, 'dn'), 'CN=carol');
    assert.equal(identityOf(c, 'san-email'), 'carol@ops.example.com');
    assert.equal(identityOf(c, 'san-uri'), 'spiffe://example.com/carol');
    assert.deepEqual(c.roles, ['app']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const cert = (identity: string, roles: string[], verifyError: string | null = null): ClientCertificate => ({
  verifyError,
  identity,
  parsed: { commonName: identity, subject: `CN=${identity}`, issuer: 'CN=ca', emails: [], uris: [], dnsNames: [], fingerprintSha256: '00', serial: '01', roles, notBefore: new Date(0), notAfter: new Date(0) },
});
const policy = (rules = '', certificateRoles = true) => ({ mode: 'optional' as const, rules: parseIdentMap(rules), mapConfigured: rules !== '', useCertificateRoles: certificateRoles });
const denies = (fn: () => void, re: RegExp) => assert.throws(fn, (e) => e instanceof ClientFacingError && e.sqlstate === '28000' && re.test(e.message));

test('admission: embedded roles, mapping rules with \\1, identity = role without policy, and refusals naming identity and role', () => {
  admitCertificate(cert('alice', ['app_ro']), 'app_ro', policy());
  denies(() => admitCertificate(cert('alice', ['app_ro']), 'app_rw', policy()), /identity "alice" is not allowed to log in as role "app_rw"/);
  admitCertificate(cert('ops-bob', []), 'bob', policy('/^ops-(.*)$  \\1'));
  denies(() => admitCertificate(cert('dev-bob', []), 'bob', policy('/^ops-(.*)$  \\1')), /"dev-bob" is not allowed .* "bob"/);
  admitCertificate(cert('postgres', []), 'postgres', policy());
  denies(() => admitCertificate(cert('alice', []), 'postgres', policy()), /not allowed/);
  denies(() => admitCertificate(cert('alice', ['app_ro']), 'app_ro', policy('carol app_ro', false)), /not allowed/);
  denies(() => admitCertificate(cert('alice', ['app_ro'], 'CERT_REVOKED'), 'app_ro', policy()), /rejected: CERT_REVOKED/);
  denies(() => admitCertificate(null, 'app_ro', { ...policy(), mode: 'require' }), /requires a valid client certificate/);
  admitCertificate(null, 'app_ro', policy());
});

test('mapping files are parsed strictly', () => {
  assert.deepEqual(parseIdentMap('# c\n\n"a b"  role # trailing\n').map((r) => [r.identity, r.role]), [['a b', 'role']]);
  assert.throws(() => parseIdentMap('only-one-field\n'), /line 1: expected "IDENTITY ROLE"/);
  assert.throws(() => parseIdentMap('/(unclosed  r\n'), /line 1: invalid regular expression/);
  assert.throws(() => parseIdentMap('alice \\1\n'), /\\1 needs a regular expression/);
  assert.throws(() => parseIdentMap('"open  r\n'), /unterminated quote/);
});
