import type { LoadedCa } from './ca.js';
import { loadCa } from './ca.js';
import { encodeInteger } from './der.js';
import { PkiError } from './errors.js';
import { REVOCATION_REASONS, type IndexEntry } from './index-db.js';
import { SIGNING_ALGORITHM } from './keys.js';
import { encodePem } from './pem.js';
import { readHexFile, readIndexFile, storePaths, withStoreLock, writeFileAtomic } from './store.js';
import { validityPeriod } from './validity.js';
import { x509 } from './x509.js';

// CRLs (RFC 5280 §5): v2, signed ecdsa-with-SHA256 by the CA, with cRLNumber and
// authorityKeyIdentifier, one entry per revoked index.txt line with its reason code.
// DIR/crlnumber holds the *next* CRL number in hex, as OpenSSL's does.

/** CRL_NUMBER_OID is id-ce-cRLNumber (RFC 5280 §5.2.3); @peculiar/x509 has no helper for it. */
export const CRL_NUMBER_OID = '2.5.29.20';

/** GenerateCrlOptions configures generateCrl. */
export interface GenerateCrlOptions {
  dir: string;
  /** Days until nextUpdate (default 7). */
  days?: number;
  passphrase?: string;
}

/** GenerateCrlResult says where the CRL went and which number it carries. */
export interface GenerateCrlResult {
  crlPath: string;
  crlNumber: bigint;
  revoked: number;
  nextUpdate: Date;
}

/** generateCrl signs a fresh CRL of every revoked certificate in index.txt and writes DIR/crl.pem. */
export async function generateCrl(options: GenerateCrlOptions): Promise<GenerateCrlResult> {
  const { dir, days = 7, passphrase } = options;
  const ca = await loadCa(dir, passphrase);
  return withStoreLock(dir, async () => writeCrl(dir, ca, await readIndexFile(dir), days));
}

/** writeCrl builds the CRL from index entries and writes crl.pem and crlnumber; the caller holds the lock. */
export async function writeCrl(dir: string, ca: LoadedCa, entries: readonly IndexEntry[], days: number): Promise<GenerateCrlResult> {
  const p = storePaths(dir);
  const crlNumber = BigInt(`0x${await readHexFile(p.crlNumber)}`);
  const { notBefore, notAfter } = validityPeriod(days, new Date(), ca.certificate.notAfter);
  const revoked = entries.filter((e) => e.status === 'R');
  const der = await buildCrl(ca, revoked, crlNumber, notBefore, notAfter);
  await writeFileAtomic(p.crl, encodePem('X509 CRL', der));
  await writeFileAtomic(p.crlNumber, `${hexOctets(crlNumber + 1n)}\n`);
  return { crlPath: p.crl, crlNumber, revoked: revoked.length, nextUpdate: notAfter };
}

/** buildCrl signs a CRL with the given revoked entries and number; returns DER. */
export async function buildCrl(
  ca: LoadedCa,
  revoked: readonly IndexEntry[],
  crlNumber: bigint,
  thisUpdate: Date,
  nextUpdate: Date,
): Promise<Uint8Array> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.certificate.subjectName,
    thisUpdate,
    nextUpdate,
    signingKey: ca.signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.AuthorityKeyIdentifierExtension(ca.keyId),
      new x509.Extension(CRL_NUMBER_OID, false, encodeInteger(crlNumber)),
    ],
    entries: revoked.map((e) => ({
      serialNumber: e.serial,
      revocationDate: e.revokedAt ?? thisUpdate,
      // RFC 5280 §5.3.1: reasonCode unspecified (0) SHOULD be absent; x509 omits 0.
      reason: reasonCode(e.reason),
    })),
  });
  return new Uint8Array(crl.rawData);
}

/** reasonCode maps an index.txt reason name to its CRLReason code (0 when absent). */
function reasonCode(reason: string | null): number {
  if (reason === null) return 0;
  const code = REVOCATION_REASONS[reason];
  if (code === undefined) throw new PkiError(`index.txt: unknown revocation reason "${reason}"`);
  return code;
}

/** hexOctets writes a number as uppercase hex with an even number of digits (as OpenSSL's files hold). */
export function hexOctets(n: bigint): string {
  const hex = n.toString(16).toUpperCase();
  return hex.length % 2 ? `0${hex}` : hex;
}
