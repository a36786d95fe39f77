import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { ClientAddress, TlsInfo } from '../audit/events.js';
import { PgsealError, PrivateReasonError } from '../errors.js';
import {
  encodeAuthenticationOk,
  encodeAuthenticationSASLFinal,
  encodeBackendKeyData,
  encodeNegotiateProtocolVersion,
  SQLSTATE,
} from '../protocol/index.js';
import { forwardCancel } from './cancel-forward.js';
import { authenticateClient } from './client-auth.js';
import { ClientFacingError, clientErrorResponse, sqlstateOf } from './client-errors.js';
import { admitCertificate, certificateInfo, readClientCertificate, type ClientCertificate } from './client-identity.js';
import { negotiate } from './negotiate.js';
import type { PacketReader } from './packet-reader.js';
import type { Policy } from './policy.js';
import { QueryTracker } from './query-tracker.js';
import { relay, type RelayTotals } from './relay.js';
import { offloadTls, type Offloaded } from './tls-offload.js';
import type { SessionContext } from './session-context.js';
import { connectUpstream, type ClientCertificatePem, type ConnectedUpstream } from './upstream-connect.js';
import { UpstreamError } from './upstream-errors.js';
import { loginUpstream, type LoggedIn, type UpstreamCredentials } from './upstream-login.js';

/** Client is an admitted client connection and what is known about it. */
type Client = {
  id: string;
  from: ClientAddress;
  socket: net.Socket | tls.TLSSocket;
  reader: PacketReader;
  tls: TlsInfo;
  certificate: ClientCertificate | null;
  params: Map<string, string>;
  /** relaying is set once relay() owns the socket: from then on only its legs may write to it. */
  relaying: boolean;
};

/** Login is how the client proved itself and how pgseal will log in upstream for it. */
type Login = { method: string; serverFinal: Buffer | null; credentials: UpstreamCredentials; clientCert?: ClientCertificatePem };

/**
 * runSession carries one client connection through its states:
 * negotiate → admit → authenticate → connect upstream → ready → relay → close.
 * Every failure ends as a FATAL ErrorResponse to the client and an audit record.
 */
export async function runSession(raw: net.Socket, ctx: SessionContext): Promise<void> {
  const policy = ctx.policy();
  const id = randomBytes(8).toString('hex');
  const from: ClientAddress = { address: raw.remoteAddress ?? '', port: raw.remotePort ?? 0 };
  const log = ctx.log.child({ session: id, client: `${from.address}:${from.port}` });
  raw.setNoDelay(true);
  raw.on('error', () => {}); // errors surface as 'close' to whichever stage owns the socket
  const deadline = Date.now() + policy.settings.startupTimeoutMs;
  let client: Client | null = null;
  let stage = 'negotiate';
  try {
    const n = await negotiate(raw, ctx, policy.settings, deadline);
    if (n.kind === 'cancel') return await handleCancel(n.pid, n.secretKey, from, ctx, policy, log);
    if (n.kind === 'closed') {
      log.warn({ reason: n.reason }, 'connection closed during negotiation');
      return void raw.destroy();
    }
    const certificate = n.socket instanceof tls.TLSSocket ? readClientCertificate(n.socket, policy.settings.identitySource) : null;
    client = { id, from, socket: n.socket, reader: n.reader, tls: n.tls, certificate, params: n.startup.params, relaying: false };
    if (n.startup.minor > 0 || n.startup.protocolOptions.length > 0) {
      client.socket.write(encodeNegotiateProtocolVersion(0, n.startup.protocolOptions));
    }
    stage = 'admit';
    admit(client, ctx, policy);
    stage = 'authenticate';
    const login = await authenticate(client, ctx, policy, deadline);
    stage = 'connect';
    const up = await connectUpstream(policy.upstream, login.clientCert);
    const session = await startUpstreamSession(up, client, login, policy, deadline);
    stage = 'relay';
    await relayUntilClosed(client, up, session, login, ctx, policy, log);
  } catch (err) {
    const reason = errorText(err);
    if (!(err instanceof PgsealError)) log.error({ err }, 'unexpected error in session');
    if (client?.relaying) {
      // The relay has ended the session; a write through the socket's own stream now could
      // overlap a leg's write in flight (relay-leg.ts), so the socket is only destroyed.
      client.socket.destroy();
    } else if (client !== null) {
      if (stage !== 'authenticate') recordReject(client, err, reason, ctx);
      flushQuietly(ctx); // the refusal is on record before the client hears of it
      const upstreamBytes = err instanceof UpstreamError ? err.upstreamError : null;
      endWith(client.socket, upstreamBytes ?? clientErrorResponse(err));
    } else {
      endWith(raw, clientErrorResponse(err));
    }
    log.warn({ stage, sqlstate: sqlstateOf(err), reason }, 'connection refused');
  }
}

function admit(client: Client, ctx: SessionContext, policy: Policy): void {
  const s = policy.settings;
  if (!client.tls && !s.allowPlaintext) {
    throw new ClientFacingError(SQLSTATE.invalidAuthorization, 'pgseal requires an encrypted connection', 'Connect with sslmode=require or stronger.');
  }
  const replication = client.params.get('replication');
  if (replication !== undefined && !/^(false|off|no|0)$/i.test(replication) && !s.allowReplication) {
    throw new ClientFacingError(SQLSTATE.invalidAuthorization, 'replication connections are not allowed through pgseal', 'Set limits.allow_replication to enable them.');
  }
  if (ctx.activeSessions() > s.maxClients) throw new ClientFacingError(SQLSTATE.tooManyConnections, 'sorry, too many clients already');
  admitCertificate(client.certificate, client.params.get('user')!, policy.certificates);
}

async function authenticate(client: Client, ctx: SessionContext, policy: Policy, deadline: number): Promise<Login> {
  const user = client.params.get('user')!;
  if (policy.settings.authMethod === 'certificate') return certificateLogin(user, policy);
  try {
    const cb = client.tls ? policy.channelBinding : null;
    const scram = await authenticateClient(client.socket, client.reader, user, policy.verifiers, cb, Math.max(1, deadline - Date.now()), policy.decoy);
    const method = client.certificate ? 'scram-sha-256+certificate' : 'scram-sha-256';
    return { method, serverFinal: scram.serverFinal, credentials: { kind: 'scram', clientKey: scram.clientKey, serverKey: scram.verifier.serverKey } };
  } catch (err) {
    recordAuthFailure(client, err, ctx);
    throw err;
  }
}

/** certificateLogin logs in upstream for a certificate-only client: a minted client certificate, or a stored SCRAM client key. */
async function certificateLogin(user: string, policy: Policy): Promise<Login> {
  if (policy.minter) {
    const c = await policy.minter.certificateFor(user);
    return { method: 'certificate', serverFinal: null, credentials: { kind: 'none' }, clientCert: { cert: c.cert, key: c.key } };
  }
  const key = policy.upstreamKeys.get(user);
  if (!key) {
    throw new ClientFacingError(SQLSTATE.invalidAuthorization, `pgseal holds no upstream credentials for role "${user}"`, 'Add the role to auth.credentials_file or configure auth.upstream_cert.');
  }
  return { method: 'certificate', serverFinal: null, credentials: { kind: 'scram', clientKey: key.clientKey, serverKey: key.serverKey } };
}

async function startUpstreamSession(up: ConnectedUpstream, client: Client, login: Login, policy: Policy, deadline: number): Promise<LoggedIn> {
  try {
    return await loginUpstream(up, client.params, login.credentials, Math.max(policy.upstream.connectTimeoutMs, deadline - Date.now()));
  } catch (err) {
    up.socket.destroy();
    throw err;
  }
}

async function relayUntilClosed(client: Client, up: ConnectedUpstream, s: LoggedIn, login: Login, ctx: SessionContext, policy: Policy, log: Logger): Promise<void> {
  const started = ctx.clock.nowMicros();
  const key = ctx.cancels.issue({ session: client.id, pid: s.pid, secretKey: s.secretKey });
  const params = client.params;
  ctx.sink.append({
    type: 'session.start',
    session: client.id,
    client: client.from,
    tls: client.tls,
    certificate: certificateInfo(client.certificate),
    user: params.get('user')!,
    database: params.get('database')!,
    application_name: params.get('application_name') ?? '',
    auth_method: login.method,
    upstream: `${policy.upstream.host}:${policy.upstream.port}`,
  });
  log.info({ user: params.get('user'), database: params.get('database'), tls: client.tls?.version ?? 'none', identity: client.certificate?.identity }, 'session started');
  const tracker = new QueryTracker(client.id, ctx.sink, ctx.clock, policy.settings.paramPolicy, policy.settings.maxSqlBytes);
  const totals: RelayTotals = { fromClient: 0, fromServer: 0 };
  let reason = 'unknown';
  try {
    ctx.sink.flush();
    const auth = login.serverFinal ? [encodeAuthenticationSASLFinal(login.serverFinal)] : [];
    client.socket.write(Buffer.concat([...auth, encodeAuthenticationOk(), ...s.greeting, encodeBackendKeyData(key.pid, key.secretKey), s.readyForQuery]));
    const pending = { fromClient: client.reader.detach(), fromServer: up.reader.detach() };
    client.relaying = true;
    const [toClient, toServer] = await Promise.all([offload(client.socket, 'server'), offload(up.socket, 'client')]).catch((err: unknown) => {
      up.socket.destroy(); // the client's socket is destroyed by runSession's catch
      throw err;
    });
    if (toClient) {
      client.socket = toClient.socket;
      pending.fromClient = Buffer.concat([pending.fromClient, toClient.pending]);
    }
    if (toServer) pending.fromServer = Buffer.concat([pending.fromServer, toServer.pending]);
    log.debug({ client: toClient !== null, upstream: toServer !== null }, 'TLS records carried by pgseal\'s record layer');
    const codecs = { client: toClient?.codec, server: toServer?.codec };
    reason = await relay(client.socket, toServer?.socket ?? up.socket, pending, tracker, ctx.sink, policy.settings.maxMessageBytes, totals, (err) =>
      log.error({ err }, 'internal error while relaying'),
    codecs);
  } finally {
    ctx.cancels.release(key.pid);
    // The session is over either way: a log that refuses these records (closed at shutdown, or
    // failing) is reported, and the session still ends cleanly.
    try {
      tracker.abandon(`session ended: ${reason}`);
    } catch (err) {
      log.error({ reason: errorText(err) }, 'the results of unanswered queries could not be recorded');
    }
    try {
      ctx.sink.append({
        type: 'session.end',
        session: client.id,
        reason,
        queries: tracker.queries,
        errors: tracker.errors,
        bytes_from_client: totals.fromClient,
        bytes_from_server: totals.fromServer,
        duration_us: ctx.clock.nowMicros() - started,
      });
    } catch (err) {
      log.error({ reason: errorText(err) }, 'the session end could not be recorded');
    }
    log.info({ reason, queries: tracker.queries, errors: tracker.errors }, 'session ended');
  }
}

/** offload moves a TLS connection to pgseal's record layer for the relay, when it can (tls-offload.ts). */
function offload(socket: net.Socket | tls.TLSSocket, role: 'server' | 'client'): Promise<Offloaded | null> {
  return socket instanceof tls.TLSSocket ? offloadTls(socket, role) : Promise.resolve(null);
}

async function handleCancel(pid: number, secretKey: Buffer, from: ClientAddress, ctx: SessionContext, policy: Policy, log: Logger): Promise<void> {
  const target = ctx.cancels.lookup(pid, secretKey);
  ctx.sink.append({ type: 'cancel', session: target?.session ?? null, client: from, matched: target !== null });
  if (!target) return void log.info('cancel request with an unknown key ignored');
  await forwardCancel(policy.upstream, target).catch((err) => log.warn({ reason: (err as Error).message }, 'cancel request could not be forwarded'));
}

function recordAuthFailure(client: Client, err: unknown, ctx: SessionContext): void {
  const reason = errorText(err);
  ctx.sink.append({
    type: 'auth.failure',
    session: client.id,
    client: client.from,
    certificate: certificateInfo(client.certificate),
    user: client.params.get('user')!,
    database: client.params.get('database')!,
    sqlstate: sqlstateOf(err),
    reason,
  });
}

function recordReject(client: Client, err: unknown, reason: string, ctx: SessionContext): void {
  ctx.sink.append({
    type: 'session.reject',
    session: client.id,
    client: client.from,
    certificate: certificateInfo(client.certificate),
    user: client.params.get('user') ?? null,
    database: client.params.get('database') ?? null,
    sqlstate: sqlstateOf(err),
    reason,
  });
}

function flushQuietly(ctx: SessionContext): void {
  try {
    ctx.sink.flush();
  } catch {
    // the sink reports itself unhealthy; the client still gets its error
  }
}

function endWith(socket: net.Socket | tls.TLSSocket, bytes: Buffer): void {
  if (socket.destroyed) return;
  socket.end(bytes);
  setTimeout(() => socket.destroy(), 5_000).unref();
}

/** errorText is what the audit record and the operational log say of an error: pgseal's own message (for a failed login, which failure it was), never an internal one. */
function errorText(err: unknown): string {
  if (err instanceof PrivateReasonError) return err.reason;
  return err instanceof PgsealError ? err.message : 'internal error';
}
