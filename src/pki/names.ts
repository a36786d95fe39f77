import { isIP } from 'node:net';
import { DerTag, decodeChildren, decodeExact, decodeOid, decodeString } from './der.js';
import { PkiError } from './errors.js';

// Names: entity names (file names in the store), subjectAltName specs, and the two
// text forms of a distinguished name — RFC 4514 (for identities) and OpenSSL's
// "/CN=..." one-line form (for index.txt). Pure functions.

/** SanEntry is one subjectAltName in @peculiar/x509's JSON form. */
export interface SanEntry {
  type: 'dns' | 'ip' | 'email' | 'url';
  value: string;
}

/** Attribute is one AttributeTypeAndValue of a Name, decoded. */
export interface Attribute {
  oid: string;
  value: string | null;
  raw: Uint8Array;
}

const ENTITY_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const DNS_NAME = /^(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/;

/** validateEntityName checks a certificate name, which is also its file name in the store. */
export function validateEntityName(name: string): string {
  if (!ENTITY_NAME.test(name)) {
    throw new PkiError(`invalid name "${name}": use 1-64 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit`);
  }
  if (name.toLowerCase() === 'ca') throw new PkiError('the name "ca" is reserved for the CA itself');
  return name;
}

/** parseSan turns "DNS:host", "IP:addr", "email:a@b" or "URI:u" into a SanEntry. */
export function parseSan(spec: string): SanEntry {
  const colon = spec.indexOf(':');
  const kind = colon > 0 ? spec.slice(0, colon).toUpperCase() : '';
  const value = spec.slice(colon + 1);
  if (kind === 'DNS' && DNS_NAME.test(value) && value.length <= 253) return { type: 'dns', value: value.toLowerCase() };
  if (kind === 'IP' && isIP(value) !== 0) return { type: 'ip', value };
  if (kind === 'EMAIL' && /^[^\s@]+@[^\s@]+$/.test(value)) return { type: 'email', value };
  if (kind === 'URI' && URL.canParse(value)) return { type: 'url', value };
  throw new PkiError(`invalid subjectAltName "${spec}": expected DNS:name, IP:address, email:addr or URI:uri`);
}

/** parseSans splits comma-separated SAN specs (as the CLI takes them) and parses each. */
export function parseSans(specs: readonly string[]): SanEntry[] {
  const parts = specs.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  return parts.map(parseSan);
}

/** decodeName reads a DER Name into RDNs of attributes, in certificate order. */
export function decodeName(der: Uint8Array): Attribute[][] {
  const name = decodeExact(der, DerTag.sequence);
  return decodeChildren(name.value).map((rdn) => {
    if (rdn.tag !== DerTag.set) throw new PkiError('Name: RDN is not a SET');
    return decodeChildren(rdn.value).map((atv) => {
      const [type, value] = decodeChildren(atv.value);
      if (atv.tag !== DerTag.sequence || !type || !value || type.tag !== DerTag.oid) {
        throw new PkiError('Name: malformed AttributeTypeAndValue');
      }
      return { oid: decodeOid(type.value), value: decodeString(value), raw: value.raw };
    });
  });
}

const RFC4514_KEYWORDS: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.6': 'C',
  '2.5.4.9': 'STREET',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
};

const OPENSSL_SHORT_NAMES: Record<string, string> = {
  ...RFC4514_KEYWORDS,
  '2.5.4.9': 'street',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.12': 'title',
  '2.5.4.42': 'GN',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/** escapeRfc4514 escapes an attribute value as RFC 4514 §2.4 requires. */
export function escapeRfc4514(value: string): string {
  const chars = Array.from(value);
  return chars
    .map((c, i) => {
      if ('\\"+,;<>'.includes(c)) return `\\${c}`;
      if (c === '\0') return '\\00';
      if ((i === 0 && (c === '#' || c === ' ')) || (i === chars.length - 1 && c === ' ')) return `\\${c}`;
      return c;
    })
    .join('');
}

/** formatRfc4514 renders RDNs as an RFC 4514 string: last RDN first, "," between RDNs. */
export function formatRfc4514(rdns: Attribute[][]): string {
  return [...rdns]
    .reverse()
    .map((rdn) =>
      rdn
        .map((a) => {
          const keyword = RFC4514_KEYWORDS[a.oid];
          if (keyword && a.value !== null) return `${keyword}=${escapeRfc4514(a.value)}`;
          return `${a.oid}=#${Buffer.from(a.raw).toString('hex')}`;
        })
        .join('+'),
    )
    .join(',');
}

/** formatOpensslDn renders RDNs in OpenSSL's one-line form ("/CN=name"), as index.txt holds them. */
export function formatOpensslDn(rdns: Attribute[][]): string {
  return rdns
    .map((rdn) =>
      rdn
        .map((a) => {
          const value = (a.value ?? '').replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`);
          return `${OPENSSL_SHORT_NAMES[a.oid] ?? a.oid}=${value}`;
        })
        .join('+'),
    )
    .map((rdn) => `/${rdn}`)
    .join('');
}

/** commonNameOf returns the last CN of the RDNs (the most specific), or null. */
export function commonNameOf(rdns: Attribute[][]): string | null {
  const cns = rdns.flat().filter((a) => a.oid === '2.5.4.3' && a.value !== null);
  return cns.length > 0 ? cns[cns.length - 1]!.value : null;
}

/** commonNameOfOpensslDn extracts the CN from an index.txt subject ("/CN=name"), or null. */
export function commonNameOfOpensslDn(dn: string): string | null {
  const m = /(?:^|\/)CN=([^/]*)/.exec(dn);
  return m ? m[1]! : null;
}
