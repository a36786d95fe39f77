import { DerTag, decodeChildren, decodeExact, decodeString, encodeSequence, encodeUtf8String } from './der.js';
import { PkiError } from './errors.js';

// Roles travel in a private, non-critical certificate extension:
//   OID   2.25.261686005800137959858125943618818898508  (X.667 UUID arc, from the
//         random UUID c4dee436-b4e9-4549-9325-ee993cf57a4c)
//   value pgsealRoles ::= SEQUENCE OF UTF8String   -- DER, order kept, no duplicates
// Pure functions; see pki/README.md.

/** ROLES_OID identifies pgseal's roles extension. */
export const ROLES_OID = '2.25.261686005800137959858125943618818898508';

/** MAX_ROLE_BYTES is PostgreSQL's identifier limit (NAMEDATALEN - 1). */
export const MAX_ROLE_BYTES = 63;

/** validateRoles checks role names (1-63 UTF-8 bytes, no control characters) and drops duplicates. */
export function validateRoles(roles: readonly string[]): string[] {
  for (const role of roles) {
    const bytes = Buffer.byteLength(role, 'utf8');
    if (bytes === 0 || bytes > MAX_ROLE_BYTES || /[\x00-\x1f\x7f]/.test(role)) {
      throw new PkiError(`invalid role "${role}": 1-${MAX_ROLE_BYTES} bytes, no control characters`);
    }
  }
  return [...new Set(roles)];
}

/** encodeRoles encodes roles as the DER SEQUENCE OF UTF8String carried in the extension. */
export function encodeRoles(roles: readonly string[]): Uint8Array {
  return encodeSequence(...validateRoles(roles).map(encodeUtf8String));
}

/** decodeRoles decodes the extension value strictly: one SEQUENCE of UTF8Strings, nothing else. */
export function decodeRoles(der: Uint8Array): string[] {
  const seq = decodeExact(der, DerTag.sequence);
  const roles = decodeChildren(seq.value).map((el) => {
    if (el.tag !== DerTag.utf8String) throw new PkiError('roles extension: element is not a UTF8String');
    return decodeString(el)!;
  });
  return validateRoles(roles);
}
