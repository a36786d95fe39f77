// A small, strict ustar reader (POSIX.1-1988 ustar with GNU and pax long names), enough to read
// audit segments out of a .tar or .tar.gz without extracting anything to disk. Entry data is
// streamed; only headers and long-name records (capped at 1 MiB) are held in memory.
import type { FileHandle } from 'node:fs/promises';

import { PgsealError } from '../errors.js';

/** BLOCK is the tar block size: headers and padded entry data are multiples of it. */
export const BLOCK = 512;
/** MAX_ENTRY_BYTES is the largest entry accepted (1 TiB): anything larger is an absurd or hostile size. */
export const MAX_ENTRY_BYTES = 2 ** 40;
const MAX_META_BYTES = 1 << 20; // pax extended headers and GNU long names are read into memory

/** ArchiveError reports an archive that cannot be read: not a tar, truncated, or hostile. */
export class ArchiveError extends PgsealError {
  constructor(message: string) {
    super('io', message);
  }
}

/** ByteSource is a forward-only view of the tar bytes, positioned at `position`. */
export interface ByteSource {
  readonly position: number;
  /** read returns exactly n bytes, or null at a clean end of input; throws ArchiveError if the input ends within them. */
  read(n: number): Promise<Buffer | null>;
  /** skip moves forward n bytes; throws ArchiveError if the input ends first. */
  skip(n: number): Promise<void>;
  /** take yields the next n bytes as chunks; throws ArchiveError if the input ends first. */
  take(n: number): AsyncGenerator<Buffer>;
}

/** TarEntry is one archive member: its full path, kind, data size and where its data starts. */
export interface TarEntry {
  name: string;
  kind: 'file' | 'other';
  size: number;
  /** offset is the position of the entry's data in the (uncompressed) tar stream. */
  offset: number;
}

/** StreamSource reads the tar bytes from an async chunk iterator (a file or gunzip stream). */
export class StreamSource implements ByteSource {
  #position = 0;
  #pending: Buffer = Buffer.alloc(0);
  readonly #chunks: AsyncIterator<Buffer>;

  constructor(chunks: AsyncIterable<Buffer>) {
    this.#chunks = chunks[Symbol.asyncIterator]();
  }

  get position(): number {
    return this.#position;
  }

  async read(n: number): Promise<Buffer | null> {
    const parts: Buffer[] = [];
    let have = 0;
    for await (const chunk of this.take(n, true)) {
      parts.push(chunk);
      have += chunk.length;
    }
    if (have === 0 && n > 0) return null;
    if (have < n) throw truncated(this.#position);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, have);
  }

  async skip(n: number): Promise<void> {
    for await (const chunk of this.take(n)) void chunk;
  }

  async *take(n: number, allowEnd = false): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.#pending.length === 0) {
        const next = await this.#chunks.next();
        if (next.done === true) {
          if (allowEnd) return;
          throw truncated(this.#position);
        }
        this.#pending = next.value;
        continue;
      }
      const piece = this.#pending.subarray(0, Math.min(left, this.#pending.length));
      this.#pending = this.#pending.subarray(piece.length);
      this.#position += piece.length;
      left -= piece.length;
      yield piece;
    }
  }

  /** close ends the underlying iterator (destroying its stream). */
  async close(): Promise<void> {
    await this.#chunks.return?.();
  }
}

/** FileSource reads an uncompressed tar file by position, so skipping entry data costs nothing. */
export class FileSource implements ByteSource {
  #position = 0;

  constructor(
    private readonly file: FileHandle,
    private readonly length: number,
  ) {}

  get position(): number {
    return this.#position;
  }

  async read(n: number): Promise<Buffer | null> {
    if (this.#position >= this.length && n > 0) return null;
    if (this.#position + n > this.length) throw truncated(this.length);
    const buf = Buffer.allocUnsafe(n); // wholly overwritten, or thrown away below
    const { bytesRead } = await this.file.read(buf, 0, n, this.#position);
    if (bytesRead !== n) throw truncated(this.#position + bytesRead);
    this.#position += n;
    return buf;
  }

  async skip(n: number): Promise<void> {
    if (this.#position + n > this.length) throw truncated(this.length);
    this.#position += n;
  }

  async *take(n: number): AsyncGenerator<Buffer> {
    const end = this.#position + n;
    while (this.#position < end) {
      const chunk = await this.read(Math.min(end - this.#position, 1 << 20));
      if (chunk === null) throw truncated(this.#position);
      yield chunk;
    }
  }
}

/**
 * walkTar yields the archive's entries in archive order. After each entry the walker skips
 * whatever of its data the caller did not `take` from the source. Throws ArchiveError on a
 * bad checksum, a truncated archive, an absurd size or a path that escapes the archive.
 */
export async function* walkTar(source: ByteSource): AsyncGenerator<TarEntry> {
  let longName: string | undefined; // from a pax 'x' path record or a GNU 'L' entry, for the next entry
  for (;;) {
    const block = await readHeaderBlock(source);
    if (block === null || isZeroBlock(block)) return; // end-of-archive marker (or a bare end of input)
    const header = parseHeader(block, source.position - BLOCK);
    const dataEnd = source.position + header.size;
    if (header.type === 'x' || header.type === 'L') {
      if (header.size > MAX_META_BYTES) throw new ArchiveError(`tar extended header at byte ${source.position - BLOCK} is larger than 1 MiB`);
      const meta = (await source.read(header.size)) ?? Buffer.alloc(0);
      await source.skip(padding(header.size));
      longName = header.type === 'L' ? meta.toString('utf8').replace(/\0+$/, '') : (paxPath(meta) ?? longName);
      continue;
    }
    if (header.type === 'g') {
      await source.skip(header.size + padding(header.size)); // global pax header: nothing we use
      continue;
    }
    const name = checkPath(longName ?? header.name);
    longName = undefined;
    const kind = header.type === '0' || header.type === '\0' || header.type === '7' ? 'file' : 'other';
    yield { name, kind, size: header.size, offset: source.position };
    if (source.position > dataEnd) throw new ArchiveError('tar entry read past its end');
    await source.skip(dataEnd - source.position + padding(header.size));
  }
}

type Header = { name: string; type: string; size: number };

// A header block; input that ends inside the very first one was never a tar archive.
async function readHeaderBlock(source: ByteSource): Promise<Buffer | null> {
  const first = source.position === 0;
  try {
    return await source.read(BLOCK);
  } catch (err) {
    if (first && err instanceof TruncatedError) throw new ArchiveError('not a tar archive (shorter than one header)');
    throw err;
  }
}

// ustar header (POSIX.1 pax "ustar Interchange Format"): name[100]@0, size[12]@124, chksum[8]@148,
// typeflag@156, magic[6]@257 ("ustar\0" POSIX or "ustar " GNU), prefix[155]@345.
function parseHeader(block: Buffer, at: number): Header {
  const magic = block.toString('latin1', 257, 263);
  if (magic !== 'ustar\0' && magic !== 'ustar ') throw new ArchiveError(`not a tar archive (no ustar header at byte ${at})`);
  const stored = parseOctal(block.subarray(148, 156));
  if (stored !== checksum(block)) throw new ArchiveError(`tar header checksum mismatch at byte ${at}`);
  const type = String.fromCharCode(block[156]!);
  // Links, devices, directories and FIFOs carry no data whatever their size field says.
  const size = '123456'.includes(type) ? 0 : parseSize(block.subarray(124, 136), at);
  const name = cString(block, 0, 100);
  const prefix = magic === 'ustar\0' ? cString(block, 345, 500) : '';
  return { name: prefix === '' ? name : `${prefix}/${name}`, type, size };
}

// The checksum is the sum of all header bytes with the checksum field itself counted as spaces.
function checksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum;
}

// Sizes are octal text, or GNU base-256 (high bit of the first byte set) for large files.
function parseSize(field: Buffer, at: number): number {
  let size: number;
  if ((field[0]! & 0x80) !== 0) {
    size = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) size = size * 256 + field[i]!;
  } else {
    size = parseOctal(field);
  }
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_ENTRY_BYTES) throw new ArchiveError(`absurd tar entry size at byte ${at}`);
  return size;
}

function parseOctal(field: Buffer): number {
  const text = field.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (!/^[0-7]{1,16}$/.test(text)) return -1;
  return parseInt(text, 8);
}

function cString(block: Buffer, start: number, end: number): string {
  const nul = block.indexOf(0, start);
  return block.toString('utf8', start, nul < 0 || nul > end ? end : nul);
}

// pax extended header records: "<length> <key>=<value>\n"; only `path` is used.
function paxPath(meta: Buffer): string | undefined {
  let path: string | undefined;
  let pos = 0;
  while (pos < meta.length) {
    const space = meta.indexOf(0x20, pos);
    const length = space < 0 ? NaN : Number(meta.toString('latin1', pos, space));
    if (!Number.isSafeInteger(length) || length <= 0 || pos + length > meta.length) throw new ArchiveError('malformed pax extended header');
    const record = meta.toString('utf8', space + 1, pos + length - 1);
    if (record.startsWith('path=')) path = record.slice(5);
    pos += length;
  }
  return path;
}

// Nothing is extracted, but a member path that climbs out of the archive is a hostile archive.
function checkPath(name: string): string {
  if (name === '' || name.includes('\0')) throw new ArchiveError('tar entry with an empty or NUL-containing name');
  if (name.startsWith('/') || name.split('/').includes('..')) {
    throw new ArchiveError(`tar entry ${JSON.stringify(name)} escapes the archive (absolute path or ..)`);
  }
  return name;
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** padding returns the bytes of zero padding after n bytes of entry data. */
export function padding(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

class TruncatedError extends ArchiveError {}

function truncated(at: number): ArchiveError {
  return new TruncatedError(`archive is truncated (input ends at byte ${at} of the tar stream)`);
}
