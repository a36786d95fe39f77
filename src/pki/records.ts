import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IndexEntry } from './index-db.js';
import { commonNameOfOpensslDn } from './names.js';
import { entityPaths, exists, moveIfExists, storePaths, writeIndexFile } from './store.js';
import { x509 } from './x509.js';

// Finding certificates of the store by name or serial, and where their files are.

/** nameOf returns the store name (the CN) of an index entry. */
export function nameOf(entry: IndexEntry): string {
  return commonNameOfOpensslDn(entry.subject) ?? entry.subject;
}

/** isExpired reports whether an entry is past its expiry (or marked E). */
export function isExpired(entry: IndexEntry, now = new Date()): boolean {
  return entry.status === 'E' || (entry.status === 'V' && entry.expiry.getTime() <= now.getTime());
}

/** findValidByName returns the unexpired, unrevoked entry with that name, if any. */
export function findValidByName(entries: readonly IndexEntry[], name: string, now = new Date()): IndexEntry | undefined {
  return entries.find((e) => e.status === 'V' && !isExpired(e, now) && nameOf(e) === name);
}

/** locateCertificate returns the path of an entry's certificate file, or null if it is not in the store. */
export async function locateCertificate(dir: string, entry: IndexEntry): Promise<string | null> {
  const p = storePaths(dir);
  const issued = entityPaths(dir, nameOf(entry)).cert;
  const candidates = entry.status === 'R'
    ? [join(p.revokedCerts, `${entry.serial}.crt`)]
    : [issued, join(p.expiredCerts, `${entry.serial}.crt`)];
  for (const path of candidates) {
    if (await exists(path) && await holdsSerial(path, entry.serial)) return path;
  }
  return null;
}

/** holdsSerial reports whether the certificate file at path has the given serial. */
async function holdsSerial(path: string, serial: string): Promise<boolean> {
  const cert = new x509.X509Certificate(await readFile(path, 'utf8'));
  return cert.serialNumber.toUpperCase() === serial;
}

/** retireExpired marks expired V entries of a name E (as `openssl ca -updatedb`) and moves their files to expired/. */
export async function retireExpired(dir: string, entries: IndexEntry[], name: string, now = new Date()): Promise<IndexEntry[]> {
  const p = storePaths(dir);
  let changed = false;
  const out: IndexEntry[] = [];
  for (const e of entries) {
    if (e.status !== 'V' || !isExpired(e, now) || nameOf(e) !== name) {
      out.push(e);
      continue;
    }
    const files = entityPaths(dir, name);
    if ((await locateCertificate(dir, e)) === files.cert) {
      await moveIfExists(files.cert, join(p.expiredCerts, `${e.serial}.crt`));
      await moveIfExists(files.key, join(p.expiredKeys, `${e.serial}.key`));
      await moveIfExists(files.p12, join(p.expiredKeys, `${e.serial}.p12`));
    }
    out.push({ ...e, status: 'E' });
    changed = true;
  }
  if (changed) await writeIndexFile(dir, out);
  return out;
}
