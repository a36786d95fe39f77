// TLS record offload: once a session is relaying, its two TLS 1.3 connections are carried by
// pgseal's own record layer (native/tls-record.c) over the plain TCP sockets instead of Node's
// TLS wrapper, whose per-read and per-write machinery costs about 6 µs a transaction on the two
// legs (a plain-TCP relay on the same socket layer costs 8.8 µs a transaction, the TLS one 14.8).
//
// OpenSSL, through Node, still does everything else: the handshake, certificate verification,
// ALPN, and the startup and authentication messages. To take a connection over, pgseal needs
// what kTLS needs: the traffic secrets (Node's `keylog` event) and the record sequence number
// of each direction. Node exposes no sequence numbers, so the TLS socket runs over a RecordTap,
// a Duplex between it and the TCP socket that sees every record pass: the number of records
// protected with the application traffic keys is the number of records after the first one
// that those keys open. At hand-over the tap stops feeding TLS, whatever TLS has not consumed
// goes to the new record layer, and the TLS socket is discarded without a word on the wire.
//
// Anything unusual keeps the session on Node's TLS: TLS 1.2, an unknown cipher suite, no
// keylog, a peer that sent something that is not a TLS record, or more records before the
// relay than the tap keeps. PGSEAL_TLS_OFFLOAD=0 turns the offload off.
import type net from 'node:net';
import { Duplex } from 'node:stream';
import type tls from 'node:tls';

import { nativeFunctions } from '../native-addon.js';

type External = object;
type Addon = {
  /** returns the state's owner (freed when collected) and the id the other calls take; partner: an opener's sealer, or -1 */
  tlsRecordState(cipher: number, trafficSecret: Uint8Array, seq: number, encrypt: boolean, partner: number): [External, number];
  /** returns the bytes written to out (data.length + 22 per record of up to 2^14 bytes), or -(bytes needed) when a KeyUpdate must go first */
  tlsRecordSeal(id: number, data: Uint8Array, out: Uint8Array, contentType: number): number;
  /** makes the sealer's next seal start with KeyUpdate(update_requested) */
  tlsRecordRequestKeyUpdate(id: number): void;
  /** the number of KeyUpdates a state has applied */
  tlsRecordGeneration(id: number): number;
  /** returns n bytes of application data written to out, or -(n + 1) when close_notify followed them */
  tlsRecordOpen(id: number, chunk: Uint8Array, out: Uint8Array): number;
};

const addon =
  process.env['PGSEAL_TLS_OFFLOAD'] === '0'
    ? null
    : nativeFunctions<Addon>(['tlsRecordState', 'tlsRecordSeal', 'tlsRecordOpen', 'tlsRecordRequestKeyUpdate', 'tlsRecordGeneration']);

/** tlsOffloadStats counts hand-overs and the connections that stayed with Node's TLS, for tests and the operational log. */
export const tlsOffloadStats = { offloaded: 0, declined: 0 };

/** tlsOffloadAvailable says whether relayed TLS 1.3 sessions move to pgseal's record layer. */
export const tlsOffloadAvailable = addon !== null;

/** RecordCodec protects and unprotects one connection's application data (RFC 8446 §5.2). */
export interface RecordCodec {
  /** open returns the application data of the whole records received so far; throws on a bad record. */
  open(chunk: Buffer): Buffer;
  /** closed is true once close_notify has been received. */
  readonly closed: boolean;
  seal(data: Buffer): Buffer;
  /** closeNotify returns the close_notify alert record. */
  closeNotify(): Buffer;
  /** requestKeyUpdate makes the next write start with KeyUpdate(update_requested): new keys both ways. */
  requestKeyUpdate(): void;
}

const CT_ALERT = 21;
const CT_APPLICATION_DATA = 23;
const HEADER = 5;
const MAX_RECORD = HEADER + 16384 + 256;
// Records kept per direction until the hand-over: the handshake and login take a dozen or so.
const MAX_TRACKED_RECORDS = 64;
const MAX_TRACKED_BYTES = 256 * 1024;
const CLOSE_NOTIFY = Buffer.from([1, 0]);

type Suite = { cipher: number };
const SUITES: Record<string, Suite> = {
  TLS_AES_128_GCM_SHA256: { cipher: 1 },
  TLS_AES_256_GCM_SHA384: { cipher: 2 },
  TLS_CHACHA20_POLY1305_SHA256: { cipher: 3 },
};

/** RecordCounter walks one direction's byte stream as TLS records and keeps the encrypted ones (type 23). */
class RecordCounter {
  #partial: Buffer = Buffer.alloc(0);
  #position = 0; // stream offset of #partial's first byte
  /** encrypted records in order with the stream offset where each ends, until there are too many */
  readonly records: Array<{ end: number; bytes: Buffer }> = [];
  #trackedBytes = 0;
  overflow = false;
  broken = false;
  /** passThrough: the connection stays with TLS, so nothing is counted or kept any more */
  passThrough = false;

  /** feed takes the next bytes of the stream and returns how many of them complete whole records. */
  feed(chunk: Buffer): number {
    if (this.broken || this.passThrough) return chunk.length;
    const buf = this.#partial.length > 0 ? Buffer.concat([this.#partial, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= HEADER) {
      const type = buf[off]!;
      const len = buf.readUInt16BE(off + 3);
      if (type < 20 || type > 24 || buf[off + 1] !== 3 || HEADER + len > MAX_RECORD) {
        this.broken = true; // not TLS: the handshake fails on its own; this side never offloads
        this.#partial = Buffer.alloc(0);
        return chunk.length;
      }
      if (buf.length - off < HEADER + len) break;
      if (type === CT_APPLICATION_DATA && !this.overflow) {
        this.#trackedBytes += HEADER + len;
        if (this.records.length < MAX_TRACKED_RECORDS && this.#trackedBytes <= MAX_TRACKED_BYTES) {
          this.records.push({ end: this.#position + off + HEADER + len, bytes: Buffer.from(buf.subarray(off, off + HEADER + len)) });
        } else {
          this.overflow = true; // too much before the relay: this connection stays with TLS
          this.records.length = 0;
        }
      }
      off += HEADER + len;
    }
    const whole = off - this.#partial.length; // bytes of chunk that complete records
    this.#partial = Buffer.from(buf.subarray(off));
    this.#position += off;
    return whole;
  }

  /** pendingBytes is the incomplete record at the end of what was fed. */
  get pendingBytes(): Buffer {
    return this.#partial;
  }

  /** stop ends counting: what is kept is dropped, and any incomplete record is returned to be passed on. */
  stop(): Buffer {
    const partial = this.#partial;
    this.passThrough = true;
    this.records.length = 0;
    this.#partial = Buffer.alloc(0);
    return partial;
  }
}

/**
 * RecordTap sits between a TLS socket and its TCP socket: bytes pass unchanged both ways, in
 * whole records towards TLS, while both directions are counted. freeze() stops the flow
 * towards TLS; detach() lets go of the TCP socket without closing it.
 */
export class RecordTap extends Duplex {
  readonly inbound = new RecordCounter();
  readonly outbound = new RecordCounter();
  /** secrets from the keylog: CLIENT_/SERVER_TRAFFIC_SECRET_0 */
  readonly secrets = new Map<string, Buffer>();
  #consumed = 0; // inbound bytes TLS has taken
  #pushed: Buffer[] = []; // inbound chunks pushed and not yet wholly taken
  #frozen = false;
  #detached = false;
  readonly #listeners: Array<[string, (...args: never[]) => void]> = [];

  constructor(readonly raw: net.Socket) {
    super({ allowHalfOpen: true });
    const on = (event: string, fn: (...args: never[]) => void) => {
      this.#listeners.push([event, fn]);
      raw.on(event, fn as (...args: unknown[]) => void);
    };
    on('data', (chunk: Buffer) => this.#fromRaw(chunk));
    on('end', () => this.push(null));
    on('error', (err: Error) => this.destroy(err));
    on('close', () => this.destroy());
  }

  #fromRaw(chunk: Buffer): void {
    // Complete records only: at hand-over, TLS must not hold half a record.
    const before = this.inbound.pendingBytes;
    const whole = this.inbound.feed(chunk);
    if (this.inbound.broken || this.inbound.passThrough) this.#forward(before.length > 0 ? Buffer.concat([before, chunk]) : chunk);
    else if (whole > 0) this.#forward(before.length > 0 ? Buffer.concat([before, chunk.subarray(0, whole)]) : chunk.subarray(0, whole));
  }

  #forward(bytes: Buffer): void {
    this.#pushed.push(bytes);
    if (!this.push(bytes)) this.raw.pause();
  }

  override _read(): void {
    if (!this.#frozen && !this.#detached) this.raw.resume();
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'data') {
      if (this.#detached) return false;
      this.#taken((args[0] as Buffer).length);
    }
    return super.emit(event, ...args);
  }

  #taken(n: number): void {
    this.#consumed += n;
    while (n > 0 && this.#pushed.length > 0) {
      const first = this.#pushed[0]!;
      if (first.length <= n) {
        n -= first.length;
        this.#pushed.shift();
      } else {
        this.#pushed[0] = first.subarray(n);
        n = 0;
      }
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.#detached) return cb(); // after hand-over TLS says nothing more on the wire
    this.outbound.feed(chunk);
    this.raw.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.#detached) this.raw.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (!this.#detached) this.raw.destroy();
    cb(err);
  }

  /** keylog records a line of Node's keylog event; only the application traffic secrets are kept. */
  keylog(line: Buffer): void {
    const [label, , secret] = line.toString('latin1').trim().split(' ');
    if ((label === 'CLIENT_TRAFFIC_SECRET_0' || label === 'SERVER_TRAFFIC_SECRET_0') && secret !== undefined) this.secrets.set(label, Buffer.from(secret, 'hex'));
  }

  /** freeze stops handing records to TLS and pauses the TCP socket. */
  freeze(): void {
    this.#frozen = true;
    this.raw.pause();
  }

  /** stayWithTls undoes freeze for a connection that stays with TLS, and stops counting its records. */
  stayWithTls(): void {
    this.outbound.stop();
    const partial = this.inbound.stop();
    this.#pushed = [];
    if (partial.length > 0) this.#forward(partial);
    for (const s of this.secrets.values()) s.fill(0);
    this.secrets.clear();
    this.#frozen = false;
    this.raw.resume();
  }

  /** consumed is how many inbound bytes TLS has taken. */
  get consumed(): number {
    return this.#consumed;
  }

  /** untaken returns the inbound bytes received that TLS has not taken, in order. */
  untaken(): Buffer {
    return Buffer.concat([...this.#pushed, this.inbound.pendingBytes]);
  }

  /** detach stops all traffic through the tap and releases the TCP socket's listeners. */
  detach(): void {
    this.#detached = true;
    for (const [event, fn] of this.#listeners) this.raw.off(event, fn as (...args: unknown[]) => void);
    this.#listeners.length = 0;
    for (const s of this.secrets.values()) s.fill(0);
  }
}

const taps = new WeakMap<tls.TLSSocket, RecordTap>();

/** registerTap remembers which tap carries a TLS socket, so that offloadTls can find it. */
export function registerTap(secure: tls.TLSSocket, tap: RecordTap): void {
  taps.set(secure, tap);
}

/** tapFor returns a RecordTap for raw when the offload is available, or raw itself. */
export function tapFor(raw: net.Socket): net.Socket | RecordTap {
  return addon ? new RecordTap(raw) : raw;
}

// The number of records protected with the traffic secret: those from the first one that it
// opens at sequence number 0 (earlier ones belong to the handshake keys), up to `until` bytes
// into the stream. Every later record must open in turn with the same keys: a record that does
// not, or a KeyUpdate before the relay (the secrets would be stale), keeps the connection on
// Node's TLS (null).
function applicationRecords(a: Addon, suite: Suite, secret: Buffer, c: RecordCounter, until: number): number | null {
  if (c.broken || c.overflow) return null;
  const records = c.records.filter((r) => r.end <= until);
  if (records.length === 0) return 0;
  const out = Buffer.allocUnsafe(MAX_RECORD * 2);
  for (let i = 0; i < records.length; i++) {
    const [owner, id] = a.tlsRecordState(suite.cipher, secret, 0, false, -1);
    try {
      a.tlsRecordOpen(id, records[i]!.bytes, out);
    } catch {
      continue; // a handshake record: keep looking
    }
    try {
      for (let j = i + 1; j < records.length; j++) a.tlsRecordOpen(id, records[j]!.bytes, out);
    } catch {
      return null;
    }
    const generation = a.tlsRecordGeneration(id);
    keepAlive(owner); // until here: its collection frees the state
    out.fill(0);
    return generation === 0 ? records.length - i : null;
  }
  return null;
}

/** keepAlive marks a value as used, so that it is not collected before this point. */
function keepAlive(value: unknown): void {
  if (value === keepAlive) throw new Error('unreachable');
}

/** NativeRecordCodec is one connection's two directions in native/tls-record.c. */
class NativeRecordCodec implements RecordCodec {
  /** the native states' owners: held as long as the codec, since their collection frees the states */
  readonly owners: [External, External];
  readonly #opener: number;
  readonly #sealer: number;
  // Plaintext lands here and is copied out at its exact size; it fits a read of up to 16 KiB
  // plus the incomplete record carried from the previous one.
  readonly #out = Buffer.allocUnsafeSlow(16 * 1024 + MAX_RECORD);
  closed = false;

  constructor(
    private readonly a: Addon,
    suite: Suite,
    rx: Buffer,
    rxSeq: number,
    tx: Buffer,
    txSeq: number,
  ) {
    const [w, wid] = a.tlsRecordState(suite.cipher, tx, txSeq, true, -1);
    const [o, oid] = a.tlsRecordState(suite.cipher, rx, rxSeq, false, wid);
    this.owners = [o, w];
    this.#opener = oid;
    this.#sealer = wid;
  }

  open(chunk: Buffer): Buffer {
    const out = chunk.length + MAX_RECORD <= this.#out.length ? this.#out : Buffer.allocUnsafe(chunk.length + MAX_RECORD);
    let n = this.a.tlsRecordOpen(this.#opener, chunk, out);
    if (n < 0) {
      n = -n - 1;
      this.closed = true;
    }
    const data = Buffer.allocUnsafe(n);
    out.copy(data, 0, 0, n);
    return data;
  }

  seal(data: Buffer): Buffer {
    return this.#sealAs(data, CT_APPLICATION_DATA);
  }

  closeNotify(): Buffer {
    return this.#sealAs(CLOSE_NOTIFY, CT_ALERT);
  }

  #sealAs(data: Buffer, type: number): Buffer {
    const records = Math.max(1, Math.ceil(data.length / 16384));
    const out = Buffer.allocUnsafe(data.length + records * (HEADER + 1 + 16));
    const n = this.a.tlsRecordSeal(this.#sealer, data, out, type);
    if (n >= 0) return out;
    const withKeyUpdate = Buffer.allocUnsafe(-n); // our KeyUpdate goes first (a peer asked for it)
    this.a.tlsRecordSeal(this.#sealer, data, withKeyUpdate, type);
    return withKeyUpdate;
  }

  /** requestKeyUpdate makes the next write start with KeyUpdate(update_requested): new keys both ways. */
  requestKeyUpdate(): void {
    this.a.tlsRecordRequestKeyUpdate(this.#sealer);
  }
}

/** Offloaded is a connection moved to pgseal's record layer: the TCP socket, its codec, and plaintext TLS had already decrypted. */
export type Offloaded = { socket: net.Socket; codec: RecordCodec; pending: Buffer };

/**
 * offloadTls moves an established TLS 1.3 connection to pgseal's record layer, or returns null
 * (the session stays on Node's TLS). Call it when no read of the TLS socket's own is active
 * (the PacketReader detached) and after its last write was issued; role is pgseal's side.
 */
export async function offloadTls(secure: tls.TLSSocket, role: 'server' | 'client'): Promise<Offloaded | null> {
  const tap = taps.get(secure);
  if (addon === null || tap === undefined) return null;
  const decline = (): null => {
    tap.stayWithTls();
    tlsOffloadStats.declined++;
    return null;
  };
  const suite = secure.getProtocol() === 'TLSv1.3' ? SUITES[secure.getCipher()?.standardName ?? ''] : undefined;
  const clientSecret = tap.secrets.get('CLIENT_TRAFFIC_SECRET_0');
  const serverSecret = tap.secrets.get('SERVER_TRAFFIC_SECRET_0');
  if (suite === undefined || clientSecret === undefined || serverSecret === undefined || tap.inbound.broken || tap.outbound.broken || secure.destroyed) return decline();
  tap.freeze();
  // Every write TLS was given is on the TCP socket once an empty write behind it completes.
  await new Promise<void>((resolve) => secure.write(Buffer.alloc(0), () => resolve()));
  if (secure.destroyed || tap.raw.destroyed || tap.raw.readableEnded) return decline();
  const plaintext: Buffer[] = [];
  for (let chunk: Buffer | null; (chunk = secure.read() as Buffer | null) !== null; ) plaintext.push(chunk);
  let codec: NativeRecordCodec | null = null;
  try {
    const rx = role === 'server' ? clientSecret : serverSecret;
    const tx = role === 'server' ? serverSecret : clientSecret;
    const rxSeq = applicationRecords(addon, suite, rx, tap.inbound, tap.consumed);
    const txSeq = applicationRecords(addon, suite, tx, tap.outbound, Number.MAX_SAFE_INTEGER);
    if (rxSeq !== null && txSeq !== null && tap.outbound.pendingBytes.length === 0) codec = new NativeRecordCodec(addon, suite, rx, rxSeq, tx, txSeq);
  } catch {
    codec = null; // a native state could not be made: TLS keeps the connection
  }
  if (codec === null) {
    for (const chunk of plaintext.reverse()) secure.unshift(chunk);
    return decline();
  }
  // Records TLS never took go back to the TCP socket's buffer, ahead of anything unread, for the
  // relay to open (a bad one then ends the session there).
  const untaken = tap.untaken();
  tap.detach();
  secure.destroy();
  if (untaken.length > 0) tap.raw.unshift(untaken);
  tlsOffloadStats.offloaded++;
  return { socket: tap.raw, codec, pending: Buffer.concat(plaintext) };
}
