import type net from 'node:net';
import tls from 'node:tls';
import { PgsealError } from '../errors.js';

type Waiter = { resolve: (s: tls.TLSSocket) => void; reject: (e: Error) => void };

/**
 * TlsUpgrader turns accepted plaintext sockets into TLS sockets through one non-listening
 * tls.Server, which (unlike a standalone TLSSocket) verifies client certificates, applies
 * the handshake timeout and negotiates ALPN (TRAPS.md, Node TLS).
 */
export class TlsUpgrader {
  private server: tls.Server;
  private readonly waiters = new WeakMap<net.Socket, Waiter>();

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
    return server;
  }

  private settle(s: tls.TLSSocket, err: Error | null): void {
    const raw = (s as unknown as { _parent?: net.Socket })._parent;
    const w = raw ? this.waiters.get(raw) : undefined;
    if (!w || !raw) return void s.destroy();
    this.waiters.delete(raw);
    if (err) {
      s.destroy();
      w.reject(new PgsealError('protocol_violation', `TLS handshake failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    } else {
      w.resolve(s);
    }
  }

  /** upgrade runs the server side of a TLS handshake on an accepted socket. */
  upgrade(raw: net.Socket): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      this.waiters.set(raw, { resolve, reject });
      this.server.emit('connection', raw);
    });
  }
}
