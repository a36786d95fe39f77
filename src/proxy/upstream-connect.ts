import net from 'node:net';
import tls from 'node:tls';
import { encodeSSLRequest } from '../protocol/index.js';
import { PacketReader } from './packet-reader.js';
import { RecordTap, registerTap, tapFor } from './tls-offload.js';
import { UpstreamError } from './upstream-errors.js';

/** UpstreamTarget is where and how pgseal reaches PostgreSQL. */
export type UpstreamTarget = {
  host: string;
  port: number;
  tlsMode: 'disable' | 'require' | 'verify-ca' | 'verify-full';
  ca: Buffer | undefined;
  serverName: string;
  connectTimeoutMs: number;
};

/** ClientCertificatePem is a certificate and key pgseal presents to the upstream (certificate logins). */
export type ClientCertificatePem = { cert: string; key: string };

/** ConnectedUpstream is an open transport to PostgreSQL and what its TLS says. */
export type ConnectedUpstream = { socket: net.Socket | tls.TLSSocket; reader: PacketReader; peerCertificate: Buffer | null };

/**
 * connectUpstream opens TCP, negotiates TLS like libpq's sslmode (SSLRequest, exactly one
 * response byte) and returns a socket ready for a startup or cancel packet.
 */
export async function connectUpstream(t: UpstreamTarget, clientCert?: ClientCertificatePem): Promise<ConnectedUpstream> {
  const deadline = Date.now() + t.connectTimeoutMs;
  const raw = await openTcp(t);
  raw.on('error', () => {}); // surfaced through whichever reader or TLS socket wraps it
  try {
    if (t.tlsMode === 'disable' && clientCert) throw new UpstreamError('upstream_tls', 'a certificate login needs TLS to the upstream (upstream.tls is disable)');
    if (t.tlsMode === 'disable') return { socket: raw, reader: new PacketReader(raw, 1 << 20), peerCertificate: null };
    raw.write(encodeSSLRequest());
    const plain = new PacketReader(raw, 64);
    const answer = await plain.peekByte(Math.max(1, deadline - Date.now()), 'the upstream SSL response').catch((err) => {
      throw new UpstreamError('upstream_unavailable', `upstream ${t.host}:${t.port} closed the connection during SSL negotiation`, null, { cause: err });
    });
    // CVE-2021-23222 class: nothing may follow the single response byte before the handshake.
    if (plain.pending !== 1) throw new UpstreamError('upstream_protocol', 'upstream sent unexpected data after its SSL response');
    plain.detach();
    if (answer === 0x4e /* N */) throw new UpstreamError('upstream_tls', `upstream ${t.host}:${t.port} does not support SSL, but pgseal requires it (upstream.tls: ${t.tlsMode})`);
    if (answer !== 0x53 /* S */) throw new UpstreamError('upstream_protocol', `upstream answered the SSLRequest with an unexpected byte 0x${answer.toString(16)}`);
    const secure = await startTls(raw, t, deadline, clientCert);
    const cert = secure.getPeerCertificate();
    return { socket: secure, reader: new PacketReader(secure, 1 << 20), peerCertificate: cert?.raw ?? null };
  } catch (err) {
    raw.destroy();
    throw err;
  }
}

function openTcp(t: UpstreamTarget): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: t.host, port: t.port, noDelay: true });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new UpstreamError('upstream_unavailable', `timeout connecting to upstream ${t.host}:${t.port} after ${t.connectTimeoutMs} ms`));
    }, t.connectTimeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = err.code === 'ECONNREFUSED' ? 'connection refused' : (err.code ?? err.message);
      reject(new UpstreamError('upstream_unavailable', `could not connect to upstream ${t.host}:${t.port}: ${why}`, null, { cause: err }));
    });
  });
}

function startTls(raw: net.Socket, t: UpstreamTarget, deadline: number, clientCert?: ClientCertificatePem): Promise<tls.TLSSocket> {
  const verify = t.tlsMode === 'verify-ca' || t.tlsMode === 'verify-full';
  return new Promise((resolve, reject) => {
    const carrier = tapFor(raw);
    const s = tls.connect({
      socket: carrier,
      servername: net.isIP(t.serverName) ? undefined : t.serverName,
      ca: t.ca,
      rejectUnauthorized: verify,
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['postgresql'],
      ...(clientCert ?? {}),
      checkServerIdentity: t.tlsMode === 'verify-full' ? (_host, cert) => tls.checkServerIdentity(t.serverName, cert) : () => undefined,
    });
    if (carrier instanceof RecordTap) {
      s.on('keylog', (line: Buffer) => carrier.keylog(line)); // for tls-offload.ts
      registerTap(s, carrier);
    }
    const timer = setTimeout(() => {
      s.destroy();
      reject(new UpstreamError('upstream_tls', `timeout in TLS handshake with upstream ${t.host}:${t.port}`));
    }, Math.max(1, deadline - Date.now()));
    s.once('secureConnect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new UpstreamError('upstream_tls', `TLS with upstream ${t.host}:${t.port} failed: ${err.code ?? ''} ${err.message}`.replace(/\s+/g, ' '), null, { cause: err }));
    });
  });
}
