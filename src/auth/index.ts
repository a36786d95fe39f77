// Public surface of src/auth: SCRAM-SHA-256 pass-through primitives (DESIGN §1 step 3).
// Pure: no sockets, no logging.

export {
  SCRAM_SHA_256,
  SCRAM_SHA_256_PLUS,
  TLS_SERVER_END_POINT,
} from './scram-common.js';
export {
  type ScramKeys,
  type ScramVerifier,
  SCRAM_DEFAULT_ITERATIONS,
  SCRAM_DEFAULT_SALT_LENGTH,
  SCRAM_MAX_VERIFIER_ITERATIONS,
  buildScramVerifier,
  deriveScramKeys,
  formatScramVerifier,
  parseScramVerifier,
} from './scram-verifier.js';
export {
  type ScramServerOptions,
  type ScramServerResult,
  SCRAM_MAX_CLIENT_FINAL,
  SCRAM_MAX_CLIENT_FIRST,
  ScramServerExchange,
} from './scram-server.js';
export {
  type ScramClientOptions,
  SCRAM_MAX_SERVER_ITERATIONS,
  SCRAM_MAX_SERVER_MESSAGE,
  ScramClientExchange,
} from './scram-client.js';
export { tlsServerEndPoint } from './tls-server-end-point.js';
export { parseUserlist } from './userlist.js';
export { SCRAM_CLIENT_KEY_PREFIX, type ScramClientKey, clientKeyFromPassword, formatScramClientKey, parseScramClientKey } from './client-key.js';
export { type IdentRule, parseIdentMap, rolesForIdentity } from './ident-map.js';
