// SealedLog: the append-only, Merkle-sealed, checkpointed audit log of docs/audit-log-format.md.
// Records are encoded at append, written in one write per flush, and hashed into the tree only
// once written, so a failed write leaves the tree as it was. Where segments are mapped
// (mapped-segment.ts) the appender's thread hashes them, and the store's frontier is brought up
// to date from it whenever the tree is read (#tree); with durability os there the two records
// of almost every query skip the buffer and are written as they are appended (#direct).
import { closeSync, mkdirSync } from 'node:fs';

import { PgsealError } from '../errors.js';
import { Checkpointer, writeLatestCheckpoint } from './checkpointer.js';
import type { AuditEvent, AuditParam, AuditSink } from './events.js';
import { recoverLog, type LogRepair } from './log-recovery.js';
import type { MerkleFrontier } from './merkle.js';
import type { SignerKey } from './note.js';
import { resolveSettings, type SealedLogOptions, type StoreSettings } from './store-options.js';
import { LineBuffer } from './line-buffer.js';
import { encodeRecord, MAX_LINE_BYTES, type LogRecord } from './record.js';
import { appendExtendedQueryLine, appendOkResultLine, appendQueryLine, appendRecordBytes, directPrefix, extendedPrefix, nativeParamsJson } from './record-bytes.js';
import { recordLineAtLeast } from './record-size.js';
import { SegmentFile, auditError, fsyncDir, lockLogDirectory, segmentName } from './segment.js';
import { GroupCommit, type CommitCallback } from './store-commit.js';
import { atTurnEnd } from './turn-end.js';

export type { SealedLogOptions } from './store-options.js';

let segmentOf: (log: SealedLog) => SegmentFile;
let abandon: (log: SealedLog) => void;

/** SealedLog is the audit store: JSON-lines segments, one RFC 9162 tree over all records, signed checkpoints. */
export class SealedLog implements AuditSink {
  readonly #o: StoreSettings;
  readonly #checkpointer: Checkpointer;
  readonly #frontier: MerkleFrontier;
  #segment!: SegmentFile;
  #segmentNumber: number;
  readonly #pending = new LineBuffer();
  #nextSeq: number;
  #writtenSize: number; // records written: the tree size once hashed
  #lastMicros = 0; // the newest record's time: the clock as of the last append, without reading it again
  #lastCheckpoint: number; // seq of the last checkpoint record
  #unpublished: { note: string; size: number } | null = null;
  #publishedAtMicros = Number.NEGATIVE_INFINITY; // when checkpoint.latest was last replaced
  #healthy = true;
  #closed = false;
  readonly #osDurable: boolean;
  #scheduled = false;
  #lazy: NodeJS.Timeout | null = null; // one timer, re-armed with refresh()
  #lazyArmed = false;
  #writes = 0; // batches written, so the lazy timer can tell whether a commit wrote in its stead
  #writesWhenArmed = 0;
  readonly #commits = new GroupCommit(
    (done) => this.#segment.syncAsync(done),
    (err, more) => {
      if (err !== null) this.#healthy = false;
      if (more) this.#schedule();
    },
  );
  readonly #timer: NodeJS.Timeout;
  #dirLock: number | null; // holds the directory's lock until close

  static {
    segmentOf = (log) => log.#unmapSegment();
    abandon = (log) => log.#abandon();
  }

  private constructor(o: StoreSettings, signer: SignerKey) {
    this.#o = o;
    this.#osDurable = o.durability === 'os';
    this.#checkpointer = new Checkpointer(o.origin, signer);
    try {
      mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw auditError(`create ${o.dir}`, err);
    }
    this.#dirLock = lockLogDirectory(o.dir);
    try {
      const recovered = recoverLog(o.dir, o.origin);
      this.#frontier = recovered.frontier;
      this.#nextSeq = recovered.frontier.size;
      this.#writtenSize = this.#nextSeq;
      this.#segmentNumber = recovered.segment - 1;
      this.#lastCheckpoint = recovered.lastCheckpoint;
      this.#startRun(recovered.repairs);
    } catch (err) {
      this.#unlock();
      throw err;
    }
    this.#timer = setInterval(() => this.#onTimer(), o.checkpointMs).unref();
  }

  /** open recovers the log in o.dir (throws audit_error on corruption) and starts a new segment for this run. */
  static open(o: SealedLogOptions): SealedLog {
    return new SealedLog(resolveSettings(o), o.signer);
  }

  /** healthy is false after a failed write, until a write succeeds. */
  get healthy(): boolean {
    return this.#healthy;
  }

  /** size is the number of records written: the tree size. */
  get size(): number {
    return this.#writtenSize;
  }

  /** mapped says whether the open segment is appended through a mapping (mapped-segment.ts) rather than write(2). */
  get mapped(): boolean {
    return this.#segment.mapped;
  }

  /** root returns the root hash of the records written so far. */
  root(): Buffer {
    return this.#tree().root();
  }

  // The frontier over every record written; a mapped segment's thread may not have hashed the
  // latest ones yet, so it is asked (and hashes the rest on the spot).
  #tree(): MerkleFrontier {
    if (!this.#segment.mapped) return this.#frontier;
    const tree = this.#segment.tree();
    // The appender counts the lines it hashed, the store the records it wrote: they must agree
    // before anything is signed.
    if (tree.size !== this.#writtenSize) {
      this.#healthy = false;
      throw new PgsealError('audit_error', `audit log tree holds ${tree.size} records where ${this.#writtenSize} were written`);
    }
    this.#frontier.load(tree);
    return this.#frontier;
  }

  // The open segment, writing with write(2) from now on, its tree taken over by the store.
  #unmapSegment(): SegmentFile {
    this.#tree();
    this.#segment.unmap();
    return this.#segment;
  }

  /**
   * append assigns the event its seq and ts and buffers its line. It is written with the next
   * commit (a query is never forwarded before that), or within 2 × LAZY_WRITE_MS when no commit
   * comes: a turn that only finishes queries costs no write of its own.
   */
  append(event: AuditEvent, atMicros?: number): void {
    this.#push(event, atMicros);
    if (!this.#scheduled && !this.#lazyArmed) this.#armLazy();
  }

  /** appendQuery appends a simple-protocol query record: the same line as append would write, without the event object (written at once where #direct allows). */
  appendQuery(session: string, query: number, sql: string, atMicros: number): void {
    if (this.#direct) {
      const prefix = directPrefix(0, session, sql);
      if (prefix !== null && this.#appendDirect(atMicros, prefix, query, 0, sql)) return;
    }
    if (this.#closed || !appendQueryLine(this.#pending, this.#nextSeq, atMicros, session, query, sql)) {
      return this.append({ type: 'query', session, query, protocol: 'simple', sql }, atMicros);
    }
    this.#appended(atMicros);
  }

  /** appendExtendedQuery appends an extended-protocol query record (statement, portal, params): the same line as append would write (written at once where #direct allows). */
  appendExtendedQuery(session: string, query: number, sql: string, statement: string, portal: string, params: readonly AuditParam[], atMicros: number): void {
    const json = nativeParamsJson(params);
    if (json === null) return this.append(extendedQueryEvent(session, query, sql, statement, portal, params), atMicros);
    if (this.#direct) {
      const prefix = extendedPrefix(session, sql, statement, portal, json);
      if (prefix !== null && this.#appendDirect(atMicros, prefix, query, 2, sql, statement, portal, json)) return;
    }
    if (this.#closed || !appendExtendedQueryLine(this.#pending, this.#nextSeq, atMicros, session, query, sql, statement, portal, json)) {
      return this.append(extendedQueryEvent(session, query, sql, statement, portal, params), atMicros);
    }
    this.#appended(atMicros);
  }

  /** appendOkResult appends a result record with status ok and one tag: the same line as append would write (written at once where #direct allows). */
  appendOkResult(session: string, query: number, tag: string, rows: number, durationUs: number, atMicros: number): void {
    if (this.#direct) {
      const prefix = directPrefix(1, session, tag);
      if (prefix !== null && this.#appendDirect(atMicros, prefix, query, 1, tag, rows, durationUs)) return;
    }
    if (this.#closed || !appendOkResultLine(this.#pending, this.#nextSeq, atMicros, session, query, tag, rows, durationUs)) {
      return this.append({ type: 'result', session, query, status: 'ok', tags: [tag], rows, duration_us: durationUs }, atMicros);
    }
    this.#appended(atMicros);
  }

  // With durability os on a mapped segment a record is where a commit would put it the moment it
  // is copied there, so the two common records go straight in (one native call, no batch), as
  // long as nothing is buffered before them and the log is healthy. The store's batch path stays
  // for every other record and for every failure: a record the addon cannot encode or append is
  // buffered as before, and a failed reservation reaches the commit that waits for it; while the
  // log is unhealthy every record takes the batch path, whose commit reports the failure.
  get #direct(): boolean {
    return this.#osDurable && this.#healthy && this.#pending.count === 0 && !this.#closed && this.#segment.mapped;
  }

  // Appends a record straight to the segment (SegmentFile.appendRecord's arguments after the
  // query's seq); false, with nothing appended, when it takes the buffered path instead.
  #appendDirect(atMicros: number, prefix: Buffer, query: number, kind: 0 | 1 | 2, text: string, a?: number | string, b?: number | string, c?: string): boolean {
    if (this.#segment.appendRecord(this.#nextSeq, atMicros, prefix, query, kind, text, a, b, c) <= 0) return false;
    this.#wroteDirect(atMicros);
    return true;
  }

  // A record appended straight to the segment: what #appended and a commit's write account for.
  // It seals by count and rotates by size or age as a commit's #drain would.
  #wroteDirect(atMicros: number): void {
    this.#lastMicros = atMicros;
    this.#nextSeq += 1;
    this.#writtenSize += 1;
    const seg = this.#segment;
    if (this.#recordsSinceCheckpoint() < this.#o.checkpointEvery && seg.bytes < this.#o.segmentMaxBytes && atMicros - seg.startedMicros < this.#o.segmentMaxMs * 1000) return;
    try {
      this.#drain();
    } catch (err) {
      // A checkpoint or rotation that failed (its record may be left buffered): from here the
      // batch path runs, and the next commit drains again and fails closed while this persists.
      this.#healthy = false;
      if (!(err instanceof PgsealError)) throw err;
    }
  }

  // A line the fast paths appended: what #push and append do after encoding.
  #appended(atMicros: number): void {
    this.#lastMicros = atMicros;
    this.#nextSeq += 1;
    if (!this.#scheduled && !this.#lazyArmed) this.#armLazy();
  }

  #armLazy(): void {
    this.#lazyArmed = true;
    this.#writesWhenArmed = this.#writes;
    if (this.#lazy === null) this.#lazy = setTimeout(this.#onLazy, LAZY_WRITE_MS).unref();
    else this.#lazy.refresh();
  }

  // Under load a commit writes every buffered record long before the timer fires; then the
  // records still buffered are younger than the timer, which only re-arms: no write of its own.
  readonly #onLazy = (): void => {
    this.#lazyArmed = false;
    if (this.#closed || this.#pending.count === 0) return;
    if (this.#writes !== this.#writesWhenArmed) this.#armLazy();
    else this.#schedule();
  };

  /** flush writes every buffered line in one write (and fdatasyncs with durability fsync); throws audit_error on failure. */
  flush(): void {
    if (this.#closed) {
      if (this.#pending.count > 0) throw closedError();
      return;
    }
    this.#drain();
    if (this.#o.durability === 'fsync') this.#syncNow();
  }

  /**
   * commit calls cb once the records appended so far are written (os) or on disk (fsync). On a
   * mapped segment (os) that is at once; otherwise the write happens once at the end of this
   * event-loop turn, so the queries of every session that arrived in the turn share one write
   * (and, with fsync, one fdatasync).
   */
  commit(cb: CommitCallback): void {
    if (this.#closed) {
      let error: Error | null = null;
      try {
        this.flush();
      } catch (err) {
        error = err as Error;
      }
      cb(error);
      return;
    }
    // Nothing buffered (the records went straight into the mapped segment): written already. The
    // timer publishes checkpoints and rotates by age meanwhile; appends seal and rotate by count and size.
    if (this.#osDurable && this.#healthy && this.#pending.count === 0 && this.#commits.waiting === 0) return cb(null);
    // A mapped segment takes a batch for the price of a copy, so the records go now and the
    // query is not held to the end of the turn; write(2) costs a system call, shared by the turn.
    if (this.#osDurable && this.#segment.mapped && this.#commits.waiting === 0) {
      let error: Error | null = null;
      try {
        this.#drain();
      } catch (err) {
        error = err as Error;
      }
      cb(error);
      return;
    }
    this.#commits.add(cb);
    this.#schedule();
  }

  /** checkpoint writes a checkpoint record now, after every buffered record, and returns its signed note. */
  checkpoint(): string {
    if (this.#closed) throw closedError();
    return this.#checkpointNow(true);
  }

  /** rotateKey appends key.rotate for next and checkpoints at once: signed by both keys, after which the old key is erased. */
  rotateKey(next: SignerKey): void {
    if (this.#closed) throw closedError();
    this.#push(this.#checkpointer.beginRotation(next));
    this.#checkpointNow(true);
  }

  /** close writes a final checkpoint as the last record, flushes, fsyncs file and directory and closes. Idempotent. */
  close(): void {
    if (this.#closed) return;
    clearInterval(this.#timer);
    if (this.#lazy !== null) clearTimeout(this.#lazy);
    let error: Error | null = null;
    try {
      if (this.#recordsSinceCheckpoint() > 0) this.#checkpointNow(true);
      this.#writeBatch(); // a checkpoint whose write had failed is still buffered
      this.#publish(true);
      this.#tree(); // so root() after close covers every record
      try {
        this.#segment.unmap(); // cut the reserved space before the fsync makes the length durable
      } finally {
        this.#segment.fsyncSync(); // the records, even if the cut failed
        fsyncDir(this.#o.dir);
      }
    } catch (err) {
      error = auditError('close', err);
    } finally {
      this.#closed = true;
      this.#segment.close();
      this.#unlock();
      this.#commits.answer(error);
    }
    if (error !== null) throw error;
  }

  // As if the process died here: no final checkpoint, nothing more written, the lock released.
  #abandon(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    if (this.#lazy !== null) clearTimeout(this.#lazy);
    this.#segment.close();
    this.#unlock();
  }

  #unlock(): void {
    const fd = this.#dirLock;
    this.#dirLock = null;
    if (fd === null) return;
    try {
      closeSync(fd);
    } catch {
      // the lock goes with the descriptor either way
    }
  }

  // Opening a run: a new segment whose first record is segment.start "start", then one log.repair per repair.
  #startRun(repairs: LogRepair[]): void {
    try {
      this.#startSegment('start');
      for (const r of repairs) this.#push({ type: 'log.repair', ...r });
      this.#writeBatch();
      if (this.#o.durability === 'fsync') this.#syncNow();
    } catch (err) {
      this.#segment?.close();
      throw auditError('open', err);
    }
  }

  #push(record: LogRecord, atMicros = this.#o.clock.nowMicros()): void {
    if (this.#closed) throw closedError();
    this.#lastMicros = atMicros;
    const seq = this.#nextSeq;
    // The log could not be reopened with a line over MAX_LINE_BYTES (log-recovery.ts), so such a
    // record is refused: for a query that means the query is not forwarded (fail closed). A line
    // that is too long by its text alone is refused before it is built.
    const atLeast = recordLineAtLeast(record);
    if (atLeast > MAX_LINE_BYTES) throw tooLarge(record, `at least ${atLeast}`);
    if (!appendRecordBytes(this.#pending, seq, atMicros, record)) this.#pending.push(encodeRecord(seq, atMicros, record));
    if (this.#pending.lastLineBytes > MAX_LINE_BYTES) {
      const bytes = this.#pending.lastLineBytes;
      this.#pending.dropLast();
      throw tooLarge(record, String(bytes));
    }
    this.#nextSeq = seq + 1;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    atTurnEnd(this.#onTurnEnd);
  }

  readonly #onTurnEnd = (): void => this.#tick();

  // End of an event-loop turn: hand the turn's records to the kernel; with fsync, start a group commit.
  #tick(): void {
    this.#scheduled = false;
    if (this.#closed) return;
    try {
      this.#drain();
    } catch (err) {
      this.#commits.answer(err as Error); // otherwise reported through `healthy` and the next flush
      return;
    }
    if (this.#o.durability === 'fsync') this.#commits.start();
    else this.#commits.answer(null);
  }

  // Write what is buffered, then seal by count and rotate by size or age.
  #drain(): void {
    this.#writeBatch();
    this.#publish(false);
    if (this.#recordsSinceCheckpoint() >= this.#o.checkpointEvery) this.#checkpointNow(false);
    this.#rotateIfDue();
  }

  // One write for the whole buffer; only then are the lines hashed into the tree.
  #writeBatch(): void {
    const lines = this.#pending;
    if (lines.count === 0) return;
    try {
      this.#segment.write(lines.bytes());
    } catch (err) {
      this.#healthy = false;
      throw auditError('write', err);
    }
    this.#healthy = true;
    this.#writes++;
    this.#writtenSize += lines.count;
    if (!this.#segment.mapped) this.#frontier.appendLines(lines.bytes(), lines.ends, lines.count);
    lines.clear();
  }

  #syncNow(): void {
    try {
      this.#segment.syncSync();
    } catch (err) {
      this.#healthy = false;
      throw err;
    }
  }

  // The checkpoint record's tree_size is its own seq: it covers every record before it.
  #checkpointNow(publishNow: boolean): string {
    this.#writeBatch();
    const tree = this.#tree();
    const size = tree.size;
    const root = tree.root();
    const note = this.#checkpointer.sign(size, root);
    this.#push({ type: 'checkpoint', tree_size: size, root: root.toString('base64'), note });
    this.#lastCheckpoint = size;
    this.#unpublished = { note, size };
    this.#writeBatch();
    this.#publish(publishNow);
    return note;
  }

  // Once its record is written (and, with fsync, on disk), a checkpoint replaces checkpoint.latest
  // and goes to onCheckpoint. Under load checkpoints come every checkpointEvery records, many a
  // second; replacing the file costs a rename (on ext4 also a flush of the new file), so the
  // file and onCheckpoint follow at most once per checkpointMs unless `now` (timer, explicit
  // checkpoint, key rotation, close). Every checkpoint is still a record in the log.
  #publish(now: boolean): void {
    const p = this.#unpublished;
    if (p === null || this.#writtenSize <= p.size) return;
    const at = now ? this.#o.clock.nowMicros() : this.#lastMicros;
    if (!now && at - this.#publishedAtMicros < this.#o.checkpointMs * 1000) return;
    this.#publishedAtMicros = at;
    this.#unpublished = null;
    const durable = this.#o.durability === 'fsync';
    if (durable) this.#syncNow();
    writeLatestCheckpoint(this.#o.dir, p.note, durable);
    this.#o.onCheckpoint?.(p.note, p.size);
  }

  #recordsSinceCheckpoint(): number {
    return this.#nextSeq - this.#lastCheckpoint - 1;
  }

  // nowMicros: the last record's time after a write (#drain), the clock's on the timer.
  #rotateIfDue(nowMicros = this.#lastMicros): void {
    const seg = this.#segment;
    const ageMs = (nowMicros - seg.startedMicros) / 1000;
    if (this.#pending.count > 0 || (seg.bytes < this.#o.segmentMaxBytes && ageMs < this.#o.segmentMaxMs)) return;
    try {
      this.#startSegment('rotate');
    } catch (err) {
      this.#healthy = false; // records keep going to the old segment; the next flush tries again
      throw err;
    }
    this.#writeBatch();
  }

  // A new segment starts at a record boundary with everything before it written, so its frontier is exact.
  #startSegment(reason: 'start' | 'rotate'): void {
    const old = this.#segment as SegmentFile | undefined;
    const durable = this.#o.durability === 'fsync';
    const tree = old === undefined ? this.#frontier : this.#tree();
    if (old !== undefined) {
      old.unmap(); // cut the reserved space before the fsync makes the length durable
      old.settle(); // a cut that failed before is retried: no segment is left with zeros after its records
      if (durable) this.#syncNow();
    }
    const seq = this.#nextSeq;
    // Mapped only with durability os: with fsync the fdatasync per commit dominates, and write(2) stays the path.
    const mapTree = this.#o.durability === 'os' ? tree.state() : null;
    this.#segment = SegmentFile.create(this.#o.dir, segmentName(seq), this.#o.clock.nowMicros(), mapTree);
    this.#segmentNumber += 1;
    const frontier = tree.toJSON().hashes;
    this.#push({ type: 'segment.start', segment: this.#segmentNumber, origin: this.#o.origin, tree_size: seq, frontier, reason });
    old?.close();
    if (durable) fsyncDir(this.#o.dir);
  }

  #onTimer(): void {
    if (this.#closed) return;
    try {
      if (this.#recordsSinceCheckpoint() > 0) this.#checkpointNow(true);
      else this.#publish(true); // a checkpoint held back by #publish's rate limit
      this.#rotateIfDue(this.#o.clock.nowMicros());
    } catch {
      // a failed write is reported through `healthy` and the next flush
    }
  }
}

function extendedQueryEvent(session: string, query: number, sql: string, statement: string, portal: string, params: readonly AuditParam[]): AuditEvent {
  return { type: 'query', session, query, protocol: 'extended', sql, statement, portal, params: [...params] };
}

/** crashForTest leaves log as a killed process would (no final checkpoint), releasing its directory so a test can open it again. */
export function crashForTest(log: SealedLog): void {
  abandon(log);
}

/** segmentFileForTest exposes the open segment, writing with write(2), so tests can substitute a failing descriptor. */
export function segmentFileForTest(log: SealedLog): SegmentFile {
  return segmentOf(log);
}

/** Records no commit waits for (results, session ends) stay in memory at most 2 × LAZY_WRITE_MS. */
const LAZY_WRITE_MS = 1;

function tooLarge(record: LogRecord, bytes: string): PgsealError {
  const what = record.type === 'query' ? 'query record' : `${record.type} record`;
  const outcome = record.type === 'query' ? ', so the query was not forwarded' : '';
  return new PgsealError('audit_record_too_large', `audit record too large: a ${what} of ${bytes} bytes exceeds the audit log's ${MAX_LINE_BYTES >> 20} MiB line limit${outcome}`);
}

function closedError(): PgsealError {
  return new PgsealError('audit_error', 'audit log is closed');
}
