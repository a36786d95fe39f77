import type { KeyObject } from 'node:crypto';
import { loadCa, type LoadedCa } from './ca.js';
import { PkiError } from './errors.js';
import { formatIndexTime, parseIndexTime, type IndexEntry } from './index-db.js';
import { SIGNING_ALGORITHM, generateKey, privateKeyPem, spkiDer } from './keys.js';
import { decodeName, formatOpensslDn, parseSan, validateEntityName, type SanEntry } from './names.js';
import { findValidByName, retireExpired } from './records.js';
import { ROLES_OID, encodeRoles, validateRoles } from './roles.js';
import { takeSerial } from './serial.js';
import { appendExtensionsAndResign, encodeExtension } from './tbs.js';
import { entityPaths, readIndexFile, withStoreLock, writeIndexFile, writeNewFile } from './store.js';
import { validityPeriod } from './validity.js';
import { x509 } from './x509.js';

/** IssueServerOptions configures issueServerCertificate. */
export interface IssueServerOptions {
  dir: string;
  name: string;
  /** subjectAltNames such as 'DNS:localhost', 'IP:127.0.0.1' (at least one). */
  sans: string[];
  /** Validity in days (default 825). */
  days?: number;
  passphrase?: string;
}

/** IssueClientOptions configures issueClientCertificate. */
export interface IssueClientOptions {
  dir: string;
  /** The commonName, which is also the file name. */
  name: string;
  /** Database roles carried in the roles extension. */
  roles: string[];
  /** Optional subjectAltNames ('email:a@b', 'URI:spiffe://...'). */
  sans?: string[];
  /** Validity in days (default 30). */
  days?: number;
  passphrase?: string;
}

/** IssuedCertificate says where an issued certificate and its key were written. */
export interface IssuedCertificate {
  certPath: string;
  keyPath: string;
  serial: string;
  notAfter: Date;
}

/** Profile is what distinguishes a server from a client certificate. */
interface Profile {
  usage: x509.ExtendedKeyUsage;
  sans: SanEntry[];
  roles: string[] | null;
}

/** issueServerCertificate issues a serverAuth certificate (ECDSA P-256) with the given subjectAltNames. */
export async function issueServerCertificate(options: IssueServerOptions): Promise<IssuedCertificate> {
  const { dir, name, sans, days = 825, passphrase } = options;
  const entries = sans.map(parseSan);
  if (entries.length === 0) throw new PkiError('a server certificate needs at least one subjectAltName (--san DNS:host,IP:addr)');
  return issueCertificate(dir, name, days, passphrase, { usage: x509.ExtendedKeyUsage.serverAuth, sans: entries, roles: null });
}

/** issueClientCertificate issues a clientAuth certificate with CN=name and the roles extension; refuses a duplicate valid name. */
export async function issueClientCertificate(options: IssueClientOptions): Promise<IssuedCertificate> {
  const { dir, name, roles, sans = [], days = 30, passphrase } = options;
  const profile = { usage: x509.ExtendedKeyUsage.clientAuth, sans: sans.map(parseSan), roles: validateRoles(roles) };
  return issueCertificate(dir, name, days, passphrase, profile);
}

/** issueCertificate records a new certificate in the store: key, certificate, index line, next serial. */
async function issueCertificate(dir: string, name: string, days: number, passphrase: string | undefined, profile: Profile) {
  validateEntityName(name);
  validityPeriod(days); // validates days before the store is touched
  const ca = await loadCa(dir, passphrase);
  return withStoreLock(dir, async () => {
    const entries = await retireExpired(dir, await readIndexFile(dir), name);
    const existing = findValidByName(entries, name);
    if (existing) {
      throw new PkiError(`a valid certificate named "${name}" exists (serial ${existing.serial}); revoke it first`);
    }
    const serial = await takeSerial(dir, new Set(entries.map((e) => e.serial)));
    const key = generateKey();
    const cert = await buildLeafCertificate(ca, key, name, serial, days, profile);
    const paths = entityPaths(dir, name);
    await writeNewFile(paths.key, privateKeyPem(key), 0o600);
    await writeNewFile(paths.cert, cert.toString('pem') + '\n');
    await writeIndexFile(dir, [...entries, indexEntryFor(cert)]);
    return { certPath: paths.cert, keyPath: paths.key, serial, notAfter: cert.notAfter };
  });
}

/** buildLeafCertificate signs an end-entity certificate (RFC 5280 §4.2.1) for the profile. */
async function buildLeafCertificate(
  ca: LoadedCa,
  key: KeyObject,
  name: string,
  serial: string,
  days: number,
  profile: Profile,
): Promise<x509.X509Certificate> {
  const spki = spkiDer(key);
  const { notBefore, notAfter } = validityPeriod(days, new Date(), ca.certificate.notAfter);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([profile.usage], false),
    await x509.SubjectKeyIdentifierExtension.create(spki),
    new x509.AuthorityKeyIdentifierExtension(ca.keyId),
  ];
  if (profile.sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(profile.sans, false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: new x509.Name([{ CN: [name] }]),
    issuer: ca.certificate.subjectName,
    notBefore,
    notAfter,
    publicKey: spki,
    signingKey: ca.signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions,
  });
  if (!profile.roles || profile.roles.length === 0) return cert;
  // The roles extension's 128-bit OID arc does not survive @peculiar/x509 (see tbs.ts).
  const roles = encodeExtension(ROLES_OID, encodeRoles(profile.roles));
  return new x509.X509Certificate(appendExtensionsAndResign(new Uint8Array(cert.rawData), [roles], ca.privateKey));
}

/** indexEntryFor makes the index.txt line of a freshly issued certificate. */
function indexEntryFor(cert: x509.X509Certificate): IndexEntry {
  return {
    status: 'V',
    // Round-trip through the text form so the entry holds exactly what index.txt will.
    expiry: parseIndexTime(formatIndexTime(cert.notAfter)),
    revokedAt: null,
    reason: null,
    serial: cert.serialNumber.toUpperCase(),
    subject: formatOpensslDn(decodeName(new Uint8Array(cert.subjectName.toArrayBuffer()))),
  };
}
