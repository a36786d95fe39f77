import type { KeyObject } from 'node:crypto';
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { writeCrl } from './crl.js';
import { PkiError } from './errors.js';
import { SIGNING_ALGORITHM, generateKey, loadPrivateKey, privateKeyPem, spkiDer, toSigningKey } from './keys.js';
import { randomSerial, writeNextSerial } from './serial.js';
import { createLayout, exists, requireStore, storePaths, withStoreLock, writeFileAtomic, writeNewFile } from './store.js';
import { validityPeriod } from './validity.js';
import { x509, type CryptoKey } from './x509.js';

/** InitCaOptions configures initCa. */
export interface InitCaOptions {
  dir: string;
  /** The CA's commonName (default "pgseal CA"). */
  cn?: string;
  /** Validity in days (default 3650). */
  days?: number;
  /** Encrypts private/ca.key (PKCS#8, AES-256-CBC) when given. */
  passphrase?: string;
}

/** InitCaResult says where the CA was written. */
export interface InitCaResult {
  certPath: string;
  keyPath: string;
  crlPath: string;
  /** SHA-256 of the DER CA certificate, lowercase hex. */
  fingerprintSha256: string;
}

/** LoadedCa is the CA certificate and its key, ready to sign. */
export interface LoadedCa {
  certificate: x509.X509Certificate;
  certificatePem: string;
  privateKey: KeyObject;
  signingKey: CryptoKey;
  /** Hex keyIdentifier of the CA (its subjectKeyIdentifier), for authorityKeyIdentifier. */
  keyId: string;
}

/** initCa creates a new CA store in the easy-rsa layout; refuses if DIR/ca.crt exists. */
export async function initCa(options: InitCaOptions): Promise<InitCaResult> {
  const { dir, cn = 'pgseal CA', days = 3650, passphrase } = options;
  if (cn.trim() === '' || cn.length > 64) throw new PkiError('the CA name (--cn) must be 1-64 characters');
  validityPeriod(days); // validates days before anything is written
  const p = storePaths(dir);
  if (await exists(p.caCert)) throw new PkiError(`a CA already exists in ${dir} (${p.caCert})`);
  await mkdir(dir, { recursive: true });
  return withStoreLock(dir, async () => {
    if (await exists(p.caCert)) throw new PkiError(`a CA already exists in ${dir} (${p.caCert})`);
    await createLayout(dir);
    const key = generateKey();
    const cert = await buildCaCertificate(key, cn, days);
    await writeNewFile(p.caKey, privateKeyPem(key, passphrase), 0o600);
    await writeNewFile(p.caCert, cert.toString('pem') + '\n');
    await writeFileAtomic(p.index, '');
    await writeFileAtomic(p.indexAttr, 'unique_subject = no\n');
    await writeNextSerial(dir, new Set());
    await writeFileAtomic(p.crlNumber, '01\n');
    const ca = await loadCa(dir, passphrase);
    await writeCrl(dir, ca, [], 7);
    const fingerprintSha256 = createHash('sha256').update(new Uint8Array(cert.rawData)).digest('hex');
    return { certPath: p.caCert, keyPath: p.caKey, crlPath: p.crl, fingerprintSha256 };
  });
}

/** buildCaCertificate makes the self-signed CA certificate (RFC 5280 §4.2.1.2, §4.2.1.3, §4.2.1.9). */
async function buildCaCertificate(key: KeyObject, cn: string, days: number): Promise<x509.X509Certificate> {
  const spki = spkiDer(key);
  const ski = await x509.SubjectKeyIdentifierExtension.create(spki);
  const name = new x509.Name([{ CN: [cn] }]);
  const { notBefore, notAfter } = validityPeriod(days);
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(), // the CA's own serial is not in index.txt (as with easy-rsa)
    subject: name,
    issuer: name,
    notBefore,
    notAfter,
    publicKey: spki,
    signingKey: await toSigningKey(key),
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ski,
      new x509.AuthorityKeyIdentifierExtension(ski.keyId),
    ],
  });
}

/** loadCa reads DIR/ca.crt and DIR/private/ca.key (decrypting it with the passphrase if needed). */
export async function loadCa(dir: string, passphrase?: string): Promise<LoadedCa> {
  await requireStore(dir);
  const p = storePaths(dir);
  const certificatePem = await readFile(p.caCert, 'utf8');
  const certificate = new x509.X509Certificate(certificatePem);
  const privateKey = loadPrivateKey(await readFile(p.caKey, 'utf8'), passphrase, p.caKey);
  if (!Buffer.from(spkiDer(privateKey)).equals(Buffer.from(certificate.publicKey.rawData))) {
    throw new PkiError(`${p.caKey} does not belong to ${p.caCert}`);
  }
  const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (!ski) throw new PkiError(`${p.caCert} has no subjectKeyIdentifier`);
  return { certificate, certificatePem, privateKey, signingKey: await toSigningKey(privateKey), keyId: ski.keyId };
}
