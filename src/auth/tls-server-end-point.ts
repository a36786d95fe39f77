import { createHash } from 'node:crypto';
import { PgsealError } from '../errors.js';

// RFC 5929 §4.1, tls-server-end-point: the hash of the server's DER certificate, with the hash
// function of the certificate's signatureAlgorithm, or SHA-256 when that is MD5 or SHA-1.
// Undefined for algorithms without a single hash (Ed25519, Ed448).
//
// Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm AlgorithmIdentifier,
//   signatureValue BIT STRING }   (RFC 5280 §4.1)
// AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY OPTIONAL }

type HashName = 'sha224' | 'sha256' | 'sha384' | 'sha512';

/** Signature algorithm OID → digest for tls-server-end-point (MD5/SHA-1 already mapped to SHA-256). */
const SIGNATURE_HASHES: ReadonlyMap<string, HashName> = new Map([
  ['1.2.840.113549.1.1.4', 'sha256'], // md5WithRSAEncryption → SHA-256
  ['1.2.840.113549.1.1.5', 'sha256'], // sha1WithRSAEncryption → SHA-256
  ['1.2.840.113549.1.1.14', 'sha224'], // sha224WithRSAEncryption
  ['1.2.840.113549.1.1.11', 'sha256'], // sha256WithRSAEncryption
  ['1.2.840.113549.1.1.12', 'sha384'], // sha384WithRSAEncryption
  ['1.2.840.113549.1.1.13', 'sha512'], // sha512WithRSAEncryption
  ['1.2.840.10045.4.1', 'sha256'], // ecdsa-with-SHA1 → SHA-256
  ['1.2.840.10045.4.3.1', 'sha224'], // ecdsa-with-SHA224
  ['1.2.840.10045.4.3.2', 'sha256'], // ecdsa-with-SHA256
  ['1.2.840.10045.4.3.3', 'sha384'], // ecdsa-with-SHA384
  ['1.2.840.10045.4.3.4', 'sha512'], // ecdsa-with-SHA512
  ['1.2.840.10040.4.3', 'sha256'], // dsa-with-sha1 → SHA-256
  ['2.16.840.1.101.3.4.3.2', 'sha256'], // dsa-with-sha256
]);

/** Digest OID → digest, for RSASSA-PSS parameters (RFC 4055 §3.1). */
const DIGESTS: ReadonlyMap<string, HashName> = new Map([
  ['1.2.840.113549.2.5', 'sha256'], // md5 → SHA-256
  ['1.3.14.3.2.26', 'sha256'], // sha1 → SHA-256
  ['2.16.840.1.101.3.4.2.4', 'sha224'],
  ['2.16.840.1.101.3.4.2.1', 'sha256'],
  ['2.16.840.1.101.3.4.2.2', 'sha384'],
  ['2.16.840.1.101.3.4.2.3', 'sha512'],
]);

const RSASSA_PSS = '1.2.840.113549.1.1.10';
const NO_HASH = new Map([
  ['1.3.101.112', 'Ed25519'],
  ['1.3.101.113', 'Ed448'],
]);

/** One DER TLV: tag byte and the content's [start, end) in the buffer. */
interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function malformed(detail: string): PgsealError {
  return new PgsealError('pki_error', `malformed DER certificate: ${detail}`);
}

/** Reads the TLV at `offset`, which must end by `limit` (X.690 §8.1, definite lengths only). */
function readTlv(der: Buffer, offset: number, limit: number): Tlv {
  if (offset + 2 > limit) throw malformed('truncated');
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) throw malformed('high tag numbers are not expected here');
  let len = der[offset + 1]!;
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw malformed('unsupported length encoding');
    if (start + n > limit) throw malformed('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  const end = start + len;
  if (end > limit) throw malformed('length overruns its container');
  return { tag, start, end };
}

function expectTag(tlv: Tlv, tag: number, what: string): Tlv {
  if (tlv.tag !== tag) throw malformed(`expected ${what}`);
  return tlv;
}

/** Decodes OBJECT IDENTIFIER content to dotted form (X.690 §8.19). */
function decodeOid(der: Buffer, tlv: Tlv): string {
  if (tlv.end === tlv.start) throw malformed('empty OID');
  const arcs: number[] = [];
  let value = 0;
  for (let i = tlv.start; i < tlv.end; i++) {
    const b = der[i]!;
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw malformed('OID arc too large');
    if ((b & 0x80) === 0) {
      arcs.push(value);
      value = 0;
    } else if (i === tlv.end - 1) {
      throw malformed('truncated OID');
    }
  }
  const first = arcs[0]!;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join('.');
}

/** Reads an AlgorithmIdentifier's OID and the TLV after it (the parameters), if any. */
function readAlgorithm(der: Buffer, alg: Tlv): { oid: string; params: Tlv | null } {
  const oidTlv = expectTag(readTlv(der, alg.start, alg.end), 0x06, 'an algorithm OID');
  const params = oidTlv.end < alg.end ? readTlv(der, oidTlv.end, alg.end) : null;
  return { oid: decodeOid(der, oidTlv), params };
}

/**
 * RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0] EXPLICIT AlgorithmIdentifier DEFAULT sha1, ... }
 * (RFC 4055 §3.1). Absent parameters or an absent [0] mean SHA-1, hence SHA-256 here; this is
 * also what OpenSSL's X509_get_signature_info, which PostgreSQL uses, reports.
 */
function pssHash(der: Buffer, params: Tlv | null): HashName {
  if (params === null || params.tag === 0x05) return 'sha256';
  expectTag(params, 0x30, 'RSASSA-PSS parameters');
  if (params.start === params.end) return 'sha256';
  const first = readTlv(der, params.start, params.end);
  if (first.tag !== 0xa0) return 'sha256';
  const hashAlg = expectTag(readTlv(der, first.start, first.end), 0x30, 'a hash AlgorithmIdentifier');
  const { oid } = readAlgorithm(der, hashAlg);
  const hash = DIGESTS.get(oid);
  if (hash === undefined) throw new PgsealError('unsupported_feature', `unsupported RSASSA-PSS hash ${oid}`);
  return hash;
}

/** signatureHash returns the digest RFC 5929 §4.1 prescribes for a DER certificate. */
function signatureHash(der: Buffer): HashName {
  const cert = expectTag(readTlv(der, 0, der.length), 0x30, 'a Certificate SEQUENCE');
  if (cert.end !== der.length) throw malformed('trailing bytes after the certificate');
  const tbs = expectTag(readTlv(der, cert.start, cert.end), 0x30, 'a tbsCertificate SEQUENCE');
  const alg = expectTag(readTlv(der, tbs.end, cert.end), 0x30, 'a signatureAlgorithm SEQUENCE');
  const { oid, params } = readAlgorithm(der, alg);
  if (oid === RSASSA_PSS) return pssHash(der, params);
  const hash = SIGNATURE_HASHES.get(oid);
  if (hash !== undefined) return hash;
  const noHash = NO_HASH.get(oid);
  if (noHash !== undefined) {
    throw new PgsealError(
      'unsupported_feature',
      `tls-server-end-point is undefined for ${noHash} certificates (no signature hash); use an ECDSA or RSA certificate`,
    );
  }
  throw new PgsealError('unsupported_feature', `unsupported certificate signature algorithm ${oid}`);
}

/**
 * tlsServerEndPoint returns the tls-server-end-point channel-binding data of a DER certificate
 * (RFC 5929 §4.1): its hash with the signature algorithm's digest, SHA-256 for MD5 and SHA-1.
 * Throws PgsealError('unsupported_feature') for Ed25519/Ed448 and unknown algorithms, and
 * PgsealError('pki_error') for bytes that are not a DER certificate.
 */
export function tlsServerEndPoint(certDer: Buffer): Buffer {
  return createHash(signatureHash(certDer)).update(certDer).digest();
}
