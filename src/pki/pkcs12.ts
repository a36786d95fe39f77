import { createHash, createHmac, randomBytes, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  encodeBmpString,
  encodeContext,
  encodeInteger,
  encodeNull,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeSet,
} from './der.js';
import { PkiError } from './errors.js';
import { loadPrivateKey } from './keys.js';
import { toDer } from './pem.js';
import { findValidByName } from './records.js';
import { entityPaths, readIndexFile, requireStore, storePaths, withStoreLock, writeFileAtomic } from './store.js';

// PKCS#12 (RFC 7292) written by hand, because node-forge's PKCS#12 is RSA-only
// (TRAPS, Libraries). The layout is what OpenSSL 3 writes by default, minus the
// encryption of the certificates (they are public):
//   PFX v3 { authSafe = data { AuthenticatedSafe [
//       data { SafeContents [ certBag(leaf, friendlyName, localKeyID), certBag(CA) ] },
//       data { SafeContents [ pkcs8ShroudedKeyBag(PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC,
//                                                   friendlyName, localKeyID) ] } ] },
//     macData = HMAC-SHA256, key from the RFC 7292 Appendix B.2 KDF }

const OID = {
  data: '1.2.840.113549.1.7.1',
  certBag: '1.2.840.113549.1.12.10.1.3',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  sha256: '2.16.840.1.101.3.4.2.1',
};

const MAC_ITERATIONS = 2048; // OpenSSL's default (PKCS12_DEFAULT_ITER), as Node's PKCS#8 encryption uses

/** Pkcs12Input is what goes into a bundle: the leaf, its key, the chain above it. */
export interface Pkcs12Input {
  certificate: Uint8Array;
  key: KeyObject;
  chain: Uint8Array[];
  passphrase: string;
  friendlyName: string;
}

/** buildPkcs12 returns the DER of a password-protected PFX holding the key, the leaf and the chain. */
export function buildPkcs12(input: Pkcs12Input): Uint8Array {
  if (input.passphrase === '') throw new PkiError('a PKCS#12 passphrase must not be empty');
  const attrs = bagAttributes(input.friendlyName, createHash('sha1').update(input.certificate).digest());
  const certBags = [certBag(input.certificate, attrs), ...input.chain.map((c) => certBag(c))];
  const shrouded = input.key.export({ type: 'pkcs8', format: 'der', cipher: 'aes-256-cbc', passphrase: input.passphrase });
  const keyBag = encodeSequence(encodeOid(OID.pkcs8ShroudedKeyBag), encodeContext(0, shrouded), attrs);
  const authSafe = encodeSequence(dataContentInfo(encodeSequence(...certBags)), dataContentInfo(encodeSequence(keyBag)));
  return encodeSequence(encodeInteger(3), dataContentInfo(authSafe), macData(authSafe, input.passphrase));
}

/** dataContentInfo wraps bytes as a PKCS#7 ContentInfo of type data. */
function dataContentInfo(content: Uint8Array): Uint8Array {
  return encodeSequence(encodeOid(OID.data), encodeContext(0, encodeOctetString(content)));
}

/** certBag makes a SafeBag holding one X.509 certificate (RFC 7292 §4.2.3). */
function certBag(der: Uint8Array, attrs?: Uint8Array): Uint8Array {
  const value = encodeSequence(encodeOid(OID.x509Certificate), encodeContext(0, encodeOctetString(der)));
  return encodeSequence(encodeOid(OID.certBag), encodeContext(0, value), ...(attrs ? [attrs] : []));
}

/** bagAttributes pairs key and certificate by localKeyID and names them (PKCS#9 §5.5.1, §5.5.2). */
function bagAttributes(friendlyName: string, localKeyId: Uint8Array): Uint8Array {
  return encodeSet(
    encodeSequence(encodeOid(OID.friendlyName), encodeSet(encodeBmpString(friendlyName))),
    encodeSequence(encodeOid(OID.localKeyId), encodeSet(encodeOctetString(localKeyId))),
  );
}

/** macData computes the integrity MAC over the AuthenticatedSafe (RFC 7292 §5.1, HMAC-SHA256). */
function macData(authSafe: Uint8Array, passphrase: string): Uint8Array {
  const salt = randomBytes(16);
  const key = pkcs12Kdf(passphrase, salt, 3, MAC_ITERATIONS, 32);
  const digest = createHmac('sha256', key).update(authSafe).digest();
  const digestInfo = encodeSequence(encodeSequence(encodeOid(OID.sha256), encodeNull()), encodeOctetString(digest));
  return encodeSequence(digestInfo, encodeOctetString(salt), encodeInteger(MAC_ITERATIONS));
}

/** pkcs12Kdf is the RFC 7292 Appendix B.2 key derivation with SHA-256 (u = 32, v = 64). */
export function pkcs12Kdf(passphrase: string, salt: Uint8Array, id: number, iterations: number, n: number): Buffer {
  const u = 32;
  const v = 64;
  const password = Buffer.concat([Buffer.from(passphrase, 'utf16le').swap16(), Buffer.alloc(2)]); // BMPString + NUL
  const fill = (src: Uint8Array) => {
    const len = v * Math.ceil(src.length / v);
    return Buffer.from(Array.from({ length: len }, (_, i) => src[i % src.length]!));
  };
  const I = Buffer.concat([fill(salt), fill(password)]);
  const D = Buffer.alloc(v, id);
  const out: Buffer[] = [];
  for (let done = 0; done < n; done += u) {
    let A = createHash('sha256').update(D).update(I).digest();
    for (let r = 1; r < iterations; r++) A = createHash('sha256').update(A).digest();
    out.push(A);
    const B = fill(A);
    for (let j = 0; j < I.length; j += v) addOne(I.subarray(j, j + v), B);
  }
  return Buffer.concat(out).subarray(0, n);
}

/** addOne sets block = (block + b + 1) mod 2^(8v), big-endian (RFC 7292 B.2 step 6C). */
function addOne(block: Buffer, b: Buffer): void {
  let carry = 1;
  for (let k = block.length - 1; k >= 0; k--) {
    const sum = block[k]! + b[k]! + carry;
    block[k] = sum & 0xff;
    carry = sum >> 8;
  }
}

/** exportPkcs12 writes private/<name>.p12 (0600): the valid certificate of that name, its key and the CA. */
export async function exportPkcs12(options: { dir: string; name: string; passphrase: string }): Promise<{ p12Path: string }> {
  const { dir, name, passphrase } = options;
  await requireStore(dir);
  return withStoreLock(dir, async () => {
    if (!findValidByName(await readIndexFile(dir), name)) throw new PkiError(`no valid certificate named "${name}"`);
    const paths = entityPaths(dir, name);
    const der = buildPkcs12({
      certificate: toDer(await readFile(paths.cert, 'utf8')),
      key: loadPrivateKey(await readFile(paths.key, 'utf8'), undefined, paths.key),
      chain: [toDer(await readFile(storePaths(dir).caCert, 'utf8'))],
      passphrase,
      friendlyName: name,
    });
    await writeFileAtomic(paths.p12, der, 0o600);
    return { p12Path: paths.p12 };
  });
}
