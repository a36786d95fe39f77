import { createPrivateKey, randomBytes } from 'node:crypto';
import { webcrypto, x509, type CryptoKey } from '../pki/x509.js';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** MintedCertificate is a short-lived client certificate for logging in upstream with `cert` authentication. */
export type MintedCertificate = { cert: string; key: string; notAfter: number };

/**
 * UpstreamCertificateMinter issues short-lived client certificates (CN = role) from a CA
 * that PostgreSQL trusts, for certificate logins. One certificate per role is reused until
 * half its lifetime has passed.
 */
export class UpstreamCertificateMinter {
  private readonly cache = new Map<string, Promise<MintedCertificate>>();
  private caKey: Promise<CryptoKey> | null = null;

  constructor(
    private readonly caCertPem: Buffer,
    private readonly caKeyPem: Buffer,
    private readonly validityMinutes: number,
  ) {}

  /** certificateFor returns a valid certificate and key for role. */
  async certificateFor(role: string): Promise<MintedCertificate> {
    const cached = this.cache.get(role);
    if (cached) {
      const c = await cached.catch(() => null);
      if (c && c.notAfter - Date.now() > (this.validityMinutes * 60_000) / 2) return c;
    }
    const minted = this.mint(role);
    this.cache.set(role, minted);
    return minted;
  }

  private async mint(role: string): Promise<MintedCertificate> {
    const ca = new x509.X509Certificate(this.caCertPem.toString('utf8'));
    this.caKey ??= importCaKey(this.caKeyPem);
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const now = Date.now();
    const notAfter = now + this.validityMinutes * 60_000;
    const serial = randomBytes(16);
    serial[0]! &= 0x7f;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial.toString('hex'),
      subject: `CN=${role.replace(/([,+"\\<>;=])/g, '\\$1')}`,
      issuer: ca.subject,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(notAfter),
      signingAlgorithm: ALG,
      publicKey: keys.publicKey,
      signingKey: await this.caKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      ],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
    return { cert: cert.toString('pem'), key, notAfter };
  }
}

async function importCaKey(pem: Buffer): Promise<CryptoKey> {
  const der = createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
  return webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']) as Promise<CryptoKey>;
}
