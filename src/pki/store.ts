import { mkdir, open, readFile, rename, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { PkiError } from './errors.js';
import { formatIndex, parseIndex, type IndexEntry } from './index-db.js';

// File I/O for the CA store (easy-rsa layout, see pki/README.md). Writes of shared
// files go through a temporary file and rename, and every change to the store runs
// under DIR/.lock so two pgseal processes cannot interleave index.txt updates.

/** storePaths returns the paths of every fixed file and folder in the store at dir. */
export function storePaths(dir: string) {
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'private', 'ca.key'),
    privateDir: join(dir, 'private'),
    issuedDir: join(dir, 'issued'),
    revokedCerts: join(dir, 'revoked', 'certs_by_serial'),
    revokedKeys: join(dir, 'revoked', 'private_by_serial'),
    expiredCerts: join(dir, 'expired', 'certs_by_serial'),
    expiredKeys: join(dir, 'expired', 'private_by_serial'),
    index: join(dir, 'index.txt'),
    indexAttr: join(dir, 'index.txt.attr'),
    serial: join(dir, 'serial'),
    crl: join(dir, 'crl.pem'),
    crlNumber: join(dir, 'crlnumber'),
    lock: join(dir, '.lock'),
  };
}

/** entityPaths returns where the certificate, key and PKCS#12 bundle of a name live. */
export function entityPaths(dir: string, name: string) {
  return {
    cert: join(dir, 'issued', `${name}.crt`),
    key: join(dir, 'private', `${name}.key`),
    p12: join(dir, 'private', `${name}.p12`),
  };
}

/** createLayout makes the store's folders; private ones are 0700. */
export async function createLayout(dir: string): Promise<void> {
  const p = storePaths(dir);
  await mkdir(dir, { recursive: true });
  for (const d of [p.privateDir, join(dir, 'revoked'), p.revokedKeys, join(dir, 'expired'), p.expiredKeys]) {
    await mkdir(d, { recursive: true, mode: 0o700 });
    await chmod(d, 0o700); // mkdir's mode is filtered by the umask
  }
  for (const d of [p.issuedDir, p.revokedCerts, p.expiredCerts]) await mkdir(d, { recursive: true });
}

/** exists reports whether a path exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** requireStore fails with a helpful message unless dir holds an initialised CA. */
export async function requireStore(dir: string): Promise<void> {
  if (!(await exists(storePaths(dir).caCert))) {
    throw new PkiError(`no CA in ${dir} (create one with: pgseal ca init --pki ${dir})`);
  }
}

/** writeFileAtomic replaces path with data via a temporary file and rename. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

/** writeNewFile creates path with data and mode, refusing to overwrite an existing file. */
export async function writeNewFile(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  try {
    await writeFile(path, data, { mode, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new PkiError(`${path} already exists`);
    throw err;
  }
  await chmod(path, mode);
}

/** moveIfExists renames from to to when from exists; returns whether it moved. */
export async function moveIfExists(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** readIndexFile reads and parses DIR/index.txt. */
export async function readIndexFile(dir: string): Promise<IndexEntry[]> {
  return parseIndex(await readFile(storePaths(dir).index, 'utf8'));
}

/** writeIndexFile replaces DIR/index.txt with the given entries. */
export async function writeIndexFile(dir: string, entries: readonly IndexEntry[]): Promise<void> {
  await writeFileAtomic(storePaths(dir).index, formatIndex(entries));
}

/** readHexFile reads a file holding one hex number (serial, crlnumber). */
export async function readHexFile(path: string): Promise<string> {
  const text = (await readFile(path, 'utf8')).trim().toUpperCase();
  if (!/^[0-9A-F]+$/.test(text)) throw new PkiError(`${path} does not hold a hex number`);
  return text;
}

const LOCK_WAIT_MS = 5000;
const LOCK_POLL_MS = 50;

/** withStoreLock runs fn while holding DIR/.lock (created O_EXCL; a dead holder's lock is taken over). */
export async function withStoreLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = storePaths(dir).lock;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fh = await open(lock, 'wx', 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(holder) && holder > 0 && !isAlive(holder)) await rm(lock, { force: true });
      else if (Date.now() > deadline) throw new PkiError(`${lock} is held by process ${holder || '?'}; retry later`);
      else await delay(LOCK_POLL_MS);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

/** isAlive reports whether a process id exists (EPERM means it does, owned by someone else). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
