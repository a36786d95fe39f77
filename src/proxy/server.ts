import net from 'node:net';
import type { Logger } from 'pino';
import type { AuditSink } from '../audit/events.js';
import { systemClock, type Clock } from '../audit/clock.js';
import { splitHostPort, type Config } from '../config/index.js';
import { PgsealError } from '../errors.js';
import { CancelMap } from './cancel-map.js';
import { loadPolicy, type Policy } from './policy.js';
import { runSession } from './session.js';
import type { SessionContext } from './session-context.js';
import { TlsUpgrader } from './tls-upgrade.js';

/** ProxyServer accepts client connections and runs one session per connection. */
export class ProxyServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly ctx: SessionContext;
  private policy: Policy;

  constructor(
    private readonly config: Config,
    sink: AuditSink,
    log: Logger,
    clock: Clock = systemClock,
  ) {
    this.policy = loadPolicy(config);
    this.ctx = {
      policy: () => this.policy,
      upgrader: new TlsUpgrader(this.policy.tlsOptions),
      cancels: new CancelMap(),
      sink,
      clock,
      log,
      activeSessions: () => this.sockets.size,
    };
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    runSession(socket, this.ctx).catch((err) => {
      this.ctx.log.error({ err }, 'session failed');
      socket.destroy();
    });
  }

  /**
   * reload swaps in certificates, CA, CRL, mapping, verifiers and settings from a new
   * configuration for sessions that start later; live sessions are untouched. It throws,
   * keeping the old policy, when anything fails to load. Addresses and the audit log are
   * not reloaded.
   */
  reload(config: Config): void {
    const next = loadPolicy(config);
    this.ctx.upgrader.reconfigure(next.tlsOptions);
    this.policy = next;
  }

  /** listen starts accepting on the configured address and resolves with the bound port. */
  listen(): Promise<number> {
    const { host, port } = splitHostPort(this.config.listen);
    return new Promise((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) => reject(new PgsealError('io', `cannot listen on ${this.config.listen}: ${err.code ?? err.message}`)));
      this.server.listen({ host, port }, () => resolve((this.server.address() as net.AddressInfo).port));
    });
  }

  /** connections is the number of open client connections. */
  get connections(): number {
    return this.sockets.size;
  }

  /** close stops accepting, waits up to timeoutMs for sessions to end, then closes the rest. */
  async close(timeoutMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const deadline = Date.now() + timeoutMs;
    while (this.sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
