// Public surface of src/pki: pgseal's CA store (easy-rsa layout, pki/README.md).
// It works without the proxy; the proxy uses certificateIdentity and readRolesFromCertificate.

export { initCa, loadCa, type InitCaOptions, type InitCaResult, type LoadedCa } from './ca.js';
export {
  issueServerCertificate,
  issueClientCertificate,
  type IssueServerOptions,
  type IssueClientOptions,
  type IssuedCertificate,
} from './issue.js';
export { revokeCertificate, type RevokeOptions, type RevokeResult } from './revoke.js';
export { generateCrl, CRL_NUMBER_OID, type GenerateCrlOptions, type GenerateCrlResult } from './crl.js';
export { listCertificates, expiringWithin, type CertificateSummary, type CertificateStatus } from './list.js';
export { exportPkcs12, buildPkcs12 } from './pkcs12.js';
export {
  certificateIdentity,
  readRolesFromCertificate,
  parseCertificate,
  certificateDer,
  type CertificateIdentity,
  type CertificateInput,
} from './identity.js';
export { ROLES_OID, encodeRoles, decodeRoles } from './roles.js';
export { parseIndex, parseIndexLine, formatIndexLine, type IndexEntry, type RevocationReason } from './index-db.js';
export { readPassphrase, CA_PASSPHRASE_ENV } from './passphrase.js';
export { storePaths } from './store.js';
export { PkiError } from './errors.js';
