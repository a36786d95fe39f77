import { sign, type KeyObject } from 'node:crypto';
import { DerTag, decodeChildren, decodeExact, decodeOid, encodeOctetString, encodeOid, encodeSequence, encodeTlv } from './der.js';
import { PkiError } from './errors.js';

// Why this file exists: asn1js (under @peculiar/x509) prints an OID arc above 2^53 as
// "{hex}" and cannot parse that text back, so an extension whose OID is
// 2.25.<128-bit> comes out of X509CertificateGenerator as just "2.25". We let the
// library build and sign everything else, then append such extensions to the
// TBSCertificate ourselves and sign it again with the CA key. Certificate layout as
// RFC 5280 §4.1: SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING },
// the extensions being the TBS's last field, [3] EXPLICIT SEQUENCE OF Extension.

/** encodeExtension encodes a non-critical Extension (RFC 5280 §4.1) with our own OID encoder. */
export function encodeExtension(oid: string, value: Uint8Array): Uint8Array {
  return encodeSequence(encodeOid(oid), encodeOctetString(value)); // critical DEFAULT FALSE is omitted
}

/** RawExtension is one certificate extension as read straight from the DER. */
export interface RawExtension {
  oid: string;
  critical: boolean;
  value: Uint8Array;
}

/** readExtensions lists a certificate's extensions from its DER, OIDs of any size intact. */
export function readExtensions(certDer: Uint8Array): RawExtension[] {
  const [tbs] = decodeChildren(decodeExact(certDer, DerTag.sequence).value);
  if (!tbs || tbs.tag !== DerTag.sequence) throw new PkiError('certificate: malformed outer SEQUENCE');
  const last = decodeChildren(tbs.value).at(-1);
  if (!last || last.tag !== 0xa3) return [];
  return decodeChildren(decodeExact(last.value, DerTag.sequence).value).map((ext) => {
    const parts = ext.tag === DerTag.sequence ? decodeChildren(ext.value) : [];
    const [oid, second, third] = parts;
    const critical = parts.length === 3 && second?.tag === 0x01 && second.value[0] === 0xff;
    const value = parts.length === 3 ? third : second;
    if (!oid || oid.tag !== DerTag.oid || !value || value.tag !== DerTag.octetString) {
      throw new PkiError('certificate: malformed Extension');
    }
    return { oid: decodeOid(oid.value), critical, value: value.value };
  });
}

/** appendExtensionsAndResign adds extensions to a certificate's TBS and signs it again with the issuer key. */
export function appendExtensionsAndResign(certDer: Uint8Array, extensions: Uint8Array[], issuerKey: KeyObject): Uint8Array {
  const [tbs, signatureAlgorithm, signature] = decodeChildren(decodeExact(certDer, DerTag.sequence).value);
  if (!tbs || !signatureAlgorithm || !signature || tbs.tag !== DerTag.sequence) {
    throw new PkiError('certificate: malformed outer SEQUENCE');
  }
  const fields = decodeChildren(tbs.value);
  const last = fields[fields.length - 1];
  if (!last || last.tag !== 0xa3) throw new PkiError('certificate: TBS has no extensions field');
  const existing = decodeExact(last.value, DerTag.sequence).value;
  const newExtensions = encodeTlv(0xa3, encodeSequence(existing, ...extensions));
  const newTbs = encodeSequence(...fields.slice(0, -1).map((f) => f.raw), newExtensions);
  // ecdsa-with-SHA256; Node's default ECDSA signature encoding is the DER Ecdsa-Sig-Value X.509 wants.
  const sig = sign('sha256', newTbs, issuerKey);
  return encodeSequence(newTbs, signatureAlgorithm.raw, encodeTlv(DerTag.bitString, Uint8Array.of(0), sig));
}
