import { join } from 'node:path';
import { loadCa } from './ca.js';
import { writeCrl } from './crl.js';
import { PkiError } from './errors.js';
import { formatIndexTime, normalizeSerial, parseIndexTime, type IndexEntry, type RevocationReason } from './index-db.js';
import { findValidByName, locateCertificate, nameOf } from './records.js';
import { entityPaths, moveIfExists, readIndexFile, storePaths, withStoreLock, writeIndexFile } from './store.js';

/** RevokeOptions configures revokeCertificate. */
export interface RevokeOptions {
  dir: string;
  /** A name with a valid certificate, or else a serial (hex, ':' separators allowed). */
  nameOrSerial: string;
  /** Recorded in index.txt and as the CRL entry's reasonCode; absent means no reason given. */
  reason?: RevocationReason;
  passphrase?: string;
  /** CRL validity in days (default 7). */
  crlDays?: number;
}

/** RevokeResult names the revoked certificate and the CRL that now lists it. */
export interface RevokeResult {
  name: string;
  serial: string;
  crlPath: string;
}

const REASONS: readonly RevocationReason[] = ['unspecified', 'keyCompromise', 'superseded', 'cessationOfOperation'];

/** revokeCertificate marks a certificate R in index.txt, moves its files to revoked/ and regenerates the CRL. */
export async function revokeCertificate(options: RevokeOptions): Promise<RevokeResult> {
  const { dir, nameOrSerial, reason, passphrase, crlDays = 7 } = options;
  if (reason !== undefined && !REASONS.includes(reason)) {
    throw new PkiError(`unknown revocation reason "${reason}": use one of ${REASONS.join(', ')}`);
  }
  const ca = await loadCa(dir, passphrase); // before any change: a wrong passphrase changes nothing
  return withStoreLock(dir, async () => {
    const entries = await readIndexFile(dir);
    const target = findTarget(entries, nameOrSerial);
    const revoked: IndexEntry = {
      ...target,
      status: 'R',
      revokedAt: parseIndexTime(formatIndexTime(new Date())),
      reason: reason ?? null,
    };
    await moveToRevoked(dir, target);
    await writeIndexFile(dir, entries.map((e) => (e === target ? revoked : e)));
    const crl = await writeCrl(dir, ca, await readIndexFile(dir), crlDays);
    return { name: nameOf(target), serial: target.serial, crlPath: crl.crlPath };
  });
}

/** findTarget picks the entry to revoke: a valid certificate by name first, then any by serial. */
export function findTarget(entries: readonly IndexEntry[], nameOrSerial: string): IndexEntry {
  const named = entries.filter((e) => nameOf(e) === nameOrSerial);
  const byName = findValidByName(named, nameOrSerial) ?? named.find((e) => e.status !== 'R');
  if (byName) return byName;
  if (named.length > 0) throw new PkiError(`the certificate named "${nameOrSerial}" is already revoked`);
  let serial: string | null = null;
  try {
    serial = normalizeSerial(nameOrSerial);
  } catch {
    serial = null;
  }
  const bySerial = serial === null ? undefined : entries.find((e) => e.serial === serial);
  if (!bySerial) throw new PkiError(`no certificate named or numbered "${nameOrSerial}" in the store`);
  if (bySerial.status === 'R') throw new PkiError(`certificate ${bySerial.serial} (${nameOf(bySerial)}) is already revoked`);
  return bySerial;
}

/** moveToRevoked moves the certificate, key and PKCS#12 bundle into revoked/, filed by serial (easy-rsa style). */
async function moveToRevoked(dir: string, entry: IndexEntry): Promise<void> {
  const p = storePaths(dir);
  const from = await locateCertificate(dir, entry);
  if (from) await moveIfExists(from, join(p.revokedCerts, `${entry.serial}.crt`));
  const files = entityPaths(dir, nameOf(entry));
  if (from === files.cert) {
    await moveIfExists(files.key, join(p.revokedKeys, `${entry.serial}.key`));
    await moveIfExists(files.p12, join(p.revokedKeys, `${entry.serial}.p12`));
  } else {
    await moveIfExists(join(p.expiredKeys, `${entry.serial}.key`), join(p.revokedKeys, `${entry.serial}.key`));
    await moveIfExists(join(p.expiredKeys, `${entry.serial}.p12`), join(p.revokedKeys, `${entry.serial}.p12`));
  }
}
