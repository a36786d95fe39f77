import { ProtocolError } from './errors.js';

/** MessageReader is a bounds-checked cursor over one message body; overruns throw ProtocolError. */
export class MessageReader {
  private offset = 0;

  constructor(private readonly buf: Buffer) {}

  /** remaining is the number of unread bytes. */
  get remaining(): number {
    return this.buf.length - this.offset;
  }

  private need(n: number): void {
    if (n < 0 || this.offset + n > this.buf.length) {
      throw new ProtocolError('protocol_violation', 'message is shorter than its contents say');
    }
  }

  /** byte reads one unsigned byte. */
  byte(): number {
    this.need(1);
    return this.buf[this.offset++]!;
  }

  /** int16 reads a signed big-endian 16-bit integer. */
  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  /** int32 reads a signed big-endian 32-bit integer. */
  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  /** bytes returns the next n bytes as a view (no copy). */
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  /** cstring reads a NUL-terminated UTF-8 string. */
  cstring(): string {
    const end = this.buf.indexOf(0, this.offset);
    if (end < 0) throw new ProtocolError('protocol_violation', 'string is not NUL-terminated');
    const v = this.buf.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return v;
  }

  /** rest returns every unread byte as a view. */
  rest(): Buffer {
    return this.bytes(this.remaining);
  }

  /** end asserts that the body was consumed exactly. */
  end(): void {
    if (this.remaining !== 0) throw new ProtocolError('protocol_violation', 'message has trailing bytes');
  }
}
