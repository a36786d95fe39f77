import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';
import { parseScramClientKey, parseUserlist, tlsServerEndPoint, type ScramClientKey } from '../auth/index.js';
import { AuthQuerySource, chainSources } from './auth-query.js';
import type { UpstreamTarget } from './upstream-connect.js';
import type { AuditSink } from '../audit/events.js';
import { systemClock, type Clock } from '../audit/clock.js';
import { splitHostPort, type Config } from '../config/index.js';
import { PgsealError } from '../errors.js';
import { CancelMap } from './cancel-map.js';
import type { VerifierSource } from './client-auth.js';
import { runSession } from './session.js';
import type { SessionContext } from './session-context.js';
import { TlsUpgrader } from './tls-upgrade.js';

/** ProxyServer accepts client connections and runs one session per connection. */
export class ProxyServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly ctx: SessionContext;
  private channelBinding: Buffer | null;

  constructor(
    private readonly config: Config,
    sink: AuditSink,
    log: Logger,
    clock: Clock = systemClock,
  ) {
    const upstream = splitHostPort(config.upstream.address);
    const tlsFiles = readTlsFiles(config);
    this.channelBinding = endPointOf(tlsFiles.cert);
    this.ctx = {
      settings: {
        allowPlaintext: config.tls.allow_plaintext,
        directTls: config.tls.direct_tls,
        clientCert: config.tls.client_cert,
        startupTimeoutMs: config.limits.startup_timeout_ms,
        maxMessageBytes: config.limits.max_message_bytes,
        maxClients: config.limits.max_clients,
        allowReplication: config.limits.allow_replication,
        paramPolicy: { maxBytes: config.audit.max_param_bytes, redact: config.audit.redact_params },
      },
      upstream: {
        host: upstream.host,
        port: upstream.port,
        tlsMode: config.upstream.tls,
        ca: config.upstream.ca ? readOrThrow(config.upstream.ca, 'upstream.ca') : undefined,
        serverName: config.upstream.server_name ?? upstream.host,
        connectTimeoutMs: config.upstream.connect_timeout_ms,
      },
      upgrader: new TlsUpgrader(tlsOptions(config, tlsFiles)),
      channelBinding: () => this.channelBinding,
      verifiers: undefined as unknown as VerifierSource,
      cancels: new CancelMap(),
      sink,
      clock,
      log,
      activeSessions: () => this.sockets.size,
    };
    this.ctx.verifiers = loadVerifiers(config, this.ctx.upstream);
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

type TlsFiles = { cert: Buffer; key: Buffer; ca: Buffer };

function readTlsFiles(c: Config): TlsFiles {
  return { cert: readOrThrow(c.tls.cert, 'tls.cert'), key: readOrThrow(c.tls.key, 'tls.key'), ca: readOrThrow(c.tls.ca, 'tls.ca') };
}

function tlsOptions(c: Config, f: TlsFiles) {
  return {
    cert: f.cert,
    key: f.key,
    ca: f.ca,
    minVersion: c.tls.min_version,
    requestCert: c.tls.client_cert !== 'none',
    ALPNProtocols: ['postgresql'],
    handshakeTimeout: c.limits.startup_timeout_ms,
  };
}

function endPointOf(certPem: Buffer): Buffer | null {
  const der = new X509Certificate(certPem).raw;
  try {
    return tlsServerEndPoint(der);
  } catch {
    return null; // no hash in the signature (Ed25519): SCRAM-SHA-256-PLUS is not offered
  }
}

function loadVerifiers(c: Config, upstream: UpstreamTarget): VerifierSource {
  const sources: VerifierSource[] = [];
  if (c.auth.auth_file) {
    const table = parseUserlist(readOrThrow(c.auth.auth_file, 'auth.auth_file').toString('utf8'));
    sources.push({ secretFor: (role) => table.get(role) });
  }
  const q = c.auth.auth_query;
  if (q) {
    const creds = parseUserlist(readOrThrow(q.credentials_file, 'auth.auth_query.credentials_file').toString('utf8'));
    const secret = creds.get(q.role);
    if (secret === undefined) throw new PgsealError('config_invalid', `auth.auth_query.credentials_file: no entry for role "${q.role}"`);
    let key: ScramClientKey;
    try {
      key = parseScramClientKey(secret);
    } catch {
      throw new PgsealError('config_invalid', `auth.auth_query.credentials_file: the entry for "${q.role}" is not a SCRAM client key (make one with "pgseal keys client-key")`);
    }
    sources.push(new AuthQuerySource(upstream, { role: q.role, key, sql: q.sql, database: q.database, cacheMs: q.cache_ms }));
  }
  return chainSources(sources);
}

function readOrThrow(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new PgsealError('config_invalid', `${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
