import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { PkiError } from './errors.js';
import { webcrypto, type CryptoKey } from './x509.js';

// Keys are ECDSA P-256 (signatures with SHA-256). Never Ed25519 for a server
// certificate: tls-server-end-point channel binding needs a hash (TRAPS, PostgreSQL).

/** ECDSA_P256 is the WebCrypto algorithm of every pgseal key. */
export const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** SIGNING_ALGORITHM is ecdsa-with-SHA256, for certificates and CRLs. */
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** generateKey makes a new ECDSA P-256 private key. */
export function generateKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
}

/** privateKeyPem exports a key as PKCS#8 PEM, encrypted (AES-256-CBC, PBES2) when a passphrase is given. */
export function privateKeyPem(key: KeyObject, passphrase?: string): string {
  if (passphrase === undefined) return key.export({ type: 'pkcs8', format: 'pem' }).toString();
  if (passphrase === '') throw new PkiError('the passphrase is empty');
  return key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }).toString();
}

/** isEncryptedPem reports whether a PEM private key needs a passphrase. */
export function isEncryptedPem(pem: string): boolean {
  return pem.includes(`-----BEGIN ENCRYPTED ${'PRIVATE'} KEY-----`) || /Proc-Type: 4,ENCRYPTED/.test(pem);
}

/** loadPrivateKey parses a PEM private key, decrypting it with the passphrase when it is encrypted. */
export function loadPrivateKey(pem: string, passphrase: string | undefined, what: string): KeyObject {
  const encrypted = isEncryptedPem(pem);
  if (encrypted && passphrase === undefined) {
    throw new PkiError(`${what} is encrypted: set PGSEAL_CA_PASSPHRASE or pass --passphrase-file`);
  }
  try {
    return createPrivateKey(encrypted ? { key: pem, format: 'pem', passphrase: passphrase! } : { key: pem, format: 'pem' });
  } catch (err) {
    const why = encrypted ? 'wrong passphrase or damaged file' : 'not a PEM private key';
    throw new PkiError(`cannot load ${what}: ${why}`, { cause: err });
  }
}

/** spkiDer returns the DER SubjectPublicKeyInfo of a private or public key. */
export function spkiDer(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return new Uint8Array(pub.export({ type: 'spki', format: 'der' }));
}

/** toSigningKey imports a P-256 private key into WebCrypto for @peculiar/x509 to sign with. */
export async function toSigningKey(key: KeyObject): Promise<CryptoKey> {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
    throw new PkiError(`unsupported CA key type ${key.asymmetricKeyType ?? '?'} (pgseal CAs use ECDSA P-256)`);
  }
  const der = key.export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', der, ECDSA_P256, false, ['sign']);
}
