// Finding a log's segments and reading them in log order, from a log directory, explicit segment
// files, or a .tar / .tar.gz archive (read in place: nothing is extracted). Segments are yielded
// one at a time; a consumer reads (or abandons) each before asking for the next.
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createGunzip } from 'node:zlib';

import { PgsealError } from '../errors.js';
import { ArchiveError, FileSource, StreamSource, walkTar, type TarEntry } from './archive-tar.js';

/** SegmentSource is one segment to read: its file name, where it came from, and its bytes (readable once). */
export interface SegmentSource {
  /** name is the segment's file name (the basename inside an archive). */
  readonly name: string;
  /** label names the file or archive member, for messages. */
  readonly label: string;
  open(): AsyncIterable<Buffer>;
}

/** LogInput is what a log path turned out to be. */
export type LogInput =
  | { kind: 'directory'; path: string }
  | { kind: 'segments'; paths: string[] }
  | { kind: 'tar' | 'tar.gz'; path: string };

/** SEGMENT_LIKE matches every file that claims to be a segment; verify then checks the exact name form. */
export const SEGMENT_LIKE = /^seg-.*\.jsonl$/;
const CHUNK = 1 << 20;
const MAX_SEGMENTS = 1_000_000; // more archive members than this is not a log we can list

/** classifyLogPaths decides what the paths are (one directory, one archive, or segment files); throws PgsealError('usage'|'io'). */
export async function classifyLogPaths(paths: readonly string[]): Promise<LogInput> {
  if (paths.length === 0) throw new PgsealError('usage', 'no log path given');
  const kinds = await Promise.all(paths.map(async (p) => ({ path: p, kind: await sniff(p) })));
  const single = kinds.filter((k) => k.kind !== 'segment');
  if (single.length === 0) return { kind: 'segments', paths: kinds.map((k) => k.path) };
  if (kinds.length > 1) {
    throw new PgsealError('usage', 'give one log directory, one archive, or any number of segment files (not a mix)');
  }
  const only = single[0]!;
  return only.kind === 'directory' ? { kind: 'directory', path: only.path } : { kind: only.kind as 'tar' | 'tar.gz', path: only.path };
}

/** openLog returns the log's segments in name order, whatever the input kind. */
export async function openLog(paths: readonly string[]): Promise<AsyncIterable<SegmentSource>> {
  const input = await classifyLogPaths(paths);
  switch (input.kind) {
    case 'directory':
      return fileSources(await listDirectory(input.path));
    case 'segments':
      return fileSources([...input.paths].sort((a, b) => compareNames(basename(a), basename(b))));
    case 'tar':
      return tarSources(input.path);
    case 'tar.gz':
      return tarGzSources(input.path);
  }
}

async function sniff(path: string): Promise<'directory' | 'segment' | 'tar' | 'tar.gz'> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new PgsealError('io', `cannot read ${path}: ${err.code ?? err.message}`);
  });
  if (info.isDirectory()) return 'directory';
  if (!info.isFile()) throw new PgsealError('usage', `${path} is not a directory or a regular file`);
  const head = Buffer.alloc(512);
  const file = await open(path, 'r');
  let bytes: number;
  try {
    ({ bytesRead: bytes } = await file.read(head, 0, head.length, 0));
  } finally {
    await file.close();
  }
  if (bytes >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'tar.gz';
  if (bytes === 512 && head.toString('latin1', 257, 262) === 'ustar') return 'tar';
  if (SEGMENT_LIKE.test(basename(path))) return 'segment';
  if (/\.(tar|tar\.gz|tgz)$/.test(path)) throw new ArchiveError(`${path} is not a tar or gzip archive`);
  throw new PgsealError('usage', `${path} is not a log directory, a segment file (seg-*.jsonl) or a .tar/.tar.gz archive`);
}

/** listDirectory returns the paths of the segment-like regular files in dir, sorted by name. */
export async function listDirectory(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => SEGMENT_LIKE.test(e.name) && (e.isFile() || e.isSymbolicLink())).map((e) => e.name);
  return names.sort(compareNames).map((n) => join(dir, n));
}

/** compareNames orders segment names by UTF-16 code units (names are ASCII, so byte order). */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function fileSources(paths: readonly string[]): AsyncIterable<SegmentSource> {
  return (async function* () {
    for (const path of paths) {
      yield { name: basename(path), label: path, open: () => createReadStream(path, { highWaterMark: CHUNK }) };
    }
  })();
}

type Member = TarEntry & { index: number; base: string };

// The segment members of an archive, sorted by base name (archive order breaks ties).
function segmentMembers(entries: TarEntry[]): Member[] {
  const members = entries
    .map((e, index) => ({ ...e, index, base: basename(e.name) }))
    .filter((e) => SEGMENT_LIKE.test(e.base));
  for (const m of members) {
    if (m.kind !== 'file') throw new ArchiveError(`archive member ${m.name} is not a regular file`);
  }
  return members.sort((a, b) => compareNames(a.base, b.base) || a.index - b.index);
}

async function listEntries(walk: AsyncGenerator<TarEntry>): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  for await (const e of walk) {
    entries.push(e);
    if (entries.length > MAX_SEGMENTS) throw new ArchiveError(`archive has more than ${MAX_SEGMENTS} members`);
  }
  return entries;
}

// Plain tar: list headers by position, then read each segment member's bytes in place.
function tarSources(path: string): AsyncIterable<SegmentSource> {
  return (async function* () {
    const file = await open(path, 'r');
    try {
      const { size } = await file.stat();
      const members = segmentMembers(await listEntries(walkTar(new FileSource(file, size))));
      for (const m of members) {
        yield { name: m.base, label: `${path}:${m.name}`, open: () => memberChunks(file, m.offset, m.size) };
      }
    } finally {
      await file.close();
    }
  })();
}

async function* memberChunks(file: FileHandle, offset: number, size: number): AsyncGenerator<Buffer> {
  const source = new FileSource(file, offset + size);
  await source.skip(offset);
  yield* source.take(size);
}

function gunzipChunks(path: string): StreamSource {
  const gunzip = createReadStream(path, { highWaterMark: CHUNK }).pipe(createGunzip({ chunkSize: CHUNK }));
  return new StreamSource(gzipErrors(gunzip, path));
}

async function* gzipErrors(stream: AsyncIterable<Buffer>, path: string): AsyncGenerator<Buffer> {
  try {
    yield* stream;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code?.startsWith('Z_') === true || e.code === 'ERR_ZLIB_INITIALIZATION_FAILED') {
      throw new ArchiveError(`${path}: not a valid gzip stream (${e.message})`);
    }
    throw err;
  }
}

/**
 * tar.gz: a first pass lists the members, a second streams them. A member that arrives before
 * its turn (archives are often in directory order, not name order) is spilled to a private
 * temporary file and read back when its turn comes, so memory stays bounded.
 */
function tarGzSources(path: string): AsyncIterable<SegmentSource> {
  return (async function* () {
    const listing = gunzipChunks(path);
    let members: Member[];
    try {
      members = segmentMembers(await listEntries(walkTar(listing)));
    } finally {
      await listing.close();
    }
    const order = new Map(members.map((m, rank) => [m.index, rank]));
    const spill = new Spill();
    const source = gunzipChunks(path);
    try {
      let next = 0; // rank of the next member to yield
      let index = -1;
      for await (const entry of walkTar(source)) {
        index += 1;
        const rank = order.get(index);
        if (rank === undefined) continue;
        const m = members[rank]!;
        if (entry.name !== m.name || entry.size !== m.size) throw new ArchiveError(`${path} changed while it was read`);
        const label = `${path}:${m.name}`;
        if (rank === next) {
          yield { name: m.base, label, open: () => source.take(m.size) };
          next += 1;
          for (;;) {
            const ahead = members[next];
            const spilled = spill.get(ahead?.index);
            if (ahead === undefined || spilled === undefined) break;
            yield { name: ahead.base, label: `${path}:${ahead.name}`, open: () => spill.read(spilled) };
            next += 1;
          }
        } else {
          await spill.write(m.index, source.take(m.size));
        }
      }
      if (next !== members.length) throw new ArchiveError(`${path} changed while it was read`);
    } finally {
      await source.close();
      await spill.close();
    }
  })();
}

/** Spill holds archive members that arrived early, in one temporary file (mode 0600) removed on close. */
class Spill {
  #dir: string | undefined;
  #file: FileHandle | undefined;
  #length = 0;
  readonly #members = new Map<number, { offset: number; size: number }>();

  /** get returns where member index was spilled, if it was. */
  get(index: number | undefined): { offset: number; size: number } | undefined {
    return index === undefined ? undefined : this.#members.get(index);
  }

  async write(index: number, chunks: AsyncIterable<Buffer>): Promise<void> {
    if (this.#file === undefined) {
      this.#dir = await mkdtemp(join(tmpdir(), 'pgseal-spill-'));
      this.#file = await open(join(this.#dir, 'spill'), 'w+', 0o600);
    }
    const offset = this.#length;
    for await (const chunk of chunks) {
      await this.#file.write(chunk, 0, chunk.length, this.#length);
      this.#length += chunk.length;
    }
    this.#members.set(index, { offset, size: this.#length - offset });
  }

  read(at: { offset: number; size: number }): AsyncIterable<Buffer> {
    return memberChunks(this.#file!, at.offset, at.size);
  }

  async close(): Promise<void> {
    await this.#file?.close();
    if (this.#dir !== undefined) await rm(this.#dir, { recursive: true, force: true });
  }
}
