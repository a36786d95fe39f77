import { PkiError } from './errors.js';

// A minimal, strict DER codec (X.690 §8, §10) for the few structures pgseal
// builds or reads by hand: the roles extension, CRLNumber, PKCS#12 and Names.
// Pure functions; no I/O.

/** DerTag lists the universal tags used here (X.680 §8.6). */
export const DerTag = {
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  teletexString: 0x14,
  ia5String: 0x16,
  universalString: 0x1c,
  bmpString: 0x1e,
  sequence: 0x30,
  set: 0x31,
} as const;

/** DerElement is one decoded TLV: its tag byte, contents, and the whole encoding. */
export interface DerElement {
  tag: number;
  value: Uint8Array;
  raw: Uint8Array;
}

/** encodeLength writes a definite length in the shortest form (X.690 §8.1.3, §10.1). */
export function encodeLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** encodeTlv concatenates a tag, the length of the contents and the contents. */
export function encodeTlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(contents);
  return Buffer.concat([Uint8Array.of(tag), encodeLength(body.length), body]);
}

/** encodeSequence wraps elements in a SEQUENCE. */
export function encodeSequence(...elements: Uint8Array[]): Uint8Array {
  return encodeTlv(DerTag.sequence, ...elements);
}

/** encodeSet wraps elements in a SET (callers pass one element or pre-sorted ones). */
export function encodeSet(...elements: Uint8Array[]): Uint8Array {
  return encodeTlv(DerTag.set, ...elements);
}

/** encodeContext wraps elements in a constructed [n] EXPLICIT tag. */
export function encodeContext(n: number, ...elements: Uint8Array[]): Uint8Array {
  return encodeTlv(0xa0 | n, ...elements);
}

/** encodeOctetString wraps bytes in an OCTET STRING. */
export function encodeOctetString(bytes: Uint8Array): Uint8Array {
  return encodeTlv(DerTag.octetString, bytes);
}

/** encodeUtf8String encodes text as a UTF8String. */
export function encodeUtf8String(text: string): Uint8Array {
  return encodeTlv(DerTag.utf8String, Buffer.from(text, 'utf8'));
}

/** encodeBmpString encodes text as a BMPString (UTF-16BE, X.680 §41.16). */
export function encodeBmpString(text: string): Uint8Array {
  return encodeTlv(DerTag.bmpString, Buffer.from(text, 'utf16le').swap16());
}

/** encodeInteger encodes a non-negative integer in the fewest octets (X.690 §8.3.2). */
export function encodeInteger(value: bigint | number): Uint8Array {
  let n = BigInt(value);
  if (n < 0n) throw new PkiError('negative INTEGER not supported');
  const bytes: number[] = [];
  do {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  } while (n > 0n);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return encodeTlv(DerTag.integer, Uint8Array.from(bytes));
}

/** encodeOid encodes a dotted object identifier (X.690 §8.19). */
export function encodeOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((a) => {
    if (!/^(0|[1-9]\d*)$/.test(a)) throw new PkiError(`invalid OID ${dotted}`);
    return BigInt(a);
  });
  if (arcs.length < 2 || arcs[0]! > 2n) throw new PkiError(`invalid OID ${dotted}`);
  const subids = [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)];
  const out: number[] = [];
  for (const id of subids) {
    const chunk: number[] = [Number(id & 0x7fn)];
    for (let n = id >> 7n; n > 0n; n >>= 7n) chunk.unshift(Number(n & 0x7fn) | 0x80);
    out.push(...chunk);
  }
  return encodeTlv(DerTag.oid, Uint8Array.from(out));
}

/** encodeNull is the DER NULL. */
export function encodeNull(): Uint8Array {
  return Uint8Array.of(DerTag.null, 0);
}

/** decodeElement reads one TLV at offset, rejecting indefinite or non-minimal lengths. */
export function decodeElement(bytes: Uint8Array, offset = 0): DerElement {
  if (offset + 2 > bytes.length) throw new PkiError('DER: truncated header');
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new PkiError('DER: multi-byte tags not supported');
  let length = bytes[offset + 1]!;
  let header = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new PkiError('DER: unsupported length form');
    if (offset + 2 + count > bytes.length) throw new PkiError('DER: truncated length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[offset + 2 + i]!;
    if (length < 0x80 || bytes[offset + 2]! === 0) throw new PkiError('DER: non-minimal length');
    header += count;
  }
  const end = offset + header + length;
  if (end > bytes.length) throw new PkiError('DER: contents overrun');
  return { tag, value: bytes.subarray(offset + header, end), raw: bytes.subarray(offset, end) };
}

/** decodeChildren splits the contents of a constructed element into its elements. */
export function decodeChildren(contents: Uint8Array): DerElement[] {
  const out: DerElement[] = [];
  for (let offset = 0; offset < contents.length; ) {
    const el = decodeElement(contents, offset);
    out.push(el);
    offset += el.raw.length;
  }
  return out;
}

/** decodeExact decodes bytes that must hold exactly one element with the given tag. */
export function decodeExact(bytes: Uint8Array, tag: number): DerElement {
  const el = decodeElement(bytes, 0);
  if (el.tag !== tag) throw new PkiError(`DER: expected tag 0x${tag.toString(16)}, got 0x${el.tag.toString(16)}`);
  if (el.raw.length !== bytes.length) throw new PkiError('DER: trailing bytes');
  return el;
}

/** decodeOid turns OID contents (without tag and length) into dotted form. */
export function decodeOid(contents: Uint8Array): string {
  const ids: bigint[] = [];
  let n = 0n;
  for (let i = 0; i < contents.length; i++) {
    const b = contents[i]!;
    if (n === 0n && b === 0x80) throw new PkiError('DER: non-minimal OID');
    n = (n << 7n) | BigInt(b & 0x7f);
    if (!(b & 0x80)) {
      ids.push(n);
      n = 0n;
    } else if (i === contents.length - 1) throw new PkiError('DER: truncated OID');
  }
  if (ids.length === 0) throw new PkiError('DER: empty OID');
  const first = ids[0]!;
  const head = first < 80n ? [first / 40n, first % 40n] : [2n, first - 80n];
  return [...head, ...ids.slice(1)].join('.');
}

/** decodeString decodes the character-string types found in Names and extensions. */
export function decodeString(el: DerElement): string | null {
  switch (el.tag) {
    case DerTag.utf8String:
      return new TextDecoder('utf-8', { fatal: true }).decode(el.value);
    case DerTag.printableString:
    case DerTag.ia5String:
    case DerTag.teletexString:
      return Buffer.from(el.value).toString('latin1');
    case DerTag.bmpString:
      if (el.value.length % 2) throw new PkiError('DER: odd-length BMPString');
      return Buffer.from(el.value).swap16().toString('utf16le');
    default:
      return null;
  }
}
