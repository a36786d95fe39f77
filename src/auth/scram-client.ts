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
  parseIterationCount,
  sha256,
  takeAttribute,
  xorBuffers,
} from './scram-common.js';

// The client side of SCRAM-SHA-256 (RFC 5802 §5), for pgseal's upstream login. It holds the
// ClientKey recovered from the client's proof and the ServerKey from the verifier, not a
// password, so it never runs Hi(): salt and iteration count are parsed but not used.

/** SCRAM_MAX_SERVER_MESSAGE is the largest server-first or server-final message accepted, in bytes. */
export const SCRAM_MAX_SERVER_MESSAGE = 2048;

/** SCRAM_MAX_SERVER_ITERATIONS is the largest iteration count accepted (PostgreSQL's scram_iterations is an int). */
export const SCRAM_MAX_SERVER_ITERATIONS = 2_147_483_647;

/** ScramClientOptions configures one client-side exchange. */
export interface ScramClientOptions {
  clientKey: Buffer;
  serverKey: Buffer;
  /** tls-server-end-point data of the UPSTREAM certificate when upstream is TLS, else null. */
  channelBinding: Buffer | null;
  /** Fixed client nonce as ASCII text bytes (tests only); default base64 of 18 random bytes. */
  nonce?: Buffer;
}

type State =
  | { name: 'initial' }
  | { name: 'chosen'; mechanism: string }
  | { name: 'first-sent'; gs2Header: string; clientFirstBare: string }
  | { name: 'final-sent'; serverSignature: Buffer }
  | { name: 'done' }
  | { name: 'failed' };

function upstream(detail: string): PgsealError {
  return new PgsealError('upstream_protocol', detail);
}

/** Keeps a server-supplied text safe to put in an error message: printable ASCII, bounded. */
function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 100 ? `${clean.slice(0, 100)}...` : clean;
}

/**
 * ScramClientExchange logs in to PostgreSQL with SCRAM-SHA-256[-PLUS] from keys:
 * chooseMechanism → clientFirst → handleServerFirst → handleServerFinal. Any error ends it.
 */
export class ScramClientExchange {
  readonly #clientKey: Buffer;
  readonly #serverKey: Buffer;
  readonly #channelBinding: Buffer | null;
  readonly #nonce: string;
  #state: State = { name: 'initial' };

  constructor(options: ScramClientOptions) {
    if (options.clientKey.length !== SCRAM_KEY_LENGTH || options.serverKey.length !== SCRAM_KEY_LENGTH) {
      throw new PgsealError('auth_unavailable', 'SCRAM client and server keys must be 32 bytes');
    }
    this.#clientKey = options.clientKey;
    this.#serverKey = options.serverKey;
    this.#channelBinding = options.channelBinding;
    this.#nonce = makeNonce(options.nonce, 'auth_unavailable');
  }

  /** chooseMechanism picks from AuthenticationSASL's list: -PLUS when offered and we have binding data. */
  chooseMechanism(offered: string[]): string {
    if (this.#state.name !== 'initial') throw this.#fail(upstream('SASL mechanism already chosen'));
    let mechanism: string;
    if (this.#channelBinding !== null && offered.includes(SCRAM_SHA_256_PLUS)) mechanism = SCRAM_SHA_256_PLUS;
    else if (offered.includes(SCRAM_SHA_256)) mechanism = SCRAM_SHA_256;
    else throw this.#fail(upstream(`upstream offers no supported SASL mechanism (${printable(offered.join(' '))})`));
    this.#state = { name: 'chosen', mechanism };
    return mechanism;
  }

  /**
   * clientFirst returns the client-first-message for SASLInitialResponse. The gs2 flag is 'p'
   * with -PLUS and 'n' otherwise, never 'y': PostgreSQL over TLS refuses 'y' (TRAPS.md).
   */
  clientFirst(): Buffer {
    const state = this.#state;
    if (state.name !== 'chosen') throw this.#fail(upstream('SCRAM client-first-message before chooseMechanism'));
    const gs2Header = state.mechanism === SCRAM_SHA_256_PLUS ? `p=${TLS_SERVER_END_POINT},,` : 'n,,';
    // PostgreSQL ignores the SCRAM username and libpq sends it empty.
    const clientFirstBare = `n=,r=${this.#nonce}`;
    this.#state = { name: 'first-sent', gs2Header, clientFirstBare };
    return Buffer.from(gs2Header + clientFirstBare, 'utf8');
  }

  /** handleServerFirst checks AuthenticationSASLContinue's server-first-message and returns the client-final-message. */
  handleServerFirst(data: Buffer): Buffer {
    const state = this.#state;
    if (state.name !== 'first-sent') throw this.#fail(upstream('unexpected SCRAM server-first-message'));
    try {
      const serverFirst = decodeScramText(data, SCRAM_MAX_SERVER_MESSAGE, 'upstream_protocol', 'server-first-message');
      const nonce = this.#checkServerFirst(serverFirst);
      // c = base64(cbind-input), cbind-input = gs2-header [cbind-data] (RFC 5802 §7)
      const header = Buffer.from(state.gs2Header, 'utf8');
      const cbindInput = state.gs2Header.startsWith('p=') ? Buffer.concat([header, this.#channelBinding!]) : header;
      const finalWithoutProof = `c=${cbindInput.toString('base64')},r=${nonce}`;
      const authMessage = `${state.clientFirstBare},${serverFirst},${finalWithoutProof}`;
      // StoredKey = H(ClientKey); ClientSignature = HMAC(StoredKey, AuthMessage);
      // ClientProof = ClientKey XOR ClientSignature (RFC 5802 §3)
      const clientSignature = hmacSha256(sha256(this.#clientKey), authMessage);
      const proof = xorBuffers(this.#clientKey, clientSignature);
      this.#state = { name: 'final-sent', serverSignature: hmacSha256(this.#serverKey, authMessage) };
      return Buffer.from(`${finalWithoutProof},p=${proof.toString('base64')}`, 'utf8');
    } catch (err) {
      throw this.#fail(err);
    }
  }

  /** handleServerFinal verifies AuthenticationSASLFinal's server-final-message (the server's signature). */
  handleServerFinal(data: Buffer): void {
    const state = this.#state;
    if (state.name !== 'final-sent') throw this.#fail(upstream('unexpected SCRAM server-final-message'));
    try {
      // server-final-message = (server-error / verifier) ["," extensions] (RFC 5802 §7)
      const text = decodeScramText(data, SCRAM_MAX_SERVER_MESSAGE, 'upstream_protocol', 'server-final-message');
      const parts = text.split(',');
      if (parts[0]?.startsWith('e=')) {
        throw new PgsealError('auth_failed', `upstream SCRAM error: ${printable(parts[0].slice(2))}`);
      }
      if (parts.length !== 1) throw upstream('SCRAM extensions are not supported');
      const signature = decodeBase64Strict(takeAttribute(parts[0], 'v', 'upstream_protocol', 'server-final-message'));
      if (signature === null || signature.length !== SCRAM_KEY_LENGTH) {
        throw upstream('malformed SCRAM server signature');
      }
      if (!timingSafeEqual(signature, state.serverSignature)) throw upstream('upstream server signature mismatch');
      this.#state = { name: 'done' };
    } catch (err) {
      throw this.#fail(err);
    }
  }

  /** Checks server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count; returns the nonce. */
  #checkServerFirst(text: string): string {
    const parts = text.split(',');
    if (parts[0]?.startsWith('m=')) throw upstream('upstream requires an unsupported SCRAM extension');
    const nonce = takeAttribute(parts[0], 'r', 'upstream_protocol', 'server-first-message');
    // The server's nonce must extend ours (RFC 5802 §5.1), as libpq checks.
    if (!isPrintableNonce(nonce) || nonce.length <= this.#nonce.length || !nonce.startsWith(this.#nonce)) {
      throw upstream('SCRAM nonce mismatch in server-first-message');
    }
    const salt = decodeBase64Strict(takeAttribute(parts[1], 's', 'upstream_protocol', 'server-first-message'));
    if (salt === null || salt.length === 0) throw upstream('malformed SCRAM salt');
    const iterations = takeAttribute(parts[2], 'i', 'upstream_protocol', 'server-first-message');
    if (parseIterationCount(iterations, SCRAM_MAX_SERVER_ITERATIONS) === null) {
      throw upstream('malformed SCRAM iteration count');
    }
    if (parts.length !== 3) throw upstream('SCRAM extensions are not supported');
    return nonce;
  }

  /** Marks the exchange failed and returns the error to throw, wrapping anything unexpected. */
  #fail(err: unknown): PgsealError {
    this.#state = { name: 'failed' };
    if (err instanceof PgsealError) return err;
    return new PgsealError('upstream_protocol', 'malformed SCRAM message', { cause: err });
  }
}
