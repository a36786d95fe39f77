import type net from 'node:net';
import tls from 'node:tls';
import { PgsealError } from '../errors.js';
import { RecordTap, registerTap, tapFor, tlsOffloadAvailable } from './tls-offload.js';

type Waiter = { resolve: (s: tls.TLSSocket) => void; reject: (e: Error) => void };

/**
 * TlsUpgrader turns accepted plaintext sockets into TLS sockets through one non-listening
 * tls.Server, which (unlike a standalone TLSSocket) verifies client certificates, applies
 * the handshake timeout and negotiates ALPN (TRAPS.md, Node TLS).
 */
export class TlsUpgrader {
  private server: tls.Server;
  private readonly waiters = new WeakMap<net.Socket | RecordTap, Waiter>();

  constructor(options: tls.TlsOptions) {
    this.server = this.createServer(options);
  }

  /** reconfigure swaps certificates and settings for handshakes that start later. */
  reconfigure(options: tls.TlsOptions): void {
    this.server = this.createServer(options);
  }

  private createServer(options: tls.TlsOptions): tls.Server {
    const server = tls.createServer({ ...options, rejectUnauthorized: false });
    server.on('secureConnection', (s: tls.TLSSocket) => this.settle(s, null));
    server.on('tlsClientError', (err: Error, s: tls.TLSSocket) => this.settle(s, err));
    // The traffic secrets let a relayed session leave Node's TLS for pgseal's record layer
    // (tls-offload.ts); without it, OpenSSL is not asked for them at all.
    if (tlsOffloadAvailable) {
      server.on('keylog', (line: Buffer, s: tls.TLSSocket) => {
        const tap = carrierOf(s);
        if (tap instanceof RecordTap) tap.keylog(line);
      });
    }
    return server;
  }

  private settle(s: tls.TLSSocket, err: Error | null): void {
    const raw = carrierOf(s);
    const w = raw ? this.waiters.get(raw) : undefined;
    if (!w || !raw) return void s.destroy();
    this.waiters.delete(raw);
    if (err) {
      s.destroy();
      w.reject(new PgsealError('protocol_violation', `TLS handshake failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    } else {
      if (raw instanceof RecordTap) registerTap(s, raw);
      w.resolve(s);
    }
  }

  /** upgrade runs the server side of a TLS handshake on an accepted socket. */
  upgrade(raw: net.Socket): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      const carrier = tapFor(raw);
      this.waiters.set(carrier, { resolve, reject });
      if (carrier instanceof RecordTap) {
        // A TLS socket that failed early may no longer say what it ran over: the tap's close settles it.
        carrier.once('close', () => {
          if (!this.waiters.has(carrier)) return;
          this.waiters.delete(carrier);
          reject(new PgsealError('protocol_violation', 'TLS handshake failed: connection closed'));
        });
      }
      this.server.emit('connection', carrier);
    });
  }
}

/** carrierOf returns what a server-side TLS socket runs over: the TCP socket, or (wrapped by Node in a JSStreamSocket) a RecordTap. */
function carrierOf(s: tls.TLSSocket): net.Socket | RecordTap | undefined {
  const t = s as unknown as { _parent?: net.Socket | null; _handle?: { _parentWrap?: { stream?: unknown } } | null };
  if (t._parent) return t._parent;
  const stream = t._handle?._parentWrap?.stream;
  return stream instanceof RecordTap ? stream : undefined;
}
