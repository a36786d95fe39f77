/** MessageWriter builds one message; the 5-byte header (code, length) is filled last. */
export class MessageWriter {
  private buf: Buffer;
  private offset: number;

  /** constructor takes the message code letter, or null for untyped startup-phase packets. */
  constructor(
    private readonly code: string | null,
    initial = 256,
  ) {
    this.buf = Buffer.allocUnsafe(initial);
    this.offset = code === null ? 4 : 5;
  }

  private ensure(n: number): void {
    if (this.offset + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.offset + n));
    this.buf.copy(next, 0, 0, this.offset);
    this.buf = next;
  }

  /** byte appends one byte. */
  byte(v: number): this {
    this.ensure(1);
    this.buf[this.offset++] = v;
    return this;
  }

  /** int16 appends a big-endian 16-bit integer. */
  int16(v: number): this {
    this.ensure(2);
    this.offset = this.buf.writeInt16BE(v, this.offset);
    return this;
  }

  /** int32 appends a big-endian 32-bit integer. */
  int32(v: number): this {
    this.ensure(4);
    this.offset = this.buf.writeInt32BE(v, this.offset);
    return this;
  }

  /** bytes appends raw bytes. */
  bytes(v: Uint8Array): this {
    this.ensure(v.length);
    this.buf.set(v, this.offset);
    this.offset += v.length;
    return this;
  }

  /** cstring appends a UTF-8 string and its NUL terminator. */
  cstring(v: string): this {
    const len = Buffer.byteLength(v);
    this.ensure(len + 1);
    this.buf.write(v, this.offset, 'utf8');
    this.offset += len;
    this.buf[this.offset++] = 0;
    return this;
  }

  /** finish writes the header and returns the message bytes. */
  finish(): Buffer {
    if (this.code === null) {
      this.buf.writeInt32BE(this.offset, 0);
    } else {
      this.buf[0] = this.code.charCodeAt(0);
      this.buf.writeInt32BE(this.offset - 1, 1);
    }
    return this.buf.subarray(0, this.offset);
  }
}
