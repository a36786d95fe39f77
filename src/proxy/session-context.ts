import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { AuditSink } from '../audit/events.js';
import type { Clock } from '../audit/clock.js';
import type { CancelMap } from './cancel-map.js';
import type { VerifierSource } from './client-auth.js';
import type { TlsUpgrader } from './tls-upgrade.js';
import type { UpstreamTarget } from './upstream-connect.js';

/** ProxySettings are the parts of the configuration a session reads. */
export type ProxySettings = {
  allowPlaintext: boolean;
  directTls: boolean;
  clientCert: 'none' | 'optional' | 'require';
  startupTimeoutMs: number;
  maxMessageBytes: number;
  maxClients: number;
  allowReplication: boolean;
  paramPolicy: { maxBytes: number; redact: boolean };
};

/** SessionContext is everything a session shares with the server that accepted it. */
export type SessionContext = {
  settings: ProxySettings;
  upstream: UpstreamTarget;
  upgrader: TlsUpgrader;
  /** channelBinding is tls-server-end-point of pgseal's own certificate, or null when -PLUS cannot be offered. */
  channelBinding: () => Buffer | null;
  verifiers: VerifierSource;
  cancels: CancelMap;
  sink: AuditSink;
  clock: Clock;
  log: Logger;
  /** activeSessions counts sessions past negotiation, for max_clients. */
  activeSessions: () => number;
  peerCertificate?: (s: tls.TLSSocket) => void;
};
