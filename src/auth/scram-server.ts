import { timingSafeEqual } from 'node:crypto';
import { PgsealError } from '../errors.js';
import {
  SCRAM_KEY_LENGTH,
  SCRAM_SHA_256,
  SCRAM_SHA_256_PLUS,
  TLS_SERVER_END_POINT,
  decodeBase64Strict,
  decodeScramText,
  hmacSha256,
  isPrintableNonce,
  makeNonce,
  sha256,
  takeAttribute,
  xorBuffers,
} from './scram-common.js';
import type { ScramVerifier } from './scram-verifier.js';

export { tlsServerEndPoint } from './tls-server-end-point.js';

// The server side of SCRAM-SHA-256 (RFC 5802 §5, RFC 7677), as PostgreSQL runs it
// (src/backend/libpq/auth-scram.c): the SCRAM username `n=` is ignored (the startup packet's
// user counts; libpq sends `n=,`), the server nonce is appended to the client's, and `c=` is
// base64 of the gs2 header plus, with channel binding, the tls-server-end-point data.
// pgseal's twist: a correct proof also yields the ClientKey (proof XOR ClientSignature), which
// the caller uses to log in upstream (DESIGN §1 step 3).

/** SCRAM_MAX_CLIENT_FIRST is the largest client-first-message accepted, in bytes. */
export const SCRAM_MAX_CLIENT_FIRST = 1024;

/** SCRAM_MAX_CLIENT_FINAL is the largest client-final-message accepted, in bytes. */
export const SCRAM_MAX_CLIENT_FINAL = 2048;

/** ScramServerOptions configures one server-side exchange. */
export interface ScramServerOptions {
  verifier: ScramVerifier;
  /** tls-server-end-point data of OUR certificate; null when SCRAM-SHA-256-PLUS is not offered. */
  channelBinding: Buffer | null;
  /** Fixed server nonce as ASCII text bytes (tests only); default base64 of 18 random bytes. */
  nonce?: Buffer;
}

/** ScramServerResult is what a verified client-final-message yields. */
export interface ScramServerResult {
  serverFinal: Buffer;
  clientKey: Buffer;
}

type State =
  | { name: 'initial' }
  | { name: 'awaiting-final'; gs2Header: string; clientFirstBare: string; serverFirst: string; nonce: string }
  | { name: 'done' }
  | { name: 'failed' };

function violation(detail: string): PgsealError {
  return new PgsealError('protocol_violation', detail);
}

/**
 * ScramServerExchange runs SCRAM-SHA-256[-PLUS] with a client against a stored verifier:
 * mechanisms → handleClientFirst → handleClientFinal. Any error ends the exchange.
 */
export class ScramServerExchange {
  readonly #verifier: ScramVerifier;
  readonly #channelBinding: Buffer | null;
  readonly #serverNonce: string;
  #state: State = { name: 'initial' };

  constructor(options: ScramServerOptions) {
    const { verifier } = options;
    if (verifier.storedKey.length !== SCRAM_KEY_LENGTH || verifier.serverKey.length !== SCRAM_KEY_LENGTH) {
      throw new PgsealError('auth_unavailable', 'SCRAM verifier keys must be 32 bytes');
    }
    this.#verifier = verifier;
    this.#channelBinding = options.channelBinding;
    this.#serverNonce = makeNonce(options.nonce, 'auth_unavailable');
  }

  /** mechanisms lists the SASL mechanisms to offer in AuthenticationSASL, preferred first. */
  mechanisms(): string[] {
    return this.#channelBinding === null ? [SCRAM_SHA_256] : [SCRAM_SHA_256_PLUS, SCRAM_SHA_256];
  }

  /** handleClientFirst checks the client-first-message (SASLInitialResponse) and returns the server-first-message. */
  handleClientFirst(mechanism: string, data: Buffer): Buffer {
    if (this.#state.name !== 'initial') throw this.#fail(violation('unexpected SCRAM client-first-message'));
    try {
      if (!this.mechanisms().includes(mechanism)) {
        throw violation('client selected an invalid SASL authentication mechanism');
      }
      const text = decodeScramText(data, SCRAM_MAX_CLIENT_FIRST, 'protocol_violation', 'client-first-message');
      // client-first-message = gs2-header client-first-message-bare;
      // gs2-header = gs2-cbind-flag "," [authzid] ","  (RFC 5802 §7)
      const parts = text.split(',');
      const gs2Header = `${parts[0]},${parts[1] ?? ''},`;
      this.#checkGs2Header(mechanism, parts[0]!, parts[1]);
      const clientNonce = this.#checkClientFirstBare(parts.slice(2));
      const serverFirst = this.#serverFirst(clientNonce);
      this.#state = {
        name: 'awaiting-final',
        gs2Header,
        clientFirstBare: parts.slice(2).join(','),
        serverFirst,
        nonce: clientNonce + this.#serverNonce,
      };
      return Buffer.from(serverFirst, 'utf8');
    } catch (err) {
      throw this.#fail(err);
    }
  }

  /** handleClientFinal verifies the client-final-message (SASLResponse), returning server-final-message and ClientKey. */
  handleClientFinal(data: Buffer): ScramServerResult {
    const state = this.#state;
    if (state.name !== 'awaiting-final') throw this.#fail(violation('unexpected SCRAM client-final-message'));
    try {
      const text = decodeScramText(data, SCRAM_MAX_CLIENT_FINAL, 'protocol_violation', 'client-final-message');
      // client-final-message = channel-binding "," nonce ["," extensions] "," proof (RFC 5802 §7);
      // extensions are refused, as no client sends them.
      const parts = text.split(',');
      if (parts.length !== 3) throw violation('malformed SCRAM client-final-message');
      const cbind = decodeBase64Strict(takeAttribute(parts[0], 'c', 'protocol_violation', 'client-final-message'));
      if (cbind === null || !cbind.equals(this.#expectedCbind(state.gs2Header))) {
        throw violation('SCRAM channel binding check failed');
      }
      if (takeAttribute(parts[1], 'r', 'protocol_violation', 'client-final-message') !== state.nonce) {
        throw violation('SCRAM nonce does not match');
      }
      const proof = decodeBase64Strict(takeAttribute(parts[2], 'p', 'protocol_violation', 'client-final-message'));
      if (proof === null || proof.length !== SCRAM_KEY_LENGTH) throw violation('malformed SCRAM client proof');

      // AuthMessage = client-first-message-bare "," server-first-message "," client-final-message-without-proof
      const authMessage = `${state.clientFirstBare},${state.serverFirst},${parts[0]},${parts[1]}`;
      // ClientSignature = HMAC(StoredKey, AuthMessage); ClientKey = ClientProof XOR ClientSignature;
      // the proof is good when H(ClientKey) = StoredKey (RFC 5802 §3).
      const clientKey = xorBuffers(proof, hmacSha256(this.#verifier.storedKey, authMessage));
      if (!timingSafeEqual(sha256(clientKey), this.#verifier.storedKey)) {
        throw new PgsealError('auth_failed', 'password authentication failed');
      }
      // ServerSignature = HMAC(ServerKey, AuthMessage); server-final-message = "v=" base64(ServerSignature)
      const serverSignature = hmacSha256(this.#verifier.serverKey, authMessage);
      this.#state = { name: 'done' };
      return { serverFinal: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8'), clientKey };
    } catch (err) {
      throw this.#fail(err);
    }
  }

  /** Validates gs2-cbind-flag against the mechanism and what we offered, and refuses an authzid. */
  #checkGs2Header(mechanism: string, flag: string, authzid: string | undefined): void {
    const plus = mechanism === SCRAM_SHA_256_PLUS;
    if (flag === 'n' || flag === 'y') {
      if (plus) throw violation('client selected SCRAM-SHA-256-PLUS but sent no channel binding data');
      // 'y': the client supports channel binding but thinks we do not. If we offered PLUS,
      // someone removed it from the mechanism list: a downgrade (RFC 5802 §6).
      if (flag === 'y' && this.#channelBinding !== null) throw violation('SCRAM channel binding negotiation error');
    } else if (flag.startsWith('p=')) {
      if (!plus) throw violation('client selected SCRAM-SHA-256 but sent channel binding data');
      if (flag !== `p=${TLS_SERVER_END_POINT}`) throw violation('unsupported SCRAM channel-binding type');
    } else {
      throw violation('malformed SCRAM client-first-message: bad gs2-cbind-flag');
    }
    if (authzid === undefined) throw violation('malformed SCRAM client-first-message: missing gs2 header');
    if (authzid !== '') throw violation('SCRAM authorization identity is not supported');
  }

  /** Checks client-first-message-bare = [reserved-mext ","] username "," nonce; returns the nonce. */
  #checkClientFirstBare(attrs: string[]): string {
    if (attrs[0]?.startsWith('m=')) throw violation('client requires an unsupported SCRAM extension');
    // The username is ignored, as PostgreSQL does: the startup packet names the role.
    takeAttribute(attrs[0], 'n', 'protocol_violation', 'client-first-message');
    const nonce = takeAttribute(attrs[1], 'r', 'protocol_violation', 'client-first-message');
    if (!isPrintableNonce(nonce)) throw violation('malformed SCRAM client nonce');
    if (attrs.length !== 2) throw violation('SCRAM extensions are not supported');
    return nonce;
  }

  /** server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count (RFC 5802 §7). */
  #serverFirst(clientNonce: string): string {
    const { salt, iterations } = this.#verifier;
    return `r=${clientNonce}${this.#serverNonce},s=${salt.toString('base64')},i=${iterations}`;
  }

  /** cbind-input = gs2-header [cbind-data], cbind-data only with 'p' (RFC 5802 §7). */
  #expectedCbind(gs2Header: string): Buffer {
    const header = Buffer.from(gs2Header, 'utf8');
    return gs2Header.startsWith('p=') && this.#channelBinding !== null
      ? Buffer.concat([header, this.#channelBinding])
      : header;
  }

  /** Marks the exchange failed and returns the error to throw, wrapping anything unexpected. */
  #fail(err: unknown): PgsealError {
    this.#state = { name: 'failed' };
    if (err instanceof PgsealError) return err;
    return new PgsealError('protocol_violation', 'malformed SCRAM message', { cause: err });
  }
}
