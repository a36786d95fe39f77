import { readFile } from 'node:fs/promises';
import { rolesOf } from './identity.js';
import { locateCertificate, isExpired, nameOf } from './records.js';
import { readIndexFile, requireStore } from './store.js';
import { toDer } from './pem.js';

/** CertificateStatus is a certificate's state as of now. */
export type CertificateStatus = 'valid' | 'revoked' | 'expired';

/** CertificateSummary is one line of `pgseal cert list`. */
export interface CertificateSummary {
  name: string;
  serial: string;
  status: CertificateStatus;
  notAfter: Date;
  revokedAt: Date | null;
  /** OpenSSL one-line subject, as in index.txt. */
  subject: string;
  roles: string[];
  /** Where the certificate file is, or null when it is missing from the store. */
  certPath: string | null;
}

/** listCertificates lists every certificate in index.txt, in issue order, with its current status and roles. */
export async function listCertificates(options: { dir: string; now?: Date }): Promise<CertificateSummary[]> {
  const { dir, now = new Date() } = options;
  await requireStore(dir);
  const out: CertificateSummary[] = [];
  for (const entry of await readIndexFile(dir)) {
    const certPath = await locateCertificate(dir, entry);
    const roles = certPath ? rolesOf(toDer(await readFile(certPath, 'utf8'))) : [];
    const status: CertificateStatus = entry.status === 'R' ? 'revoked' : isExpired(entry, now) ? 'expired' : 'valid';
    out.push({
      name: nameOf(entry),
      serial: entry.serial,
      status,
      notAfter: entry.expiry,
      revokedAt: entry.revokedAt,
      subject: entry.subject,
      roles,
      certPath,
    });
  }
  return out;
}

/** expiringWithin returns the valid certificates that expire within `days` days of now. */
export function expiringWithin(certs: readonly CertificateSummary[], days: number, now = new Date()): CertificateSummary[] {
  const limit = now.getTime() + days * 86_400_000;
  return certs.filter((c) => c.status === 'valid' && c.notAfter.getTime() <= limit);
}
