import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PgsealError } from '../errors.js';
import { formatTimestamp, systemClock, type Clock } from './clock.js';
import type { AuditEvent, AuditSink } from './events.js';

/**
 * JsonlSink writes each event as one JSON line (seq, ts, type, then the event's fields in
 * a fixed order). Lines are buffered and handed to the kernel in one write per flush.
 */
export class JsonlSink implements AuditSink {
  private fd: number;
  private seq = 0;
  private lines: string[] = [];
  private scheduled = false;
  private failed = false;

  constructor(
    dir: string,
    private readonly clock: Clock = systemClock,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const name = `events-${formatTimestamp(clock.nowMicros()).replace(/[:.]/g, '')}.jsonl`;
    this.fd = openSync(join(dir, name), 'a', 0o600);
  }

  /** healthy is false after a write failed, until a later flush succeeds. */
  get healthy(): boolean {
    return !this.failed;
  }

  /** append buffers one record and schedules a flush at the end of this event-loop turn. */
  append(event: AuditEvent): void {
    // Events start with `type`, so splicing seq and ts in front keeps the fixed key order without copying the object.
    this.lines.push(`{"seq":${this.seq++},"ts":"${formatTimestamp(this.clock.nowMicros())}",${JSON.stringify(event).slice(1)}`);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        try {
          this.flush();
        } catch {
          // failure is reported through `healthy` and the next synchronous flush
        }
      });
    }
  }

  /** flush writes every buffered line; throws PgsealError('audit_error') if the kernel refuses. */
  flush(): void {
    if (this.lines.length === 0) return;
    const data = Buffer.from(this.lines.join('\n') + '\n');
    try {
      let off = 0;
      while (off < data.length) off += writeSync(this.fd, data, off);
      this.lines = [];
      this.failed = false;
    } catch (err) {
      this.failed = true;
      throw new PgsealError('audit_error', `audit log write failed: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
    }
  }

  /** commit flushes and calls back synchronously. */
  commit(done: (err: Error | null) => void): void {
    try {
      this.flush();
    } catch (err) {
      return done(err as Error);
    }
    done(null);
  }

  /** close flushes and closes the file. */
  close(): void {
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
    }
  }
}
