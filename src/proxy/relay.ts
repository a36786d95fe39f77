import type { Duplex } from 'node:stream';
import type { AuditSink } from '../audit/events.js';
import { PgsealError } from '../errors.js';
import { collectTable, MessageFramer, encodeErrorResponse, SQLSTATE } from '../protocol/index.js';
import { clientErrorResponse } from './client-errors.js';
import type { QueryTracker } from './query-tracker.js';
import { relayLeg } from './relay-leg.js';
import type { RecordCodec } from './tls-offload.js';

/** RelayTotals counts the bytes each side sent. */
export type RelayTotals = { fromClient: number; fromServer: number };

// Bodies the tracker decodes; every other message is only counted and forwarded.
const FRONTEND_BODIES = collectTable('QPBECF');
const BACKEND_BODIES = collectTable('CE');

/**
 * relay forwards bytes both ways exactly as they came while framing each direction for the
 * tracker. A chunk that carries a query is forwarded only after its `query` record has
 * been handed to the kernel. Backpressure: a side whose peer cannot keep up is paused.
 * Resolves with the reason the session ended.
 */
export function relay(
  clientSocket: Duplex,
  serverSocket: Duplex,
  pending: { fromClient: Buffer; fromServer: Buffer },
  tracker: QueryTracker,
  sink: AuditSink,
  maxMessageBytes: number,
  totals: RelayTotals,
  onInternalError: (err: unknown) => void,
  codecs: { client?: RecordCodec | undefined; server?: RecordCodec | undefined } = {},
): Promise<string> {
  return new Promise((resolve) => {
    const client = relayLeg(clientSocket, codecs.client);
    const server = relayLeg(serverSocket, codecs.server);
    let done = false;
    const finish = (reason: string, toClient?: Buffer) => {
      if (done) return;
      done = true;
      if (toClient) {
        client.end(toClient);
        setTimeout(() => client.destroy(), 5_000).unref(); // a client that does not read its error
      } else client.destroy();
      server.destroy();
      resolve(reason);
    };
    const clientFramer = new MessageFramer(FRONTEND_BODIES, maxMessageBytes, (c, b, l) => {
      if (c === 0x58 /* X Terminate */) terminated = true;
      tracker.frontend(c, b, l);
    });
    const serverFramer = new MessageFramer(BACKEND_BODIES, Number.MAX_SAFE_INTEGER, (c, b, l) => tracker.backend(c, b, l));
    let terminated = false;

    // Chunks wait here, in order, while the audit records of an earlier chunk are committed.
    const held: Buffer[] = [];
    let heldBytes = 0;
    let committing = false;
    let serverFull = false;
    let clientFull = false;
    const resumeClient = () => {
      if (!committing && !serverFull && heldBytes <= HOLD_LIMIT && !done) client.resume();
    };
    const forward = (chunk: Buffer) => {
      if (!server.write(chunk) && !serverFull) {
        serverFull = true;
        client.pause();
        server.onDrain(() => {
          serverFull = false;
          resumeClient();
        });
      }
    };
    const drainHeld = () => {
      while (held.length > 0 && !committing && !done) {
        const chunk = held.shift()!;
        heldBytes -= chunk.length;
        if (!inspect(chunk)) return;
        if (tracker.queriesSinceFlush > 0) commitThen(chunk);
        else forward(chunk);
      }
      resumeClient();
    };
    const commitThen = (chunk: Buffer) => {
      tracker.queriesSinceFlush = 0;
      committing = true;
      let synchronous = true;
      sink.commit((err) => {
        committing = false;
        if (err) return finish('audit log unavailable', clientErrorResponse(err));
        forward(chunk); // the audit record is durable before the query reaches PostgreSQL
        if (!synchronous) drainHeld();
      });
      synchronous = false;
    };
    const inspect = (chunk: Buffer): boolean => {
      try {
        clientFramer.push(chunk);
        return true;
      } catch (err) {
        if (!(err instanceof PgsealError)) onInternalError(err);
        finish(errorReason(err), clientErrorResponse(err));
        return false;
      }
    };
    const fromClient = (chunk: Buffer) => {
      if (done) return; // the session has ended: nothing more reaches the tracker
      totals.fromClient += chunk.length;
      if (committing) {
        // Chunks that arrive while a commit is in flight wait their turn; a client that keeps
        // sending is paused, so nothing buffers without bound.
        held.push(chunk);
        heldBytes += chunk.length;
        if (heldBytes > HOLD_LIMIT) client.pause();
        return;
      }
      if (!inspect(chunk)) return;
      if (tracker.queriesSinceFlush > 0) commitThen(chunk);
      else forward(chunk);
    };
    const fromServer = (chunk: Buffer) => {
      if (done) return;
      totals.fromServer += chunk.length;
      try {
        serverFramer.push(chunk);
      } catch (err) {
        if (!(err instanceof PgsealError)) onInternalError(err);
        // The tracker's records can fail too (the log closed or refused a line): say so, not "invalid message".
        if (err instanceof PgsealError && err.code.startsWith('audit')) return finish(errorReason(err), clientErrorResponse(err));
        return finish(`upstream protocol error: ${errorReason(err)}`, encodeErrorResponse({ severity: 'FATAL', code: SQLSTATE.connectionFailure, message: 'upstream sent an invalid message' }));
      }
      if (!client.write(chunk) && !clientFull) {
        clientFull = true;
        server.pause();
        client.onDrain(() => {
          clientFull = false;
          server.resume();
        });
      }
    };

    const closed = (side: 'client' | 'server') => (how: 'end' | 'error' | 'close') => {
      if (side === 'client') {
        if (how === 'error') return finish('client connection error');
        return finish(terminated ? 'client terminated' : 'client disconnected');
      }
      if (how === 'error') return finish('upstream connection error', upstreamLost());
      if (terminated) return finish('client terminated');
      finish('upstream closed the connection', how === 'close' ? upstreamLost() : undefined);
    };
    if (pending.fromServer.length > 0) fromServer(pending.fromServer);
    if (pending.fromClient.length > 0) fromClient(pending.fromClient);
    server.start(fromServer, closed('server'));
    client.start(fromClient, closed('client'));
  });
}

const HOLD_LIMIT = 1 << 20;

function upstreamLost(): Buffer {
  return encodeErrorResponse({ severity: 'FATAL', code: SQLSTATE.connectionFailure, message: 'connection to the upstream server was lost' });
}

function errorReason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
