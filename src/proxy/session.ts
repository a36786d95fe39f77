import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { ClientAddress, TlsInfo } from '../audit/events.js';
import { PgsealError } from '../errors.js';
import {
  encodeAuthenticationOk,
  encodeAuthenticationSASLFinal,
  encodeBackendKeyData,
  encodeNegotiateProtocolVersion,
  SQLSTATE,
} from '../protocol/index.js';
import { authenticateClient, type ScramLogin } from './client-auth.js';
import { ClientFacingError, clientErrorResponse, sqlstateOf } from './client-errors.js';
import { forwardCancel } from './cancel-forward.js';
import { negotiate } from './negotiate.js';
import type { PacketReader } from './packet-reader.js';
import { QueryTracker } from './query-tracker.js';
import { relay, type RelayTotals } from './relay.js';
import type { SessionContext } from './session-context.js';
import { connectUpstream, type ConnectedUpstream } from './upstream-connect.js';
import { UpstreamError } from './upstream-errors.js';
import { loginUpstream, type LoggedIn } from './upstream-login.js';

type Client = { socket: net.Socket | tls.TLSSocket; reader: PacketReader; tls: TlsInfo; params: Map<string, string> };

/**
 * runSession carries one client connection through its states:
 * negotiate → admit → authenticate → connect upstream → ready → relay → close.
 * Every failure ends as a FATAL ErrorResponse to the client and an audit record.
 */
export async function runSession(raw: net.Socket, ctx: SessionContext): Promise<void> {
  const id = randomBytes(8).toString('hex');
  const from: ClientAddress = { address: raw.remoteAddress ?? '', port: raw.remotePort ?? 0 };
  const log = ctx.log.child({ session: id, client: `${from.address}:${from.port}` });
  raw.setNoDelay(true);
  raw.on('error', () => {}); // errors surface as 'close' to whichever stage owns the socket
  const deadline = Date.now() + ctx.settings.startupTimeoutMs;
  let client: Client | null = null;
  let stage = 'negotiate';
  try {
    const n = await negotiate(raw, ctx, deadline);
    if (n.kind === 'cancel') return await handleCancel(n.pid, n.secretKey, from, ctx, log);
    if (n.kind === 'closed') {
      log.warn({ reason: n.reason }, 'connection closed during negotiation');
      return void raw.destroy();
    }
    client = { socket: n.socket, reader: n.reader, tls: n.tls, params: n.startup.params };
    if (n.startup.minor > 0 || n.startup.protocolOptions.length > 0) {
      client.socket.write(encodeNegotiateProtocolVersion(0, n.startup.protocolOptions));
    }
    stage = 'admit';
    admit(client, ctx);
    stage = 'authenticate';
    const user = client.params.get('user')!;
    let login: ScramLogin;
    try {
      login = await authenticateClient(client.socket, client.reader, user, ctx.verifiers, client.tls ? ctx.channelBinding() : null, Math.max(1, deadline - Date.now()));
    } catch (err) {
      recordAuthFailure(id, from, client, err, ctx);
      throw err;
    }
    stage = 'connect';
    const up = await connectUpstream(ctx.upstream);
    const session = await startUpstreamSession(up, client, login, ctx, deadline);
    stage = 'relay';
    await relayUntilClosed(id, from, client, up, session, login.serverFinal, ctx, log);
  } catch (err) {
    const reason = err instanceof PgsealError ? err.message : 'internal error';
    if (!(err instanceof PgsealError)) log.error({ err }, 'unexpected error in session');
    if (client !== null) {
      if (stage !== 'authenticate') recordReject(id, from, client, err, reason, ctx);
      const upstreamBytes = err instanceof UpstreamError ? err.upstreamError : null;
      endWith(client.socket, upstreamBytes ?? clientErrorResponse(err));
    } else {
      endWith(raw, clientErrorResponse(err));
    }
    log.info({ stage, sqlstate: sqlstateOf(err), reason }, 'connection refused');
  }
}

function admit(client: Client, ctx: SessionContext): void {
  if (!client.tls && !ctx.settings.allowPlaintext) {
    throw new ClientFacingError(SQLSTATE.invalidAuthorization, 'pgseal requires an encrypted connection', 'Connect with sslmode=require or stronger.');
  }
  const replication = client.params.get('replication');
  if (replication !== undefined && !/^(false|off|no|0)$/i.test(replication) && !ctx.settings.allowReplication) {
    throw new ClientFacingError(SQLSTATE.invalidAuthorization, 'replication connections are not allowed through pgseal', 'Set limits.allow_replication to enable them.');
  }
  if (ctx.activeSessions() > ctx.settings.maxClients) {
    throw new ClientFacingError(SQLSTATE.tooManyConnections, 'sorry, too many clients already');
  }
}

async function startUpstreamSession(up: ConnectedUpstream, client: Client, login: ScramLogin, ctx: SessionContext, deadline: number): Promise<LoggedIn> {
  try {
    const creds = { kind: 'scram' as const, clientKey: login.clientKey, serverKey: login.verifier.serverKey };
    return await loginUpstream(up, client.params, creds, Math.max(ctx.upstream.connectTimeoutMs, deadline - Date.now()));
  } catch (err) {
    up.socket.destroy();
    throw err;
  }
}

async function relayUntilClosed(id: string, from: ClientAddress, client: Client, up: ConnectedUpstream, s: LoggedIn, serverFinal: Buffer, ctx: SessionContext, log: Logger): Promise<void> {
  const started = ctx.clock.nowMicros();
  const key = ctx.cancels.issue({ session: id, pid: s.pid, secretKey: s.secretKey });
  const params = client.params;
  ctx.sink.append({
    type: 'session.start',
    session: id,
    client: from,
    tls: client.tls,
    certificate: null,
    user: params.get('user')!,
    database: params.get('database')!,
    application_name: params.get('application_name') ?? '',
    auth_method: 'scram-sha-256',
    upstream: `${ctx.upstream.host}:${ctx.upstream.port}`,
  });
  log.info({ user: params.get('user'), database: params.get('database'), tls: client.tls?.version ?? 'none' }, 'session started');
  const tracker = new QueryTracker(id, ctx.sink, ctx.clock, ctx.settings.paramPolicy);
  const totals: RelayTotals = { fromClient: 0, fromServer: 0 };
  let reason = 'unknown';
  try {
    ctx.sink.flush();
    client.socket.write(Buffer.concat([encodeAuthenticationSASLFinal(serverFinal), encodeAuthenticationOk(), ...s.greeting, encodeBackendKeyData(key.pid, key.secretKey), s.readyForQuery]));
    reason = await relay(client.socket, up.socket, { fromClient: client.reader.detach(), fromServer: up.reader.detach() }, tracker, ctx.sink, ctx.settings.maxMessageBytes, totals, (err) =>
      log.error({ err }, 'internal error while relaying'),
    );
  } finally {
    ctx.cancels.release(key.pid);
    tracker.abandon(`session ended: ${reason}`);
    ctx.sink.append({
      type: 'session.end',
      session: id,
      reason,
      queries: tracker.queries,
      errors: tracker.errors,
      bytes_from_client: totals.fromClient,
      bytes_from_server: totals.fromServer,
      duration_us: ctx.clock.nowMicros() - started,
    });
    log.info({ reason, queries: tracker.queries, errors: tracker.errors }, 'session ended');
  }
}

async function handleCancel(pid: number, secretKey: Buffer, from: ClientAddress, ctx: SessionContext, log: Logger): Promise<void> {
  const target = ctx.cancels.lookup(pid, secretKey);
  ctx.sink.append({ type: 'cancel', session: target?.session ?? null, client: from, matched: target !== null });
  if (!target) return void log.info('cancel request with an unknown key ignored');
  await forwardCancel(ctx.upstream, target).catch((err) => log.warn({ reason: (err as Error).message }, 'cancel request could not be forwarded'));
}

function recordAuthFailure(id: string, from: ClientAddress, client: Client, err: unknown, ctx: SessionContext): void {
  const reason = err instanceof PgsealError ? err.message : 'internal error';
  ctx.sink.append({ type: 'auth.failure', session: id, client: from, user: client.params.get('user')!, database: client.params.get('database')!, sqlstate: sqlstateOf(err), reason });
}

function recordReject(id: string, from: ClientAddress, client: Client, err: unknown, reason: string, ctx: SessionContext): void {
  ctx.sink.append({
    type: 'session.reject',
    session: id,
    client: from,
    user: client.params.get('user') ?? null,
    database: client.params.get('database') ?? null,
    sqlstate: sqlstateOf(err),
    reason,
  });
}

function endWith(socket: net.Socket | tls.TLSSocket, bytes: Buffer): void {
  if (socket.destroyed) return;
  socket.end(bytes);
  setTimeout(() => socket.destroy(), 5_000).unref();
}
