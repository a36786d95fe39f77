import type net from 'node:net';
import type tls from 'node:tls';
import type { TlsInfo } from '../audit/events.js';
import {
  decodeStartupPacket,
  encodeErrorResponse,
  MAX_STARTUP_PACKET,
  ProtocolError,
  SQLSTATE,
  type StartupPacket,
} from '../protocol/index.js';
import { PacketReader } from './packet-reader.js';
import type { ProxySettings, SessionContext } from './session-context.js';

/** Negotiated is a connection past its first packets: the transport to use and the StartupMessage. */
export type Negotiated =
  | { kind: 'startup'; socket: net.Socket | tls.TLSSocket; reader: PacketReader; tls: TlsInfo; startup: Extract<StartupPacket, { kind: 'StartupMessage' }> }
  | { kind: 'cancel'; pid: number; secretKey: Buffer }
  | { kind: 'closed'; reason: string };

const TLS_HANDSHAKE_RECORD = 0x16;

/**
 * negotiate reads the first packets of a connection (Protocol Flow: Start-up, SSL Session
 * Encryption, GSSAPI Session Encryption, Canceling Requests): SSLRequest → 'S' and TLS,
 * GSSENCRequest → 'N', PostgreSQL 17 direct TLS, CancelRequest, then the StartupMessage.
 */
export async function negotiate(raw: net.Socket, ctx: SessionContext, settings: ProxySettings, deadline: number): Promise<Negotiated> {
  let socket: net.Socket | tls.TLSSocket = raw;
  let reader = new PacketReader(raw, MAX_STARTUP_PACKET);
  let tlsInfo: TlsInfo = null;
  const left = () => Math.max(1, deadline - Date.now());
  for (let round = 0; round < 3; round++) {
    if (tlsInfo === null && (await reader.peekByte(left(), 'startup packet')) === TLS_HANDSHAKE_RECORD) {
      if (!settings.directTls) return { kind: 'closed', reason: 'direct TLS connection refused (tls.direct_tls: false)' };
      raw.unshift(reader.detach()); // the ClientHello bytes already read are handed to OpenSSL
      const secure = await ctx.upgrader.upgrade(raw);
      socket = secure;
      if (secure.alpnProtocol !== 'postgresql') {
        secure.destroy();
        return { kind: 'closed', reason: 'direct TLS connection without ALPN "postgresql"' };
      }
      tlsInfo = describeTls(secure, true);
      reader = new PacketReader(socket, MAX_STARTUP_PACKET);
      continue;
    }
    const packet = decodeStartupPacket(await reader.readStartupPacket(MAX_STARTUP_PACKET, left()));
    switch (packet.kind) {
      case 'SSLRequest':
      case 'GSSENCRequest':
        if (tlsInfo !== null) throw new ProtocolError('protocol_violation', `unexpected ${packet.kind} on an encrypted connection`);
        // Bytes sent before our answer would be injected into the TLS stream (CVE-2021-23214).
        if (reader.pending > 0) return { kind: 'closed', reason: `data received after ${packet.kind} before encryption started` };
        if (packet.kind === 'GSSENCRequest') {
          raw.write('N');
          continue;
        }
        reader.detach();
        raw.write('S');
        const secure = await ctx.upgrader.upgrade(raw);
        socket = secure;
        tlsInfo = describeTls(secure, false);
        reader = new PacketReader(socket, MAX_STARTUP_PACKET);
        continue;
      case 'CancelRequest':
        // PostgreSQL answers nothing and closes; close gracefully so a TLS client sees close_notify.
        socket.end();
        setTimeout(() => socket.destroy(), 1_000).unref();
        return { kind: 'cancel', pid: packet.pid, secretKey: packet.secretKey };
      case 'StartupMessage':
        return { kind: 'startup', socket, reader, tls: tlsInfo, startup: packet };
    }
  }
  socket.end(encodeErrorResponse({ severity: 'FATAL', code: SQLSTATE.protocolViolation, message: 'too many negotiation requests' }));
  return { kind: 'closed', reason: 'too many negotiation requests' };
}

function describeTls(s: tls.TLSSocket, direct: boolean): TlsInfo {
  return { version: s.getProtocol() ?? 'unknown', cipher: s.getCipher()?.name ?? 'unknown', alpn: s.alpnProtocol || null, direct };
}
