import { ProtocolError } from './errors.js';

/** MessageHandler receives each framed message: its code byte, its body when collected, its body length. */
export type MessageHandler = (code: number, body: Buffer | null, bodyLength: number) => void;

/** collectTable builds the 256-entry table of message codes whose bodies a framer hands out. */
export function collectTable(codes: string): Uint8Array {
  const table = new Uint8Array(256);
  for (const c of codes) table[c.charCodeAt(0)] = 1;
  return table;
}

/**
 * MessageFramer walks the typed messages (code, int32 length, body) of one direction.
 * It never copies a message that lies within one chunk, skips the bodies of messages
 * nobody reads, and copies a spanning body once into a buffer of its exact size.
 */
export class MessageFramer {
  private readonly header = Buffer.alloc(5);
  private headerFill = 0;
  private code = 0;
  private bodyLength = 0;
  private bodyRemaining = 0;
  private body: Buffer | null = null;

  constructor(
    private readonly collect: Uint8Array,
    private readonly maxBodyBytes: number,
    private readonly onMessage: MessageHandler,
  ) {}

  /** midMessage tells whether a message is only partly received. */
  get midMessage(): boolean {
    return this.headerFill > 0 || this.bodyRemaining > 0;
  }

  /** push frames one chunk; throws ProtocolError on a bad length. */
  push(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      if (this.bodyRemaining > 0) {
        pos = this.continueBody(chunk, pos);
        continue;
      }
      if (this.headerFill === 0 && len - pos >= 5) {
        this.startMessage(chunk[pos]!, chunk.readInt32BE(pos + 1));
        pos += 5;
      } else {
        const take = Math.min(5 - this.headerFill, len - pos);
        chunk.copy(this.header, this.headerFill, pos, pos + take);
        this.headerFill += take;
        pos += take;
        if (this.headerFill < 5) return;
        this.headerFill = 0;
        this.startMessage(this.header[0]!, this.header.readInt32BE(1));
      }
      if (this.bodyRemaining === 0) {
        this.deliver(this.collect[this.code] ? EMPTY : null);
        continue;
      }
      if (this.collect[this.code] && len - pos >= this.bodyLength) {
        // Whole body inside this chunk: hand out a view, no copy.
        const end = pos + this.bodyLength;
        this.bodyRemaining = 0;
        this.deliver(chunk.subarray(pos, end));
        pos = end;
      } else if (this.collect[this.code]) {
        this.body = Buffer.allocUnsafe(this.bodyLength);
      }
    }
  }

  private startMessage(code: number, length: number): void {
    if (length < 4) throw new ProtocolError('protocol_violation', `invalid message length ${length}`);
    const bodyLength = length - 4;
    if (bodyLength > this.maxBodyBytes) {
      throw new ProtocolError('message_too_large', `message of ${bodyLength} bytes exceeds the limit of ${this.maxBodyBytes}`);
    }
    this.code = code;
    this.bodyLength = bodyLength;
    this.bodyRemaining = bodyLength;
  }

  private continueBody(chunk: Buffer, pos: number): number {
    const take = Math.min(this.bodyRemaining, chunk.length - pos);
    if (this.body !== null) chunk.copy(this.body, this.bodyLength - this.bodyRemaining, pos, pos + take);
    this.bodyRemaining -= take;
    if (this.bodyRemaining === 0) {
      const body = this.body;
      this.body = null;
      this.deliver(body);
    }
    return pos + take;
  }

  private deliver(body: Buffer | null): void {
    this.onMessage(this.code, body, this.bodyLength);
  }
}

const EMPTY = Buffer.alloc(0);
