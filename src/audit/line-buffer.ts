// The store's pending records, encoded to UTF-8 as they are appended into one reused buffer, with
// the end of each line kept: the batch is written as it lies, and each record's bytes are known
// for its leaf hash without searching for newlines or joining strings.

const INITIAL_BYTES = 64 * 1024;

// After a batch this large (a huge SQL text, a backlog while failing closed) the buffer is
// released rather than kept for the life of the process.
const KEEP_BYTES = 4 * 1024 * 1024;

/** LineBuffer accumulates newline-terminated UTF-8 lines. */
export class LineBuffer {
  #buf = Buffer.allocUnsafe(INITIAL_BYTES);
  #length = 0;
  #ends = new Uint32Array(1024); // offset of each line's '\n'
  #count = 0;

  /** count is the number of lines held. */
  get count(): number {
    return this.#count;
  }

  /** ends holds the offset of each line's newline in bytes(), for the first count entries; valid until the next push or clear. */
  get ends(): Uint32Array {
    return this.#ends;
  }

  /** push appends line (which must not contain '\n') and a newline. */
  push(line: string): void {
    // A UTF-16 code unit takes at most 3 UTF-8 bytes; exact lengths only for long lines.
    const room = line.length <= 16 * 1024 ? line.length * 3 + 1 : Buffer.byteLength(line) + 1;
    if (this.#length + room > this.#buf.length) this.#grow(this.#length + room);
    this.close(this.#length + this.#buf.write(line, this.#length, 'utf8'));
  }

  /**
   * open makes room for a line of at most maxBytes bytes and returns the buffer to write it into,
   * starting at `length`; close(end) then ends the line at offset end. For writers that encode
   * straight into bytes (record-bytes.ts); the buffer is valid until the next open or push.
   */
  open(maxBytes: number): Buffer {
    if (this.#length + maxBytes + 1 > this.#buf.length) this.#grow(this.#length + maxBytes + 1);
    return this.#buf;
  }

  /** length is where the next line starts in the buffer open returned. */
  get length(): number {
    return this.#length;
  }

  /** close ends the line written since open at offset end (exclusive) with a newline. */
  close(end: number): void {
    this.#buf[end] = 0x0a;
    if (this.#count === this.#ends.length) {
      const more = new Uint32Array(this.#ends.length * 2);
      more.set(this.#ends);
      this.#ends = more;
    }
    this.#ends[this.#count++] = end;
    this.#length = end + 1;
  }

  /** lastLineBytes is the length of the newest line without its newline (0 when none is held). */
  get lastLineBytes(): number {
    if (this.#count === 0) return 0;
    return this.#ends[this.#count - 1]! - (this.#count === 1 ? 0 : this.#ends[this.#count - 2]! + 1);
  }

  /** dropLast removes the newest line. */
  dropLast(): void {
    if (this.#count === 0) return;
    this.#count--;
    this.#length = this.#count === 0 ? 0 : this.#ends[this.#count - 1]! + 1;
  }

  /** bytes is a view of every line held, newlines included; valid until the next push or clear. */
  bytes(): Buffer {
    return this.#buf.subarray(0, this.#length);
  }

  /** clear drops every line. */
  clear(): void {
    if (this.#buf.length > KEEP_BYTES) this.#buf = Buffer.allocUnsafe(INITIAL_BYTES);
    if (this.#ends.length > 64 * 1024) this.#ends = new Uint32Array(1024);
    this.#length = 0;
    this.#count = 0;
  }

  #grow(needed: number): void {
    let size = this.#buf.length * 2;
    while (size < needed) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.#buf.copy(next, 0, 0, this.#length);
    this.#buf = next;
  }
}
