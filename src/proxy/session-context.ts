import type { Logger } from 'pino';
import type { AuditSink } from '../audit/events.js';
import type { Clock } from '../audit/clock.js';
import type { CancelMap } from './cancel-map.js';
import type { Policy } from './policy.js';
import type { TlsUpgrader } from './tls-upgrade.js';

export type { ProxySettings } from './policy.js';

/** SessionContext is everything a session shares with the server that accepted it. */
export type SessionContext = {
  /** policy is read once per session at its start; a reload swaps it for later sessions. */
  policy: () => Policy;
  upgrader: TlsUpgrader;
  cancels: CancelMap;
  sink: AuditSink;
  clock: Clock;
  log: Logger;
  /** activeSessions counts open client connections, for max_clients. */
  activeSessions: () => number;
};
