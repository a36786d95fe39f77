import type tls from 'node:tls';
import { rolesForIdentity, type IdentRule } from '../auth/index.js';
import type { CertificateInfo } from '../audit/events.js';
import { certificateIdentity, type CertificateIdentity } from '../pki/index.js';
import { SQLSTATE } from '../protocol/index.js';
import { ClientFacingError } from './client-errors.js';

/** IdentitySource says which certificate field names the client (tls.identity). */
export type IdentitySource = 'cn' | 'dn' | 'san-email' | 'san-uri';

/** ClientCertificate is what the client leg's TLS says about the client's certificate. */
export type ClientCertificate = { verifyError: string | null; parsed: CertificateIdentity; identity: string };

/** readClientCertificate returns the presented certificate and its identity, or null when none was presented. */
export function readClientCertificate(socket: tls.TLSSocket, source: IdentitySource): ClientCertificate | null {
  const peer = socket.getPeerCertificate();
  if (!peer || !peer.raw) return null;
  const parsed = certificateIdentity(peer.raw);
  // Node reports the verification error as a string code (e.g. CERT_REVOKED) despite its typings.
  const err = socket.authorized ? null : String(socket.authorizationError ?? 'UNKNOWN');
  return { verifyError: err, parsed, identity: identityOf(parsed, source) };
}

/** identityOf picks the configured identity field of a parsed certificate ('' when absent). */
export function identityOf(c: CertificateIdentity, source: IdentitySource): string {
  switch (source) {
    case 'cn':
      return c.commonName ?? '';
    case 'dn':
      return c.subject;
    case 'san-email':
      return c.emails[0] ?? '';
    case 'san-uri':
      return c.uris[0] ?? '';
  }
}

/** certificateInfo renders a client certificate for the audit log. */
export function certificateInfo(c: ClientCertificate | null): CertificateInfo {
  return c ? { subject: c.parsed.subject, serial: c.parsed.serial, fingerprint: c.parsed.fingerprintSha256, identity: c.identity } : null;
}

/** CertificatePolicy is the client-certificate part of admission. */
export type CertificatePolicy = { mode: 'none' | 'optional' | 'require'; rules: readonly IdentRule[]; mapConfigured: boolean; useCertificateRoles: boolean };

/**
 * admitCertificate decides, before anything reaches the database, whether the client may
 * log in as `user`: a required certificate must be present and valid, and a presented
 * certificate's identity must map to the role (embedded roles, the mapping file, or — with
 * neither — an identity equal to the role, as PostgreSQL's cert authentication does).
 */
export function admitCertificate(cert: ClientCertificate | null, user: string, p: CertificatePolicy): void {
  if (cert === null) {
    if (p.mode === 'require') throw deny('connection requires a valid client certificate', 'Connect with sslcert and sslkey issued by pgseal\'s CA.');
    return;
  }
  if (cert.verifyError) throw deny(`client certificate "${cert.parsed.subject}" was rejected: ${cert.verifyError}`);
  const allowed = new Set<string>(p.useCertificateRoles ? cert.parsed.roles : []);
  for (const r of rolesForIdentity(p.rules, cert.identity)) allowed.add(r);
  const noPolicy = (!p.useCertificateRoles || cert.parsed.roles.length === 0) && !p.mapConfigured;
  if (allowed.has(user) || (noPolicy && cert.identity === user)) return;
  throw deny(`certificate identity "${cert.identity}" is not allowed to log in as role "${user}"`);
}

function deny(message: string, hint?: string): ClientFacingError {
  return new ClientFacingError(SQLSTATE.invalidAuthorization, message, hint);
}
