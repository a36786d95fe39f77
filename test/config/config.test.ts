import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { pgsealCli } from '../support/pgseal.js';

const minimal = `
listen: 127.0.0.1:6432
upstream:
  address: db:5432
tls:
  cert: c.pem
  key: k.pem
  ca: ca.pem
audit:
  dir: audit
  origin: example/log
  key: keys/audit.key
`;

test('defaults are filled and paths resolved against the config directory', () => {
  const c = parseConfig(minimal, '/etc/pgseal');
  assert.equal(c.upstream.tls, 'verify-full');
  assert.equal(c.tls.client_cert, 'none');
  assert.equal(c.tls.allow_plaintext, false);
  assert.equal(c.limits.max_clients, 1000);
  assert.equal(c.tls.cert, '/etc/pgseal/c.pem');
  assert.equal(c.audit.dir, '/etc/pgseal/audit');
});

for (const [name, text, expected] of [
  ['an unknown key', minimal + 'bogus: 1\n', /\(top level\): Unrecognized key/i],
  ['a bad enum', minimal.replace('address: db:5432', 'address: db:5432\n  tls: maybe'), /upstream\.tls: /],
  ['a bad address', minimal.replace('127.0.0.1:6432', 'localhost'), /listen: expected HOST:PORT/],
  ['a duplicate key', minimal + 'listen: 127.0.0.1:1\n', /invalid YAML/],
  ['a missing section', 'listen: 127.0.0.1:1\n', /upstream: /],
  ['a wrong type', minimal + 'limits:\n  max_clients: "lots"\n', /limits\.max_clients: /],
] as Array<[string, string, RegExp]>) {
  test(`a config with ${name} is refused naming the key`, () => {
    assert.throws(() => parseConfig(text, '/x', 'pgseal.yaml'), (e) => e instanceof ConfigError && (expected as RegExp).test(e.message) && e.message.startsWith('pgseal.yaml: '));
  });
}

test('pgseal serve with a bad config exits 2 with one readable line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pgseal-cfg-'));
  try {
    const file = join(dir, 'pgseal.yaml');
    await writeFile(file, minimal.replace('address: db:5432', 'address: db:5432\n  tls: maybe'));
    const r = await pgsealCli(['serve', '--config', file]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /^pgseal: .*pgseal\.yaml: upstream\.tls: /);
    const missing = await pgsealCli(['serve', '--config', join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read config .*ENOENT/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('pgseal status against an address where nothing listens exits 2 with one line', async () => {
  const { freePort } = await import('../support/postgres.js');
  const port = await freePort();
  const r = await pgsealCli(['status', '--admin', `127.0.0.1:${port}`]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^pgseal: cannot read http:\/\/127\.0\.0\.1:\d+\/metrics: ECONNREFUSED\n$/);
});
