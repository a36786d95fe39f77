import { createHash } from 'node:crypto';
import { PkiError } from './errors.js';
import { commonNameOf, decodeName, formatRfc4514 } from './names.js';
import { toDer } from './pem.js';
import { ROLES_OID, decodeRoles } from './roles.js';
import { readExtensions } from './tbs.js';
import { x509 } from './x509.js';

// What the proxy needs from a client certificate to map it to a database role.

/** CertificateInput is PEM text, DER bytes, or anything with DER in `raw` (tls.PeerCertificate, crypto.X509Certificate). */
export type CertificateInput = string | Uint8Array | { raw: Uint8Array };

/** CertificateIdentity is what a certificate says about who holds it. */
export interface CertificateIdentity {
  /** The subject's (most specific) commonName, or null. */
  commonName: string | null;
  /** The subject DN as RFC 4514 text (most specific RDN first). */
  subject: string;
  /** The issuer DN as RFC 4514 text. */
  issuer: string;
  /** subjectAltName rfc822Name entries. */
  emails: string[];
  /** subjectAltName uniformResourceIdentifier entries. */
  uris: string[];
  /** subjectAltName dNSName entries. */
  dnsNames: string[];
  /** SHA-256 of the DER certificate, lowercase hex without separators. */
  fingerprintSha256: string;
  /** Serial number, uppercase hex as in index.txt. */
  serial: string;
  /** Roles from pgseal's roles extension ([] when absent). */
  roles: string[];
  notBefore: Date;
  notAfter: Date;
}

/** certificateDer returns the DER bytes of any CertificateInput. */
export function certificateDer(input: CertificateInput): Uint8Array {
  if (typeof input === 'string' || input instanceof Uint8Array) return toDer(input);
  if (input && input.raw instanceof Uint8Array) return input.raw;
  throw new PkiError('not a certificate: expected PEM, DER or an object with raw DER');
}

/** parseCertificate parses any CertificateInput with @peculiar/x509. */
export function parseCertificate(input: CertificateInput): x509.X509Certificate {
  try {
    return new x509.X509Certificate(certificateDer(input));
  } catch (err) {
    if (err instanceof PkiError) throw err;
    throw new PkiError('cannot parse certificate', { cause: err });
  }
}

/** readRolesFromCertificate returns the roles a certificate carries in pgseal's roles extension ([] when absent). */
export function readRolesFromCertificate(pemOrDer: CertificateInput): string[] {
  return rolesOf(certificateDer(pemOrDer));
}

/** rolesOf reads the roles extension from certificate DER. It reads the DER itself because
 * @peculiar/x509 re-encodes extensions and mangles OID arcs above 2^53 (see tbs.ts). */
export function rolesOf(certDer: Uint8Array): string[] {
  const exts = readExtensions(certDer).filter((e) => e.oid === ROLES_OID);
  if (exts.length > 1) throw new PkiError('certificate carries the roles extension twice');
  return exts.length === 0 ? [] : decodeRoles(exts[0]!.value);
}

/** certificateIdentity extracts subject CN and DN, SAN email/URI/DNS, fingerprint, serial and roles. */
export function certificateIdentity(cert: CertificateInput): CertificateIdentity {
  const der = certificateDer(cert);
  const parsed = parseCertificate(der);
  const subject = decodeName(new Uint8Array(parsed.subjectName.toArrayBuffer()));
  const issuer = decodeName(new Uint8Array(parsed.issuerName.toArrayBuffer()));
  const sans = subjectAltNames(parsed);
  const of = (type: string) => sans.filter((n) => n.type === type).map((n) => n.value);
  return {
    commonName: commonNameOf(subject),
    subject: formatRfc4514(subject),
    issuer: formatRfc4514(issuer),
    emails: of('email'),
    uris: of('url'),
    dnsNames: of('dns'),
    fingerprintSha256: createHash('sha256').update(der).digest('hex'),
    serial: parsed.serialNumber.toUpperCase(),
    roles: rolesOf(der),
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
  };
}

/** subjectAltNames lists a certificate's SAN entries; an unparseable SAN is an error, not an empty list. */
function subjectAltNames(cert: x509.X509Certificate): { type: string; value: string }[] {
  try {
    const ext = cert.getExtension(x509.SubjectAlternativeNameExtension);
    return ext ? ext.names.items.map((n) => ({ type: n.type, value: n.value })) : [];
  } catch (err) {
    throw new PkiError('cannot parse subjectAltName', { cause: err });
  }
}
