// The .deb and .rpm (issue 5). packaging/build.sh builds both from one staged tree; this test
// checks their contents with dpkg-deb and rpm, lints them (lintian, rpmlint: overrides carry
// their reasons), installs the .deb into a Debian 12 root made by debootstrap (cached) and runs
// pgseal there on the bundled runtime (--version, init, serve, verify), upgrades, removes and
// purges it, installs the .rpm's payload and scriptlets the same way, checks the systemd unit
// with systemd-analyze, and boots the root with systemd-nspawn to run the hardened unit.
//
// Runs as root (CI does): missing tools are installed with apt-get; a test is skipped, with the
// reason, only where a tool or the Debian root cannot be had. Environment:
//   PGSEAL_PACKAGING_CACHE  where the debootstrap root is kept (default: $TMPDIR/pgseal-packaging-cache)
//   PGSEAL_DEBIAN_MIRROR    debootstrap mirror (default http://deb.debian.org/debian)
//   PGSEAL_TEST_NO_APT=1    never run apt-get; skip instead
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { appendFile, chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/index.js';

/** The checkout: the nearest directory above this file that holds packaging/build.sh. */
const REPO = (() => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'packaging/build.sh')) && existsSync(join(dir, 'package.json'))) return dir;
  }
  return process.cwd();
})();
const VERSION: string = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version;
const DEB_NAME = `pgseal_${VERSION}_amd64.deb`;
const RPM_NAME = `pgseal-${VERSION}-1.x86_64.rpm`;
const IS_ROOT = process.getuid?.() === 0;
const MIRROR = process.env.PGSEAL_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const CACHE = process.env.PGSEAL_PACKAGING_CACHE ?? join(tmpdir(), 'pgseal-packaging-cache');
// The cached Debian root: minbase plus systemd (systemd-sysusers, unit files for
// systemd-analyze --root, an init for nspawn) and procps (/bin/kill of ExecReload).
const ROOT_KEY = 'bookworm-minbase-systemd-procps-amd64-v1';
const BASE_ROOT = join(CACHE, 'debootstrap', ROOT_KEY);
// A clean environment for everything run inside a root: nothing of the host's NODE_* leaks in.
const CHROOT_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' };
const WRAPPER_EXEC = 'exec /usr/lib/pgseal/runtime/bin/node /usr/lib/pgseal/app/dist/src/cli/main.js "$@"';

// ---------------------------------------------------------------------------------------------
// Processes and tools

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** run executes a command to completion (SIGTERM, then SIGKILL, after timeoutMs). */
function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<Result> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${opts.timeoutMs} ms]`;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    }, opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** must runs a command and fails the test, with its output, unless it exits 0. */
async function must(cmd: string, args: string[], opts: RunOptions = {}): Promise<Result> {
  const r = await run(cmd, args, opts);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  return r;
}

async function have(cmd: string): Promise<boolean> {
  return (await run('sh', ['-c', `command -v "${cmd}"`])).code === 0;
}

/** The Debian package that provides each command the test uses. */
const TOOLS: Record<string, string> = {
  'dpkg-deb': 'dpkg',
  'dpkg-shlibdeps': 'dpkg-dev',
  fakeroot: 'fakeroot',
  rpmbuild: 'rpm',
  rpm2cpio: 'rpm',
  cpio: 'cpio',
  strip: 'binutils',
  lintian: 'lintian',
  rpmlint: 'rpmlint',
  debootstrap: 'debootstrap',
  'systemd-analyze': 'systemd',
  'systemd-nspawn': 'systemd-container',
};
const BUILD_TOOLS = ['dpkg-deb', 'dpkg-shlibdeps', 'fakeroot', 'rpmbuild', 'strip'];
const missingTools = new Map<string, string>(); // command → why it is unavailable

/** ensureTools installs the Debian packages of missing commands (root with apt-get only). */
async function ensureTools(): Promise<void> {
  const missing: string[] = [];
  for (const cmd of Object.keys(TOOLS)) if (!(await have(cmd))) missing.push(cmd);
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((c) => TOOLS[c]!))];
  const hint = `apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
  let why = `not installed (${hint})`;
  if (!IS_ROOT || process.env.PGSEAL_TEST_NO_APT === '1' || !(await have('apt-get'))) {
    for (const c of missing) missingTools.set(c, why);
    return;
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => run('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { env, timeoutMs: 600_000 });
  let r = await install();
  if (r.code !== 0) {
    await run('apt-get', ['update'], { env, timeoutMs: 300_000 });
    r = await install();
  }
  if (r.code !== 0) why = `could not be installed: ${hint} failed: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`;
  for (const c of missing) if (!(await have(c))) missingTools.set(c, why);
}

/** skipUnless skips the test, naming the reason, if a command is unavailable. */
function skipUnless(t: TestContext, ...cmds: string[]): boolean {
  for (const c of cmds) {
    const why = missingTools.get(c);
    if (why !== undefined) {
      t.skip(`${c} ${why}`);
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The Debian 12 root

let baseRoot: Promise<string> | undefined;

/** debianRoot returns the cached debootstrap root, building it once (about 75 s here). */
function debianRoot(): Promise<string> {
  baseRoot ??= (async () => {
    if (existsSync(join(BASE_ROOT, 'usr/bin/systemd-sysusers'))) return BASE_ROOT;
    await mkdir(dirname(BASE_ROOT), { recursive: true });
    const tmp = await mkdtemp(`${BASE_ROOT}.partial-`);
    await chmod(tmp, 0o755);
    const r = await run(
      'debootstrap',
      ['--variant=minbase', '--include=systemd,procps', '--arch=amd64', 'bookworm', tmp, MIRROR],
      { timeoutMs: 600_000 },
    );
    if (r.code !== 0) {
      await rm(tmp, { recursive: true, force: true });
      const log = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-3).join(' | ');
      throw new RootUnavailable(`debootstrap bookworm from ${MIRROR} failed (exit ${r.code}): ${log}`);
    }
    await run('sh', ['-c', 'rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*_Packages', 'sh', tmp]);
    await rm(BASE_ROOT, { recursive: true, force: true });
    await rename(tmp, BASE_ROOT);
    return BASE_ROOT;
  })();
  return baseRoot;
}

class RootUnavailable extends Error {}

/** freshRoot copies the cached root to a new directory (hard links would share state). */
async function freshRoot(t: TestContext, name: string): Promise<string | undefined> {
  if (!skipUnless(t, 'debootstrap')) return undefined;
  if (!IS_ROOT) {
    t.skip('installing into a debootstrap root needs root (chroot, device nodes)');
    return undefined;
  }
  let base: string;
  try {
    base = await debianRoot();
  } catch (err) {
    if (err instanceof RootUnavailable) {
      t.skip(err.message);
      return undefined;
    }
    throw err;
  }
  const root = join(work, name);
  await must('cp', ['-a', '--reflink=auto', base, root], { timeoutMs: 300_000 });
  await chmod(root, 0o755); // its "/": the pgseal user must be able to traverse it
  return root;
}

/** inRoot runs a command inside root (chroot), as root or as the given user, with a clean env. */
function inRoot(root: string, args: string[], user?: { uid: number; gid: number }, timeoutMs = 120_000): Promise<Result> {
  const spec = user ? [`--userspec=${user.uid}:${user.gid}`] : [];
  const env = user ? { ...CHROOT_ENV, HOME: '/var/lib/pgseal' } : CHROOT_ENV;
  return run('chroot', [...spec, root, ...args], { env, timeoutMs });
}

/** account reads a user's passwd entry inside root. */
function account(root: string, name: string): { uid: number; gid: number; home: string; shell: string } | undefined {
  const line = readFileSync(join(root, 'etc/passwd'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]! };
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** stateDigest fingerprints what must survive upgrade and removal: keys, PKI, audit log. */
async function stateDigest(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of ['keys/audit.key', 'keys/audit.pub', 'pki/ca.crt', 'pki/private/ca.key', 'pki/private/server.key']) {
    out[rel] = sha256(join(root, 'var/lib/pgseal', rel));
  }
  for (const seg of (await readdir(join(root, 'var/lib/pgseal/audit'))).sort()) out[`audit/${seg}`] = sha256(join(root, 'var/lib/pgseal/audit', seg));
  return out;
}

/**
 * serveBriefly starts `pgseal serve`, waits for "pgseal listening" and then for the first
 * "audit checkpoint" (about a second later), and stops it with SIGTERM. (pgseal logs
 * "listening" just before it installs its SIGTERM handler: a SIGTERM sent the instant the line
 * appears can, on a loaded machine, find no handler and kill it.)
 */
async function serveBriefly(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ listen: string; exit: number | null; log: string }> {
  const child: ChildProcess = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  let log = '';
  let listen = '';
  const listening = new Promise<void>((resolvePromise) => {
    const onData = (d: Buffer) => {
      log += d.toString('utf8');
      const lines = log.split('\n');
      const line = lines.find((l) => l.includes('"pgseal listening"'));
      if (line && lines.some((l) => l.includes('"audit checkpoint"'))) {
        listen = (JSON.parse(line) as { listen: string }).listen;
        resolvePromise();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 30_000)));
  const first = await Promise.race([listening.then(() => 'listening' as const), exited.then(() => 'exited' as const), timeout]);
  clearTimeout(timer);
  if (first !== 'listening') {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`pgseal serve ${first === 'exited' ? `exited ${child.exitCode}` : 'did not listen and checkpoint within 30 s'}:\n${log}`);
  }
  child.kill('SIGTERM');
  const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const exit = await exited;
  clearTimeout(kill);
  return { listen, exit, log };
}

// ---------------------------------------------------------------------------------------------

let work: string; // scratch: build output, roots
let out: string; // the packages
let built = false;

describe('packages (.deb, .rpm)', { concurrency: true, timeout: 15 * 60_000 }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'pgseal-packaging-'));
    out = join(work, 'out');
    await ensureTools();
    // The Debian root (debootstrap, about 75 s when not cached) is fetched while the build runs.
    if (IS_ROOT && !missingTools.has('debootstrap')) debianRoot().catch(() => undefined);
    if (BUILD_TOOLS.some((c) => missingTools.has(c))) return;
    // Build (xz -1: the same packages, compressed in seconds instead of a minute).
    const r = await run('bash', [join(REPO, 'packaging/build.sh')], {
      env: { ...process.env, PGSEAL_PACKAGE_OUT: out, PGSEAL_PACKAGE_COMPRESSION: 'fast' },
      timeoutMs: 600_000,
    });
    assert.equal(r.code, 0, `packaging/build.sh failed:\n${r.stdout}\n${r.stderr}`);
    built = true;
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** ready skips the test unless the packages were built (and names why not). */
  function ready(t: TestContext, ...cmds: string[]): boolean {
    if (!built) {
      const why = BUILD_TOOLS.map((c) => missingTools.get(c) && `${c} ${missingTools.get(c)}`).find(Boolean);
      t.skip(`packages not built: ${why ?? 'build failed'}`);
      return false;
    }
    return skipUnless(t, ...cmds);
  }

  test('the .deb carries the layout, control data and maintainer scripts', async (t) => {
    if (!ready(t)) return;
    const deb = join(out, DEB_NAME);
    const info = (await must('dpkg-deb', ['-I', deb])).stdout;
    assert.match(info, /^ Package: pgseal$/m);
    assert.match(info, new RegExp(`^ Version: ${VERSION.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(info, /^ Architecture: amd64$/m);
    assert.match(info, /^ Depends: .*libc6 \(>= 2\.\d+\).*libstdc\+\+6.*passwd/m);
    for (const script of ['postinst', 'prerm', 'postrm', 'conffiles', 'md5sums']) assert.match(info, new RegExp(`\\b${script}\\b`));
    assert.equal((await must('dpkg-deb', ['-f', deb, 'Package'])).stdout.trim(), 'pgseal');
    const conffiles = (await must('sh', ['-c', 'dpkg-deb --ctrl-tarfile "$1" | tar -xO ./conffiles', 'sh', deb])).stdout;
    assert.equal(conffiles.trim(), '/etc/pgseal/pgseal.yaml');

    const listing = (await must('dpkg-deb', ['-c', deb])).stdout.trim().split('\n');
    const entries = new Map(listing.map((l) => {
      const f = l.split(/\s+/);
      return [f.slice(5).join(' ').replace(/^\.\//, '/').replace(/ -> .*$/, ''), { mode: f[0]!, owner: f[1]! }] as const;
    }));
    const expectFile = (path: string, mode: string) => {
      assert.ok(entries.has(path), `${path} missing from the .deb`);
      assert.equal(entries.get(path)!.mode, mode, `${path} mode`);
    };
    expectFile('/usr/bin/pgseal', '-rwxr-xr-x');
    expectFile('/usr/lib/pgseal/runtime/bin/node', '-rwxr-xr-x');
    expectFile('/usr/lib/pgseal/app/dist/src/cli/main.js', '-rw-r--r--');
    expectFile('/usr/lib/pgseal/app/package.json', '-rw-r--r--');
    expectFile('/usr/lib/pgseal/app/node_modules/sodium-native/prebuilds/linux-x64/sodium-native.node', '-rw-r--r--');
    expectFile('/lib/systemd/system/pgseal.service', '-rw-r--r--');
    expectFile('/etc/pgseal/pgseal.yaml', '-rw-r--r--');
    expectFile('/usr/lib/sysusers.d/pgseal.conf', '-rw-r--r--');
    expectFile('/usr/share/doc/pgseal/copyright', '-rw-r--r--');
    expectFile('/usr/share/doc/pgseal/README.md.gz', '-rw-r--r--');
    expectFile('/usr/share/doc/pgseal/README.package.md', '-rw-r--r--');
    expectFile('/usr/share/doc/pgseal/changelog.gz', '-rw-r--r--');
    expectFile('/usr/share/doc/pgseal/examples/low-port.conf', '-rw-r--r--');
    expectFile('/usr/share/man/man1/pgseal.1.gz', '-rw-r--r--');
    expectFile('/usr/share/lintian/overrides/pgseal', '-rw-r--r--');
    for (const [path, e] of entries) assert.equal(e.owner, 'root/root', `${path} owned by ${e.owner}`);
    const paths = [...entries.keys()];
    const prebuilds = paths.filter((p) => /\/prebuilds\/[^/]+\/$/.test(p));
    assert.ok(prebuilds.includes('/usr/lib/pgseal/app/node_modules/sodium-native/prebuilds/linux-x64/'));
    assert.deepEqual(prebuilds.filter((p) => !p.endsWith('/linux-x64/')), [], 'only linux-x64 prebuilds');
    assert.ok(!paths.some((p) => p.startsWith('/var/')), 'state directories are made by postinst, not shipped');
    assert.ok(!paths.some((p) => p.startsWith('/usr/lib/systemd/')), 'the .deb unit lives in /lib/systemd/system');
    assert.ok(!paths.some((p) => /\/node_modules\/(typescript|@types|pg)\//.test(p)), 'no devDependencies');
    assert.ok(!paths.some((p) => p.endsWith('.map') || p.includes('/dist/test/')), 'no tests or source maps');

    // The wrapper execs the bundled runtime; the sysusers line and the scripts' copy agree.
    const wrapper = (await must('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -xO ./usr/bin/pgseal', 'sh', deb])).stdout;
    assert.match(wrapper, /^#!\/bin\/sh\n/);
    assert.ok(wrapper.includes(WRAPPER_EXEC), wrapper);
    const postinst = (await must('sh', ['-c', 'dpkg-deb --ctrl-tarfile "$1" | tar -xO ./postinst', 'sh', deb])).stdout;
    const sysusers = readFileSync(join(REPO, 'packaging/sysusers.conf'), 'utf8').split('\n').find((l) => l.startsWith('u '))!;
    assert.ok(postinst.includes(`'${sysusers}'`), 'postinst feeds the sysusers.d line to systemd-sysusers');
    assert.match(postinst, /useradd --system .*--home-dir \/var\/lib\/pgseal .*\n?.*--shell \/usr\/sbin\/nologin/);
    const code = postinst.replace(/cat <<'MSG'[\s\S]*?\nMSG\n/g, '').replace(/^\s*#.*$/gm, '');
    assert.doesNotMatch(code, /\bpgseal\s+(init|keys|ca|cert)\b/, 'postinst generates no secrets');
  });

  test('the .rpm carries the layout, config, ownership, scriptlets and requirements', async (t) => {
    if (!ready(t)) return;
    const rpm = join(out, RPM_NAME);
    const info = (await must('rpm', ['-qpi', rpm])).stdout;
    assert.match(info, /^Name\s+: pgseal$/m);
    assert.match(info, new RegExp(`^Version\\s+: ${VERSION.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(info, /^Release\s+: 1$/m);
    assert.match(info, /^Architecture: x86_64$/m);
    assert.match(info, /^License\s+: Apache-2\.0 AND MIT/m);
    const files = (await must('rpm', ['-qp', '--qf', '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]', rpm])).stdout;
    const entries = new Map(files.trim().split('\n').map((l) => {
      const [mode, owner, ...name] = l.split(' ');
      return [name.join(' '), { mode: mode!, owner: owner! }] as const;
    }));
    const expect = (path: string, mode: string, owner = 'root:root') => {
      assert.ok(entries.has(path), `${path} missing from the .rpm`);
      assert.deepEqual(entries.get(path), { mode, owner }, path);
    };
    expect('/usr/bin/pgseal', '-rwxr-xr-x');
    expect('/usr/lib/pgseal/runtime/bin/node', '-rwxr-xr-x');
    expect('/usr/lib/pgseal/app/dist/src/cli/main.js', '-rw-r--r--');
    expect('/usr/lib/pgseal/app/node_modules/sodium-native/prebuilds/linux-x64/sodium-native.node', '-rw-r--r--');
    expect('/usr/lib/systemd/system/pgseal.service', '-rw-r--r--');
    expect('/usr/lib/sysusers.d/pgseal.conf', '-rw-r--r--');
    expect('/etc/pgseal/pgseal.yaml', '-rw-r--r--');
    expect('/usr/share/doc/pgseal/copyright', '-rw-r--r--');
    expect('/usr/share/man/man1/pgseal.1.gz', '-rw-r--r--');
    expect('/var/lib/pgseal', 'drwxr-x---', 'pgseal:pgseal');
    assert.ok(![...entries.keys()].some((p) => p.startsWith('/lib/') || p.startsWith('/usr/share/lintian')), 'no Debian-only paths');
    assert.equal((await must('rpm', ['-qp', '--configfiles', rpm])).stdout.trim(), '/etc/pgseal/pgseal.yaml');
    assert.match((await must('rpm', ['-qp', '--qf', '[%{FILEFLAGS:fflags} %{FILENAMES}\n]', rpm])).stdout, /^cn \/etc\/pgseal\/pgseal\.yaml$/m);

    const scripts = (await must('rpm', ['-qp', '--scripts', rpm])).stdout;
    assert.match(scripts, /^preinstall scriptlet[\s\S]*systemd-sysusers --replace=\/usr\/lib\/sysusers\.d\/pgseal\.conf -[\s\S]*useradd --system/m);
    assert.match(scripts, /^postinstall scriptlet[\s\S]*sudo -u pgseal pgseal init --dir \/var\/lib\/pgseal/m);
    assert.match(scripts, /^preuninstall scriptlet[\s\S]*disable --now pgseal\.service/m);
    assert.match(scripts, /^postuninstall scriptlet[\s\S]*Kept \/var\/lib\/pgseal/m);
    const requires = (await must('rpm', ['-qp', '--requires', rpm])).stdout;
    assert.match(requires, /^libc\.so\.6\(GLIBC_2\.33\)\(64bit\)$/m, 'sodium-native needs glibc 2.33');
    assert.match(requires, /^libstdc\+\+\.so\.6\(\)\(64bit\)$/m);
    assert.doesNotMatch(requires, /^\/bin\/bash$|^\/usr\/bin\/env$|^\/usr\/bin\/node$/m);
    assert.doesNotMatch((await must('rpm', ['-qp', '--provides', rpm])).stdout, /libsodium|\.so/);
  });

  test('the example configuration is valid and points at /var/lib/pgseal', () => {
    const text = readFileSync(join(REPO, 'packaging/pgseal.yaml'), 'utf8');
    const config = parseConfig(text, '/etc/pgseal', 'packaging/pgseal.yaml');
    const raw = parse(text) as { tls: Record<string, string>; audit: Record<string, string> };
    for (const p of [raw.tls.cert, raw.tls.key, raw.tls.ca, raw.tls.crl, raw.audit.dir, raw.audit.key]) assert.match(p!, /^\/var\/lib\/pgseal\//);
    assert.equal(config.audit.key, '/var/lib/pgseal/keys/audit.key');
    assert.equal(config.audit.origin, 'pgseal.local/127.0.0.1:6432', 'the origin `pgseal init --listen 127.0.0.1:6432` uses');
    assert.equal(config.listen, '127.0.0.1:6432');
    assert.equal(config.upstream.tls, 'verify-full');
  });

  test('lintian: no errors or warnings; every override is used', { timeout: 300_000 }, async (t) => {
    if (!ready(t, 'lintian')) return;
    const r = await run('lintian', ['--display-info', '--fail-on', 'error,warning', join(out, DEB_NAME)], { timeoutMs: 300_000 });
    const tags = r.stdout.split('\n').filter((l) => /^[EWI]: /.test(l));
    assert.deepEqual(tags.filter((l) => /^[EW]: /.test(l) || /unused-override|mismatched-override|malformed-override/.test(l)), [], r.stdout);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    // Each override has a comment above it.
    const overrides = readFileSync(join(REPO, 'packaging/lintian-overrides'), 'utf8').split('\n');
    overrides.forEach((line, i) => {
      if (line.startsWith('pgseal:')) assert.ok(overrides.slice(0, i).reverse().find((l) => !l.startsWith('pgseal:'))?.startsWith('#'), `override without a reason: ${line}`);
    });
  });

  test('rpmlint: no errors or warnings (packaging/rpmlint.toml)', { timeout: 300_000 }, async (t) => {
    if (!ready(t, 'rpmlint')) return;
    const r = await run('rpmlint', ['-c', join(REPO, 'packaging/rpmlint.toml'), join(out, RPM_NAME)], { timeoutMs: 300_000 });
    assert.match(r.stdout, /\b0 errors, 0 warnings\b/, `${r.stdout}\n${r.stderr}`);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  });

  test('the .deb installs into Debian 12 and pgseal runs on its bundled runtime', { timeout: 900_000 }, async (t) => {
    if (!ready(t)) return;
    const root = await freshRoot(t, 'deb-root');
    if (!root) return;
    await copyFile(join(out, DEB_NAME), join(root, 'tmp', DEB_NAME));

    const install = await inRoot(root, ['dpkg', '-i', `/tmp/${DEB_NAME}`]);
    assert.equal(install.code, 0, `${install.stdout}\n${install.stderr}`);
    assert.match(install.stdout, /no keys or certificates were generated/);
    assert.match(install.stdout, /sudo -u pgseal pgseal init --dir \/var\/lib\/pgseal/);
    const user = account(root, 'pgseal');
    assert.ok(user, 'postinst created the pgseal user');
    assert.equal(user.home, '/var/lib/pgseal');
    assert.equal(user.shell, '/usr/sbin/nologin');
    assert.ok(user.uid < 1000, `system uid, got ${user.uid}`);
    assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), new RegExp(`^pgseal:x:${user.gid}:`, 'm'));
    const state = statSync(join(root, 'var/lib/pgseal'));
    assert.equal(state.mode & 0o7777, 0o750);
    assert.deepEqual([state.uid, state.gid], [user.uid, user.gid]);
    assert.deepEqual(await readdir(join(root, 'var/lib/pgseal')), [], 'no secrets generated at install');

    const version = await inRoot(root, ['/usr/bin/pgseal', '--version'], user);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), VERSION);
    assert.equal(version.stderr, '');
    const runtime = await inRoot(root, ['/usr/lib/pgseal/runtime/bin/node', '--version']);
    assert.match(runtime.stdout, /^v24\./);

    const init = await inRoot(root, ['/usr/bin/pgseal', 'init', '--dir', '/var/lib/pgseal', '--listen', '127.0.0.1:6432', '--upstream', '127.0.0.1:5432'], user);
    assert.equal(init.code, 0, init.stderr);
    const key = statSync(join(root, 'var/lib/pgseal/keys/audit.key'));
    assert.equal(key.mode & 0o777, 0o600);
    assert.equal(key.uid, user.uid);

    // serve with the packaged /etc/pgseal/pgseal.yaml (on a free port), then verify the log.
    const etc = await readFile(join(root, 'etc/pgseal/pgseal.yaml'), 'utf8');
    await writeFile(join(root, 'tmp/serve.yaml'), etc.replace(/^listen: .*$/m, 'listen: 127.0.0.1:0'), { mode: 0o644 });
    const served = await serveBriefly('chroot', [`--userspec=${user.uid}:${user.gid}`, root, '/usr/bin/pgseal', 'serve', '--config', '/tmp/serve.yaml'], {
      ...CHROOT_ENV,
      HOME: '/var/lib/pgseal',
    });
    assert.equal(served.exit, 0, served.log);
    assert.match(served.listen, /^127\.0\.0\.1:\d+$/);
    assert.match(served.log, /"sha256":"native"/, 'the packaged native SHA-256 addon loads under the bundled runtime');
    assert.match(served.log, /"relay":"handle"/, "the bundled runtime offers the stream handles the relay uses");
    const verify = await inRoot(root, ['/usr/bin/pgseal', 'verify', '/var/lib/pgseal/audit', '--key', '/var/lib/pgseal/keys/audit.pub'], user);
    assert.equal(verify.code, 0, `${verify.stdout}\n${verify.stderr}`);
    assert.match(verify.stdout, /^intact: /);

    await t.test('systemd-analyze verify is silent and the exposure is at most 1.5', async (t) => {
      if (!skipUnless(t, 'systemd-analyze')) return;
      // `verify` exits 0 even on unknown keys: any output is a failure.
      const v = await run('systemd-analyze', ['verify', `--root=${root}`, 'pgseal.service']);
      assert.equal(`${v.stdout}${v.stderr}`, '', 'systemd-analyze verify printed something');
      assert.equal(v.code, 0);
      const score = async () => {
        const s = await must('systemd-analyze', ['security', '--offline=true', `--root=${root}`, 'pgseal.service']);
        const m = /Overall exposure level for pgseal\.service: (\d+\.\d)/.exec(s.stdout);
        assert.ok(m, s.stdout);
        return Number(m[1]);
      };
      const plain = await score();
      t.diagnostic(`exposure ${plain}`);
      assert.ok(plain <= 1.5, `exposure ${plain} > 1.5`);
      // The documented drop-in for ports below 1024 keeps the unit valid and at most 1.5.
      const dropin = join(root, 'etc/systemd/system/pgseal.service.d');
      await mkdir(dropin, { recursive: true });
      await copyFile(join(REPO, 'systemd/pgseal.service.d/low-port.conf'), join(dropin, 'low-port.conf'));
      try {
        const v2 = await run('systemd-analyze', ['verify', `--root=${root}`, 'pgseal.service']);
        assert.equal(`${v2.stdout}${v2.stderr}`, '', 'systemd-analyze verify with low-port.conf');
        const low = await score();
        t.diagnostic(`exposure with low-port.conf ${low}`);
        assert.ok(low <= 1.5, `exposure with low-port.conf ${low} > 1.5`);
      } finally {
        await rm(dropin, { recursive: true, force: true });
      }
    });

    await t.test('the hardened unit starts, reloads and stops under systemd (nspawn)', { timeout: 240_000 }, async (t) => {
      if (!skipUnless(t, 'systemd-nspawn')) return;
      await bootAndProbe(t, root);
    });

    // Upgrade to a newer version: the edited conffile, keys, PKI and audit log stay.
    await appendFile(join(root, 'etc/pgseal/pgseal.yaml'), '# edited by the operator\n');
    const before = await stateDigest(root);
    const next = await repackWithVersion(root, `${VERSION}+test1`);
    const upgrade = await inRoot(root, ['dpkg', '-i', next]);
    assert.equal(upgrade.code, 0, `${upgrade.stdout}\n${upgrade.stderr}`);
    assert.doesNotMatch(upgrade.stdout, /no keys or certificates were generated/, 'no first-run message once initialised');
    assert.match(await readFile(join(root, 'etc/pgseal/pgseal.yaml'), 'utf8'), /# edited by the operator\n$/);
    assert.deepEqual(await stateDigest(root), before);
    assert.match((await inRoot(root, ['dpkg-query', '-W', '-f', '${Version}', 'pgseal'])).stdout, /\+test1$/);

    // Remove: binaries go; configuration and state stay.
    const remove = await inRoot(root, ['dpkg', '-r', 'pgseal']);
    assert.equal(remove.code, 0, `${remove.stdout}\n${remove.stderr}`);
    assert.ok(!existsSync(join(root, 'usr/bin/pgseal')) && !existsSync(join(root, 'usr/lib/pgseal')));
    assert.ok(existsSync(join(root, 'etc/pgseal/pgseal.yaml')), 'remove keeps the configuration');
    assert.deepEqual(await stateDigest(root), before);

    // Purge: the configuration goes; keys, PKI, audit log and the user stay, and it says so.
    const purge = await inRoot(root, ['dpkg', '--purge', 'pgseal']);
    assert.equal(purge.code, 0, `${purge.stdout}\n${purge.stderr}`);
    assert.match(purge.stdout, /Kept \/var\/lib\/pgseal \(audit logs, audit signing keys/);
    assert.ok(!existsSync(join(root, 'etc/pgseal/pgseal.yaml')), 'purge removes the conffile');
    assert.deepEqual(await stateDigest(root), before);
    assert.ok(account(root, 'pgseal'), 'purge keeps the user that owns the kept files');
  });

  test('the .rpm payload runs from an empty root, and its scriptlets install and remove it', { timeout: 900_000 }, async (t) => {
    if (!ready(t, 'rpm2cpio', 'cpio')) return;
    const rpm = join(out, RPM_NAME);

    await t.test('payload (rpm2cpio | cpio) in an empty root, run with the bundled runtime', async () => {
      const empty = join(work, 'rpm-payload');
      await mkdir(empty);
      await must('sh', ['-c', 'cd "$1" && rpm2cpio "$2" | cpio -idm --quiet', 'sh', empty, rpm]);
      for (const p of ['usr/bin/pgseal', 'usr/lib/systemd/system/pgseal.service', 'usr/lib/sysusers.d/pgseal.conf', 'etc/pgseal/pgseal.yaml', 'var/lib/pgseal']) {
        assert.ok(existsSync(join(empty, p)), `${p} missing from the payload`);
      }
      assert.ok(readFileSync(join(empty, 'usr/bin/pgseal'), 'utf8').includes(WRAPPER_EXEC));
      assert.equal(readFileSync(join(empty, 'usr/lib/systemd/system/pgseal.service'), 'utf8'), readFileSync(join(REPO, 'systemd/pgseal.service'), 'utf8'));
      const node = join(empty, 'usr/lib/pgseal/runtime/bin/node');
      const main = join(empty, 'usr/lib/pgseal/app/dist/src/cli/main.js');
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, LANG: 'C.UTF-8' };
      const cli = (args: string[]) => run(node, [main, ...args], { env });
      const v = await cli(['--version']);
      assert.equal(v.stdout.trim(), VERSION, v.stderr);
      const dir = join(work, 'rpm-state');
      const init = await cli(['init', '--dir', dir, '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:5432']);
      assert.equal(init.code, 0, init.stderr);
      const served = await serveBriefly(node, [main, 'serve', '--config', join(dir, 'pgseal.yaml')], env);
      assert.equal(served.exit, 0, served.log);
      assert.match(served.log, /"sha256":"native"/);
      assert.match(served.log, /"relay":"handle"/);
      const verify = await cli(['verify', join(dir, 'audit'), '--key', join(dir, 'keys/audit.pub')]);
      assert.equal(verify.code, 0, `${verify.stdout}\n${verify.stderr}`);
    });

    await t.test('rpm --root into Debian 12 without systemd-sysusers: %pre falls back to useradd', async (t) => {
      const root = await freshRoot(t, 'rpm-root');
      if (!root) return;
      await rename(join(root, 'usr/bin/systemd-sysusers'), join(root, 'usr/bin/systemd-sysusers.hidden'));
      // --nodeps: this root's packages are in dpkg's database, not rpm's.
      const install = await run('rpm', ['--root', root, '-i', '--nodeps', '--nosignature', rpm], { timeoutMs: 300_000 });
      assert.equal(install.code, 0, `${install.stdout}\n${install.stderr}`);
      assert.match(install.stdout, /sudo -u pgseal pgseal init --dir \/var\/lib\/pgseal/);
      const user = account(root, 'pgseal');
      assert.ok(user, '%pre created the pgseal user with useradd');
      assert.equal(user.home, '/var/lib/pgseal');
      assert.equal(user.shell, '/usr/sbin/nologin');
      const state = statSync(join(root, 'var/lib/pgseal'));
      assert.equal(state.mode & 0o7777, 0o750);
      assert.deepEqual([state.uid, state.gid], [user.uid, user.gid]);
      const version = await inRoot(root, ['/usr/bin/pgseal', '--version'], user);
      assert.equal(version.stdout.trim(), VERSION, version.stderr);
      const init = await inRoot(root, ['/usr/bin/pgseal', 'init', '--dir', '/var/lib/pgseal', '--listen', '127.0.0.1:6432', '--upstream', '127.0.0.1:5432'], user);
      assert.equal(init.code, 0, init.stderr);
      const key = sha256(join(root, 'var/lib/pgseal/keys/audit.key'));

      const erase = await run('rpm', ['--root', root, '-e', 'pgseal'], { timeoutMs: 300_000 });
      assert.equal(erase.code, 0, `${erase.stdout}\n${erase.stderr}`);
      assert.match(erase.stdout, /Kept \/var\/lib\/pgseal/);
      assert.ok(!existsSync(join(root, 'usr/lib/pgseal')) && !existsSync(join(root, 'usr/bin/pgseal')));
      assert.ok(!existsSync(join(root, 'etc/pgseal/pgseal.yaml')), 'an unchanged %config file goes with the package');
      assert.equal(sha256(join(root, 'var/lib/pgseal/keys/audit.key')), key, 'erase keeps the keys');
      assert.ok(account(root, 'pgseal'));
    });
  });
});

/** repackWithVersion writes a copy of the .deb with another version into root/tmp. */
async function repackWithVersion(root: string, version: string): Promise<string> {
  const dir = join(work, `repack-${version}`);
  await must('dpkg-deb', ['-R', join(out, DEB_NAME), dir]);
  const control = join(dir, 'DEBIAN/control');
  await writeFile(control, (await readFile(control, 'utf8')).replace(/^Version: .*$/m, `Version: ${version}`));
  const name = `pgseal_${version}_amd64.deb`;
  // gzip -1: this copy only has to install.
  await must('fakeroot', ['dpkg-deb', '-Zgzip', '-z1', '--build', dir, join(root, 'tmp', name)], { timeoutMs: 300_000 });
  await rm(dir, { recursive: true, force: true });
  return `/tmp/${name}`;
}

/** The script the booted container runs (probe.service): it drives pgseal.service and powers off. */
const PROBE = String.raw`#!/bin/sh
exec >/root/probe.txt 2>&1
logs() { journalctl -u pgseal.service --no-pager -o cat; }
wait_log() { i=0; while [ $i -lt 100 ]; do logs | grep -q "$1" && return 0; i=$((i+1)); sleep 0.2; done; return 1; }
wait_state() { i=0; while [ $i -lt 100 ]; do [ "$(systemctl is-active pgseal.service)" = "$1" ] && return 0; i=$((i+1)); sleep 0.2; done; return 1; }
systemctl start pgseal.service
wait_log '"pgseal listening"' && echo "STEP start ok"
logs | grep -q '"sha256":"native"' && echo "STEP native sha256 ok"
logs | grep -q '"relay":"handle"' && echo "STEP handle relay ok"
systemctl show pgseal.service -p User -p NoNewPrivileges -p PrivateUsers -p CapabilityBoundingSet -p ProtectSystem
systemctl reload pgseal.service
wait_log '"configuration reloaded"' && echo "STEP reload ok"
systemctl stop pgseal.service
wait_log '"pgseal stopped"' && echo "STEP stop ok $(systemctl show pgseal.service -p Result --value)"
cp /etc/pgseal/pgseal.yaml /root/pgseal.yaml.orig
sed -i 's/^listen: .*/listen: 127.0.0.1:636/' /etc/pgseal/pgseal.yaml
systemctl start pgseal.service
wait_state failed && echo "STEP lowport-denied $(systemctl show pgseal.service -p ExecMainStatus --value)"
systemctl reset-failed pgseal.service
mkdir -p /etc/systemd/system/pgseal.service.d
cp /root/low-port.conf /etc/systemd/system/pgseal.service.d/low-port.conf
systemctl daemon-reload
systemctl start pgseal.service
wait_log '"listen":"127.0.0.1:636"' && echo "STEP lowport ok"
systemctl stop pgseal.service
rm -r /etc/systemd/system/pgseal.service.d
cp /root/pgseal.yaml.orig /etc/pgseal/pgseal.yaml
echo "--- journal"
logs
echo "STEP done"
systemctl poweroff
`;

/** bootAndProbe boots root with systemd-nspawn (no network) and checks what PROBE saw. */
async function bootAndProbe(t: TestContext, root: string): Promise<void> {
  await writeFile(join(root, 'root/probe.sh'), PROBE);
  await chmod(join(root, 'root/probe.sh'), 0o755);
  await copyFile(join(REPO, 'systemd/pgseal.service.d/low-port.conf'), join(root, 'root/low-port.conf'));
  await writeFile(
    join(root, 'etc/systemd/system/probe.service'),
    '[Unit]\nAfter=multi-user.target\n[Service]\nType=oneshot\nExecStart=/root/probe.sh\n[Install]\nWantedBy=multi-user.target\n',
  );
  const wants = join(root, 'etc/systemd/system/multi-user.target.wants');
  await mkdir(wants, { recursive: true });
  await must('ln', ['-sf', '/etc/systemd/system/probe.service', join(wants, 'probe.service')]);
  const probeFile = join(root, 'root/probe.txt');
  try {
    // --keep-unit --register=no: no systemd or machined is needed on the host.
    const boot = await run('systemd-nspawn', ['--quiet', '--keep-unit', '--register=no', '--private-network', '-D', root, '--boot', '--console=pipe'], {
      timeoutMs: 180_000,
    });
    if (!existsSync(probeFile)) {
      t.skip(`systemd-nspawn could not boot the Debian root here (exit ${boot.code}): ${`${boot.stdout}\n${boot.stderr}`.trim().split('\n').slice(-3).join(' | ')}`);
      return;
    }
    const probe = readFileSync(probeFile, 'utf8');
    for (const step of probe.split('\n').filter((l) => l.startsWith('STEP '))) t.diagnostic(step);
    assert.match(probe, /^STEP start ok$/m, probe);
    assert.match(probe, /^STEP native sha256 ok$/m, 'the native SHA-256 addon loads under the hardened unit');
    assert.match(probe, /^STEP handle relay ok$/m, 'the relay uses the stream handles under the hardened unit');
    assert.match(probe, /^User=pgseal$/m, probe);
    assert.match(probe, /^PrivateUsers=yes$/m, probe);
    assert.match(probe, /^CapabilityBoundingSet=$/m, probe);
    assert.match(probe, /^STEP reload ok$/m, probe);
    assert.match(probe, /^STEP stop ok success$/m, probe);
    // Without the drop-in a port below 1024 is refused, and exit status 2 is not restarted.
    assert.match(probe, /^STEP lowport-denied 2$/m, probe);
    assert.match(probe, /^STEP lowport ok$/m, probe);
    assert.match(probe, /^STEP done$/m, probe);
  } finally {
    await rm(join(wants, 'probe.service'), { force: true });
    await rm(join(root, 'etc/systemd/system/probe.service'), { force: true });
    await rm(probeFile, { force: true });
  }
}
