import type { Duplex } from 'node:stream';
import { ProtocolError } from '../protocol/index.js';
import { PgsealError } from '../errors.js';

/** ReadTimeoutError is a peer that did not send a whole packet in time. */
export class ReadTimeoutError extends PgsealError {
  constructor(what: string) {
    super('protocol_violation', `timeout waiting for ${what}`);
  }
}

/** PeerClosedError is a peer that closed before sending a whole packet. */
export class PeerClosedError extends PgsealError {
  constructor() {
    super('protocol_violation', 'connection closed by peer');
  }
}

/**
 * PacketReader pulls whole packets from a socket during the startup and authentication
 * phases, where the conversation is strictly request/response. It holds at most one
 * packet's bytes plus what arrived with it, and hands leftover bytes to the relay.
 */
export class PacketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiter: (() => void) | null = null;
  private ended = false;
  private readonly onData = (chunk: Buffer) => {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered > this.maxBuffered) this.socket.pause();
    this.wake();
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.wake();
  };

  constructor(
    private readonly socket: Duplex,
    private readonly maxBuffered: number,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onEnd);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** pending is the number of bytes received and not yet consumed. */
  get pending(): number {
    return this.buffered;
  }

  /** peekByte resolves to the first unread byte without consuming it. */
  async peekByte(timeoutMs: number, what: string): Promise<number> {
    await this.fill(1, timeoutMs, what);
    return this.chunks[0]![0]!;
  }

  /** readStartupPacket reads an untyped packet (int32 length including itself, then body). */
  async readStartupPacket(maxLength: number, timeoutMs: number): Promise<Buffer> {
    await this.fill(4, timeoutMs, 'startup packet');
    const len = this.peekInt32(0);
    if (len < 8 || len > maxLength) throw new ProtocolError('protocol_violation', `invalid length of startup packet`);
    await this.fill(len, timeoutMs, 'startup packet');
    return this.take(len).subarray(4);
  }

  /** readMessage reads a typed message (code, int32 length, body). */
  async readMessage(maxBody: number, timeoutMs: number, what: string): Promise<{ code: number; body: Buffer }> {
    await this.fill(5, timeoutMs, what);
    const head = this.peek(5);
    const len = head.readInt32BE(1);
    if (len < 4 || len - 4 > maxBody) throw new ProtocolError('protocol_violation', `invalid message length ${len}`);
    await this.fill(len + 1, timeoutMs, what);
    const msg = this.take(len + 1);
    return { code: msg[0]!, body: msg.subarray(5) };
  }

  /** detach stops reading, pauses the socket and returns every byte received but not consumed. */
  detach(): Buffer {
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onEnd);
    return this.take(this.buffered);
  }

  private async fill(n: number, timeoutMs: number, what: string): Promise<void> {
    if (this.buffered >= n) return;
    const deadline = Date.now() + timeoutMs;
    this.socket.resume();
    while (this.buffered < n) {
      if (this.ended) throw new PeerClosedError();
      const left = deadline - Date.now();
      if (left <= 0) throw new ReadTimeoutError(what);
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.waiter = null;
          resolve();
        }, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  private peekInt32(at: number): number {
    return this.peek(at + 4).readInt32BE(at);
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) {
      this.chunks = [Buffer.concat(this.chunks)];
    }
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const head = this.peek(n);
    const first = this.chunks[0]!;
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return head;
  }
}
