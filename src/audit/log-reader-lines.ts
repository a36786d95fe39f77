// Splitting segment bytes into '\n'-terminated lines with a hard cap on line length, so a
// hostile segment cannot make a reader buffer more than MAX_LINE_BYTES.

/** LineTooLongError is thrown by LineSplitter when a line exceeds its cap. */
export class LineTooLongError extends Error {
  constructor(readonly limit: number) {
    super(`line longer than ${limit} bytes`);
  }
}

/**
 * LineSplitter cuts a stream of chunks into lines (without their '\n'). Complete lines inside
 * one chunk are ranges or subarrays of it (no copy); a line split across chunks is concatenated once.
 */
export class LineSplitter {
  #parts: Buffer[] = [];
  #partBytes = 0;

  constructor(private readonly maxLine: number) {}

  /** push feeds one chunk and calls onLine for each line it completes; throws LineTooLongError past the cap. */
  push(chunk: Buffer, onLine: (line: Buffer) => void): void {
    this.split(chunk, (buf, start, end) => onLine(start === 0 && end === buf.length ? buf : buf.subarray(start, end)));
  }

  /**
   * split is push for callers that read lines in place: onLine gets each line as the range
   * buf[start, end) of the chunk (or, for a line cut across chunks, of one concatenated buffer),
   * valid only during the call.
   */
  split(chunk: Buffer, onLine: (buf: Buffer, start: number, end: number) => void): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      if (this.#parts.length === 0) {
        if (nl - start > this.maxLine) throw new LineTooLongError(this.maxLine);
        onLine(chunk, start, nl);
      } else {
        this.#parts.push(chunk.subarray(start, nl));
        const line = Buffer.concat(this.#parts, this.#partBytes + nl - start);
        this.#parts = [];
        this.#partBytes = 0;
        if (line.length > this.maxLine) throw new LineTooLongError(this.maxLine);
        onLine(line, 0, line.length);
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.#partBytes += chunk.length - start;
      if (this.#partBytes > this.maxLine) throw new LineTooLongError(this.maxLine);
      this.#parts.push(chunk.subarray(start));
    }
  }

  /**
   * end returns the bytes after the last '\n' (an unterminated, torn final line), or null if there
   * are none. They may end in zero bytes: space a mapped segment reserved (zeroTail measures them).
   */
  end(): Buffer | null {
    if (this.#partBytes === 0) return null;
    const tail = Buffer.concat(this.#parts, this.#partBytes);
    this.#parts = [];
    this.#partBytes = 0;
    return tail;
  }
}

/** zeroTail returns how many bytes at the end of tail are zero: space reserved by a segment still open, or left by a crash. */
export function zeroTail(tail: Uint8Array): number {
  let n = tail.length;
  while (n > 0 && tail[n - 1] === 0) n--;
  return tail.length - n;
}
