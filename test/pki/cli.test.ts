import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Command } from 'commander';
import { register as registerCa } from '../../src/cli/commands/ca.js';
import { register as registerCert } from '../../src/cli/commands/cert.js';
import { register as registerCrl } from '../../src/cli/commands/crl.js';
import { PgsealError } from '../../src/errors.js';
import { parseIndex } from '../../src/pki/index.js';
import { openssl, tempDir } from './helpers.js';

/** run parses argv with a program holding only the pki registrars and captures stdout. */
async function run(args: string[], env: Record<string, string> = {}): Promise<string> {
  const program = new Command('pgseal').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  for (const register of [registerCa, registerCert, registerCrl]) register(program);
  const chunks: string[] = [];
  const write = process.stdout.write;
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    process.stdout.write = write;
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  return chunks.join('');
}

test('CLI: ca init, cert server/issue/revoke/list and crl drive the store', async (t) => {
  const dir = join(await tempDir(t), 'pki');
  assert.match(await run(['ca', 'init', '--pki', dir, '--cn', 'CLI CA', '--days', '365']), /CA "CLI CA" created/);
  await assert.rejects(run(['ca', 'init', '--pki', dir]), PgsealError);
  const server = await run(['cert', 'server', 'proxy', '--pki', dir, '--san', 'DNS:localhost,IP:127.0.0.1']);
  assert.match(server, /serial\s+[0-9A-F]{32}/);
  assert.match(await run(['cert', 'issue', 'alice', '--pki', dir, '--role', 'app', '--role', 'ops', '--days', '3']), /roles\s+app, ops/);
  await run(['cert', 'issue', 'bob', '--pki', dir, '--role', 'ro']);
  assert.match(await run(['cert', 'revoke', 'bob', '--pki', dir, '--reason', 'superseded']), /revoked "bob"/);
  await assert.rejects(run(['cert', 'revoke', 'nobody', '--pki', dir]), PgsealError);
  await assert.rejects(run(['cert', 'revoke', 'alice', '--pki', dir, '--reason', 'bogus']), { code: 'commander.invalidArgument' });
  await assert.rejects(run(['cert', 'server', 'p2', '--pki', dir]), { code: 'commander.missingMandatoryOptionValue' });

  const list = (await run(['cert', 'list', '--pki', dir])).split('\n');
  assert.match(list[0]!, /^NAME\s+STATUS\s+EXPIRES\s+SERIAL\s+ROLES$/);
  assert.match(list[1]!, /^proxy\s+valid\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+[0-9A-F]{32}\s+-$/);
  assert.match(list[2]!, /^alice\s+valid\s+.*\s+app,ops$/);
  assert.match(list[3]!, /^bob\s+revoked\s+.*\s+ro$/);
  assert.match(list[4]!, /^warning: "alice" expires in [23] day\(s\)/);
  assert.equal(list.filter((l) => l.startsWith('warning:')).length, 1);

  assert.match(await run(['crl', '--pki', dir]), /CRL number 3 written/);
  const crl = openssl(['crl', '-in', join(dir, 'crl.pem'), '-noout', '-text']);
  assert.match(crl.stdout, /CRL Number:\s+3\n/);
  assert.deepEqual(parseIndex(await readFile(join(dir, 'index.txt'), 'utf8')).map((e) => e.status), ['V', 'V', 'R']);
});

test('CLI: the CA passphrase comes from a file or PGSEAL_CA_PASSPHRASE; --p12 writes a bundle', async (t) => {
  const tmp = await tempDir(t);
  const dir = join(tmp, 'pki');
  const passFile = join(tmp, 'pass');
  await writeFile(passFile, 'from file\n');
  assert.match(await run(['ca', 'init', '--pki', dir, '--passphrase-file', passFile]), /\(encrypted\)/);
  await assert.rejects(run(['cert', 'issue', 'x', '--pki', dir]), /encrypted/);
  const out = await run(['cert', 'issue', 'alice', '--pki', dir, '--p12'], { PGSEAL_CA_PASSPHRASE: 'from file' });
  const passphrase = /p12 passphrase \(shown once\): (\S+)/.exec(out)?.[1];
  assert.ok(passphrase, out);
  const p12 = join(dir, 'private', 'alice.p12');
  assert.equal((await stat(p12)).mode & 0o777, 0o600);
  const info = openssl(['pkcs12', '-info', '-nokeys', '-in', p12, '-passin', `pass:${passphrase}`]);
  assert.equal(info.status, 0, info.output);
  const p12Pass = join(tmp, 'p12pass');
  await writeFile(p12Pass, 'chosen\n');
  const out2 = await run(['cert', 'issue', 'bob', '--pki', dir, '--p12', '--p12-passphrase-file', p12Pass, '--passphrase-file', passFile]);
  assert.doesNotMatch(out2, /shown once/);
  assert.equal(openssl(['pkcs12', '-info', '-nokeys', '-in', join(dir, 'private', 'bob.p12'), '-passin', 'pass:chosen']).status, 0);
});

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** pgseal runs the real entry point in a child process. */
function pgseal(args: string[]) {
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 });
}

const registered = /\bca\b/.test(pgseal(['--help']).stdout);

test(
  'CLI entry point: pgseal ca init / cert issue / cert list / crl (needs the registrars in commands/index.ts)',
  { todo: registered ? false : 'add the ca, cert and crl registrars to src/cli/commands/index.ts' },
  async (t) => {
    const dir = join(await tempDir(t), 'pki');
    const init = pgseal(['ca', 'init', '--pki', dir]);
    assert.equal(init.status, 0, init.stderr);
    assert.match(init.stdout, /created/);
    const again = pgseal(['ca', 'init', '--pki', dir]);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /^pgseal: a CA already exists/);
    assert.equal(again.stderr.trim().split('\n').length, 1);
    assert.equal(pgseal(['cert', 'issue', 'alice', '--pki', dir, '--role', 'app']).status, 0);
    const list = pgseal(['cert', 'list', '--pki', dir]);
    assert.match(list.stdout, /^alice\s+valid/m);
    const bad = pgseal(['cert', 'revoke', 'nobody', '--pki', dir]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^pgseal: no certificate named or numbered "nobody"/);
    assert.equal(pgseal(['crl', '--pki', dir]).status, 0);
    const verify = openssl(['verify', '-CAfile', join(dir, 'ca.crt'), join(dir, 'issued', 'alice.crt')]);
    assert.equal(verify.status, 0, verify.output);
  },
);
