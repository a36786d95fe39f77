import type { Duplex } from 'node:stream';
import type net from 'node:net';
import { claimTurnEndCarrier, runTurnEndNow, setCarrierSource } from '../audit/turn-end.js';
import type { RecordCodec } from './tls-offload.js';

/**
 * RelayLeg is one side of a relayed session: chunks in, chunks out, backpressure, close.
 * The relay works the same on both implementations below; which one a session gets is
 * decided once per process (relayLegKind).
 */
export interface RelayLeg {
  /** start delivers every chunk received from now on to onData, in order. */
  start(onData: (chunk: Buffer) => void, onClosed: (how: 'end' | 'error' | 'close') => void): void;
  /** write queues chunk; false means the peer is behind and onDrain will be called once. */
  write(chunk: Buffer): boolean;
  onDrain(cb: () => void): void;
  pause(): void;
  resume(): void;
  /** end sends last (if any) after everything queued, then closes the sending side. */
  end(last?: Buffer): void;
  destroy(): void;
}

/** How far a leg's outgoing queue may grow before the relay pauses the other side. */
const HIGH_WATER = 64 * 1024;

/** A TLS record carries at most 16 KiB of data, and Node's TLS layer hands it over in pieces of that size. */
const READ_BUFFER_BYTES = 16 * 1024;

/** StreamLeg relays through the socket's public Readable/Writable interface. */
class StreamLeg implements RelayLeg {
  private paused = false;
  constructor(
    private readonly socket: Duplex,
    private readonly codec: RecordCodec | undefined,
  ) {}
  start(onData: (chunk: Buffer) => void, onClosed: (how: 'end' | 'error' | 'close') => void): void {
    if (this.socket.destroyed) return void process.nextTick(onClosed, 'close'); // its 'close' has been and gone
    const codec = this.codec;
    if (codec === undefined) this.socket.on('data', onData);
    else {
      const onChunk = (chunk: Buffer) => {
        const plain = openOrFail(codec, chunk);
        if (plain === 'error') return void this.socket.destroy(new Error('TLS record error'));
        if (plain.length > 0) onData(plain);
        if (codec.closed) {
          this.socket.off('data', onChunk); // close_notify: nothing after it counts
          this.socket.emit('end');
        }
      };
      this.socket.on('data', onChunk);
    }
    this.socket.on('end', () => onClosed('end'));
    this.socket.on('error', () => onClosed('error'));
    this.socket.on('close', () => onClosed('close'));
    if (!this.paused) this.socket.resume(); // a pause from before start holds
  }
  write(chunk: Buffer): boolean {
    return this.socket.write(this.codec ? this.codec.seal(chunk) : chunk);
  }
  onDrain(cb: () => void): void {
    this.socket.once('drain', cb);
  }
  pause(): void {
    this.paused = true;
    this.socket.pause();
  }
  resume(): void {
    this.paused = false;
    this.socket.resume();
  }
  end(last?: Buffer): void {
    if (last) this.write(last);
    if (this.codec) this.socket.write(this.codec.closeNotify());
    this.socket.end();
  }
  destroy(): void {
    this.socket.destroy();
  }
}

/** openOrFail unprotects a chunk of records: its data, or 'error' for a bad record. */
function openOrFail(codec: RecordCodec, chunk: Buffer): Buffer | 'error' {
  try {
    return codec.open(chunk);
  } catch {
    return 'error';
  }
}

// ---------------------------------------------------------------------------------------------
// HandleLeg: the same relay without the stream machinery.
//
// A TLS socket's data passes through Readable.push, a 'data' event, Writable.write with its
// bookkeeping and a process.nextTick per write, for every chunk in both directions. For a proxy
// that forwards one small chunk per message that is about 4 µs of CPU per transaction on
// `pgbench -S`, a sixth of a bare relay's cost (bench/tls-relay.ts, RELAY_MODE). HandleLeg talks
// to the socket's native StreamBase handle the way net.Socket itself does
// (lib/internal/stream_base_commons.js): `handle.onread` receives each chunk in a fresh
// ArrayBuffer, and `handle.writeBuffer(WriteWrap, buf)` writes one. That interface is internal,
// so it is probed once at start-up and any mismatch falls back to StreamLeg.
//
// One rule is load-bearing: a TLS handle accepts only one write in flight (TLSWrap::DoWrite
// aborts the process otherwise), so every write to a leg, including the net.Socket's own, must
// be serialised. HandleLeg therefore waits for the socket's own pending writes before its
// first write, keeps its own queue, and closes through the same queue.
//
// Completions are reported to JavaScript only when the leg needs them. A TLS handle finishes
// every write through a native immediate, and the completion calls `req.oncomplete` only if
// that is a function: each call is a full entry into JavaScript (about 0.5 µs), two per
// transaction. A request-response protocol rarely needs them: by the time the next chunk for
// a leg arrives, its last write has long finished. So a write keeps its callback only when
// something waits for it (queued chunks, a drain, an end, the turn's end-of-turn work:
// turn-end.ts); otherwise the leg asks the request itself before the next write: a finished
// write's native object is gone, and `getAsyncId()` then answers -1. A write still in flight
// gets its callback back at that moment; completions cannot run in between, since they come
// from the event loop.

interface WriteReq {
  handle: unknown;
  /** undefined: the completion is not reported (the handle calls only a function) */
  oncomplete: ((this: WriteReq, status: number) => void) | undefined;
  async: boolean;
  /** the native request's async id, or -1 once it has finished and been freed */
  getAsyncId(): number;
  /** set when the handle completed the write inside writeBuffer (a TLS handle whose peer reset does) */
  syncStatus?: number;
  buffer?: Buffer | Buffer[];
  leg?: HandleLeg;
}

interface StreamBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
}

interface StreamHandle {
  onread: (arrayBuffer: ArrayBuffer | undefined) => unknown;
  reading: boolean;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteReq, buf: Buffer): number;
  writev(req: WriteReq, chunks: Buffer[], allBuffers: boolean): number;
  useUserBuffer(buf: Uint8Array): void;
  isStreamBase?: boolean;
}

const UV_EOF = -4095;

function probeStreamBinding(): StreamBinding | null {
  if (process.env['PGSEAL_HANDLE_RELAY'] === '0') return null;
  try {
    const getBinding = (process as unknown as { binding?: (name: string) => unknown }).binding;
    if (typeof getBinding !== 'function') return null;
    const b = getBinding.call(process, 'stream_wrap') as Partial<StreamBinding>;
    if (
      typeof b.WriteWrap !== 'function' ||
      !(b.streamBaseState instanceof Int32Array) ||
      !Number.isInteger(b.kReadBytesOrError) ||
      !Number.isInteger(b.kArrayBufferOffset) ||
      !Number.isInteger(b.kLastWriteWasAsync)
    ) {
      return null;
    }
    return b as StreamBinding;
  } catch {
    return null;
  }
}

const binding = probeStreamBinding();
const state = binding?.streamBaseState;

/** relayLegKind names the relay implementation in use, for the operational log and tests. */
export const relayLegKind: 'handle' | 'stream' = binding ? 'handle' : 'stream';

function usableHandle(socket: Duplex): StreamHandle | null {
  const handle = (socket as net.Socket & { _handle?: Partial<StreamHandle> | null })._handle;
  if (!handle || handle.isStreamBase !== true) return null;
  if (typeof handle.writeBuffer !== 'function' || typeof handle.writev !== 'function' || typeof handle.readStart !== 'function' || typeof handle.readStop !== 'function' || typeof handle.useUserBuffer !== 'function') return null;
  return handle as StreamHandle;
}

/** relayLegStats counts the write completions reported to JavaScript, for tests. */
export const relayLegStats = { reportedCompletions: 0 };

// The leg whose write went out last without a reported completion: when end-of-turn work is
// scheduled after it, that write, if still in flight, completes in this turn's check phase and
// can carry the work (turn-end.ts).
let lastSilent: HandleLeg | null = null;
setCarrierSource(() => {
  const leg = lastSilent;
  lastSilent = null;
  return leg !== null && leg.reportCompletion();
});

function onWriteComplete(this: WriteReq, status: number): void {
  relayLegStats.reportedCompletions++;
  const leg = this.leg;
  if (leg === undefined) {
    // Called from inside writeBuffer, before flush() knew the write was pending: flush reads it.
    this.syncStatus = status;
    return;
  }
  leg.writeDone(status);
  runTurnEndNow(); // an asynchronous completion, usually in the check phase: spares the event loop a setImmediate (turn-end.ts)
}

class HandleLeg implements RelayLeg {
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private writing = false; // the handle holds a write: no other may start (see above)
  private inFlight = 0; // its bytes
  private req: WriteReq | null = null; // that write, while its completion is not reported
  private ownWritesPending = true; // until the socket's own earlier writes have completed
  private wantDrain: (() => void) | null = null;
  private ending = false;
  private ended = false;
  private paused = false;
  private closed: 'end' | 'error' | 'close' | null = null;
  private onClosed: ((how: 'end' | 'error' | 'close') => void) | null = null;

  constructor(
    private readonly socket: net.Socket,
    private readonly handle: StreamHandle,
    private readonly codec: RecordCodec | undefined,
  ) {
    // An empty write through the Writable completes after every write queued before it.
    socket.write(Buffer.alloc(0), (err) => {
      this.ownWritesPending = false;
      if (err) return this.fail('error');
      this.flush();
    });
  }

  start(onData: (chunk: Buffer) => void, onClosed: (how: 'end' | 'error' | 'close') => void): void {
    if (this.closed === null && this.socket.destroyed) this.closed = 'close'; // its 'close' has been and gone
    if (this.closed !== null) return void process.nextTick(onClosed, this.closed);
    this.onClosed = onClosed;
    this.socket.on('error', () => this.fail('error'));
    this.socket.on('close', () => this.fail('close'));
    // Bytes the Readable already holds come first.
    this.socket.pause();
    const codec = this.codec;
    for (let chunk: Buffer | null; this.closed === null && (chunk = this.socket.read() as Buffer | null) !== null; ) {
      if (codec === undefined) onData(chunk);
      else this.deliver(openOrFail(codec, chunk), onData);
    }
    if (this.closed !== null) return;
    // socket.read() may have restarted the handle (net.Socket._read); a pause from before start holds.
    if (this.paused && this.handle.reading) {
      this.handle.reading = false;
      this.handle.readStop();
    }
    if (this.socket.readableEnded || (this.socket as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended) {
      return this.fail('end');
    }
    // Reads land in this leg's own buffer and are copied out (small ones into Buffer's pool),
    // instead of a fresh native allocation per read.
    const readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    this.handle.useUserBuffer(readBuffer);
    this.handle.onread = () => {
      const n = state![binding!.kReadBytesOrError]!;
      if (n > 0 && codec !== undefined) {
        this.deliver(openOrFail(codec, readBuffer.subarray(0, n)), onData); // the codec copies what it opens
      } else if (n > 0) {
        const chunk = Buffer.allocUnsafe(n);
        readBuffer.copy(chunk, 0, 0, n);
        onData(chunk);
      } else if (n < 0) this.fail(n === UV_EOF ? 'end' : 'error');
      return undefined;
    };
    this.readStart();
  }

  // What a codec opened: data for the relay, the end of the stream (close_notify), or a record error.
  private deliver(plain: Buffer | 'error', onData: (chunk: Buffer) => void): void {
    if (plain === 'error') return this.fail('error');
    if (plain.length > 0) onData(plain);
    if (this.codec!.closed) this.fail('end');
  }

  private readStart(): void {
    if (this.closed !== null || this.paused || this.handle.reading) return;
    this.handle.reading = true;
    if (this.handle.readStart() !== 0) this.fail('error');
  }

  private fail(how: 'end' | 'error' | 'close'): void {
    if (this.closed !== null) return;
    this.closed = how;
    this.onClosed?.(how);
  }

  write(chunk: Buffer): boolean {
    if (this.ending || this.closed !== null) return true;
    if (chunk.length === 0) return this.queuedBytes + this.inFlight < HIGH_WATER; // an empty write would still occupy the handle
    if (this.codec !== undefined) chunk = this.codec.seal(chunk);
    this.queue.push(chunk);
    this.queuedBytes += chunk.length;
    this.flush();
    const behind = this.queuedBytes + this.inFlight >= HIGH_WATER;
    return !behind;
  }

  private flush(): void {
    if (this.ownWritesPending || this.closed !== null || this.socket.destroyed) return;
    if (this.writing && !this.settle()) return;
    while (this.queue.length > 0) {
      const chunks = this.queue;
      const bytes = this.queuedBytes;
      this.queue = [];
      this.queuedBytes = 0;
      const req = new binding!.WriteWrap();
      req.handle = this.handle;
      req.oncomplete = onWriteComplete; // also catches a completion inside writeBuffer
      req.async = false;
      const err = chunks.length === 1 ? this.handle.writeBuffer(req, chunks[0]!) : this.handle.writev(req, chunks, true);
      if (err !== 0) return this.fail('error');
      if (req.syncStatus !== undefined) {
        if (req.syncStatus < 0) return this.fail('error');
        continue; // already complete: the handle is free
      }
      if (state![binding!.kLastWriteWasAsync] !== 0) {
        req.async = true;
        req.buffer = chunks.length === 1 ? chunks[0]! : chunks; // the handle may read them until done
        req.leg = this;
        this.writing = true;
        this.inFlight = bytes;
        if (this.wantDrain === null && !this.ending && bytes < HIGH_WATER && !claimTurnEndCarrier()) {
          req.oncomplete = undefined;
          this.req = req;
          lastSilent = this;
        }
        return;
      }
      // Written synchronously (a plain TCP handle): no completion callback follows.
    }
    this.drained();
  }

  /** reportCompletion gives the write in flight its callback back; false if there is none or it has finished. */
  reportCompletion(): boolean {
    const req = this.req;
    if (req === null || req.getAsyncId() === -1) return false;
    this.req = null;
    req.oncomplete = onWriteComplete;
    return true;
  }

  // True once the write in flight has finished. A write whose completion is not reported is
  // asked (see above); if it is still in flight, its completion is reported after all.
  private settle(): boolean {
    if (this.req === null) return !this.writing;
    if (this.reportCompletion()) return false;
    this.req = null;
    // Finished unreported. Its status is lost; a failed connection shows on the next write or read.
    this.writing = false;
    this.inFlight = 0;
    return true;
  }

  /** writeDone is the handle's completion of the write in flight. */
  writeDone(status: number): void {
    this.writing = false;
    this.inFlight = 0;
    if (status < 0) return this.fail('error');
    this.flush();
  }

  private drained(): void {
    if (this.queue.length > 0 || this.writing) return;
    const cb = this.wantDrain;
    this.wantDrain = null;
    cb?.();
    if (this.ending && !this.ended && this.closed === null) {
      this.ended = true;
      this.socket.end();
    }
  }

  onDrain(cb: () => void): void {
    this.wantDrain = cb;
    if (this.req !== null) this.flush(); // the write it waits for must report its completion
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    if (this.handle.reading && this.closed === null) {
      this.handle.reading = false;
      this.handle.readStop();
    }
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.readStart();
  }

  end(last?: Buffer): void {
    if (this.ending || this.closed !== null) return;
    if (last) this.write(last);
    if (this.codec !== undefined) {
      const alert = this.codec.closeNotify(); // already a record: queued as it is
      this.queue.push(alert);
      this.queuedBytes += alert.length;
    }
    this.ending = true;
    this.flush();
  }

  destroy(): void {
    if (lastSilent === this) lastSilent = null;
    this.closed ??= 'close';
    this.queue = [];
    this.socket.destroy();
  }
}

/**
 * relayLeg wraps a socket for the relay, over its native handle where that is possible. With a
 * codec, the socket carries TLS records that pgseal's own record layer opens and seals
 * (tls-offload.ts): the relay still sees and writes plaintext.
 */
export function relayLeg(socket: Duplex, codec?: RecordCodec): RelayLeg {
  if (binding) {
    const handle = usableHandle(socket);
    if (handle) return new HandleLeg(socket as net.Socket, handle, codec);
  }
  return new StreamLeg(socket, codec);
}
