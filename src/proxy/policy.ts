import { X509Certificate, createPrivateKey, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type tls from 'node:tls';
import { SCRAM_DEFAULT_ITERATIONS, SCRAM_DEFAULT_SALT_LENGTH, parseIdentMap, parseScramClientKey, parseScramVerifier, parseUserlist, tlsServerEndPoint, type ScramClientKey } from '../auth/index.js';
import { splitHostPort, type Config } from '../config/index.js';
import { PgsealError } from '../errors.js';
import { AuthQuerySource, chainSources } from './auth-query.js';
import type { Decoy, VerifierSource } from './client-auth.js';
import type { CertificatePolicy, IdentitySource } from './client-identity.js';
import { UpstreamCertificateMinter } from './upstream-cert.js';
import type { UpstreamTarget } from './upstream-connect.js';

/** ProxySettings are the parts of the configuration a session reads. */
export type ProxySettings = {
  allowPlaintext: boolean;
  directTls: boolean;
  startupTimeoutMs: number;
  maxMessageBytes: number;
  maxClients: number;
  allowReplication: boolean;
  paramPolicy: { maxBytes: number; redact: boolean };
  maxSqlBytes: number;
  authMethod: 'scram' | 'certificate';
  identitySource: IdentitySource;
};

/**
 * Policy is everything loaded from the configuration and the files it names. A session
 * reads the policy current when it starts; SIGHUP builds a new one and swaps it in only
 * when every file loaded.
 */
export type Policy = {
  settings: ProxySettings;
  upstream: UpstreamTarget;
  tlsOptions: tls.TlsOptions;
  /** channelBinding is tls-server-end-point of pgseal's own certificate, or null when -PLUS cannot be offered. */
  channelBinding: Buffer | null;
  verifiers: VerifierSource;
  /** decoy shapes the SCRAM exchange of roles without a verifier (client-auth.ts). */
  decoy: Decoy;
  certificates: CertificatePolicy;
  /** upstreamKeys are SCRAM client keys for certificate logins (auth.credentials_file). */
  upstreamKeys: Map<string, ScramClientKey>;
  minter: UpstreamCertificateMinter | null;
};

/** loadPolicy validates and loads every file the configuration names; it throws rather than half-load. */
export function loadPolicy(c: Config): Policy {
  const up = splitHostPort(c.upstream.address);
  const cert = readOrThrow(c.tls.cert, 'tls.cert');
  const upstream: UpstreamTarget = {
    host: up.host,
    port: up.port,
    tlsMode: c.upstream.tls,
    ca: c.upstream.ca ? readOrThrow(c.upstream.ca, 'upstream.ca') : undefined,
    serverName: c.upstream.server_name ?? up.host,
    connectTimeoutMs: c.upstream.connect_timeout_ms,
  };
  const key = readOrThrow(c.tls.key, 'tls.key');
  const { source: verifiers, shape } = loadVerifiers(c, upstream);
  return {
    settings: {
      allowPlaintext: c.tls.allow_plaintext,
      directTls: c.tls.direct_tls,
      startupTimeoutMs: c.limits.startup_timeout_ms,
      maxMessageBytes: c.limits.max_message_bytes,
      maxClients: c.limits.max_clients,
      allowReplication: c.limits.allow_replication,
      paramPolicy: { maxBytes: c.audit.max_param_bytes, redact: c.audit.redact_params },
      maxSqlBytes: c.audit.max_sql_bytes,
      authMethod: c.auth.method,
      identitySource: c.tls.identity,
    },
    upstream,
    tlsOptions: {
      cert,
      key,
      ca: readOrThrow(c.tls.ca, 'tls.ca'),
      ...(c.tls.crl ? { crl: readOrThrow(c.tls.crl, 'tls.crl') } : {}),
      minVersion: c.tls.min_version,
      requestCert: c.tls.client_cert !== 'none' || c.auth.method === 'certificate',
      ALPNProtocols: ['postgresql'],
      handshakeTimeout: c.limits.startup_timeout_ms,
    },
    channelBinding: endPointOf(cert),
    verifiers,
    decoy: {
      secret: Buffer.from(hkdfSync('sha256', canonicalKey(key), 'pgseal', 'decoy SCRAM verifiers', 32)),
      iterations: c.auth.decoy_iterations ?? shape.iterations,
      saltLength: c.auth.decoy_salt_length ?? shape.saltLength,
    },
    certificates: {
      mode: c.auth.method === 'certificate' ? 'require' : c.tls.client_cert,
      rules: c.mapping.file ? parseIdentMap(readOrThrow(c.mapping.file, 'mapping.file').toString('utf8')) : [],
      mapConfigured: c.mapping.file !== undefined,
      useCertificateRoles: c.mapping.certificate_roles,
    },
    upstreamKeys: loadClientKeys(c.auth.credentials_file, 'auth.credentials_file'),
    minter: c.auth.upstream_cert
      ? new UpstreamCertificateMinter(
          readOrThrow(c.auth.upstream_cert.ca_cert, 'auth.upstream_cert.ca_cert'),
          readOrThrow(c.auth.upstream_cert.ca_key, 'auth.upstream_cert.ca_key'),
          c.auth.upstream_cert.validity_minutes,
        )
      : null,
  };
}

function endPointOf(certPem: Buffer): Buffer | null {
  try {
    return tlsServerEndPoint(new X509Certificate(certPem).raw);
  } catch {
    return null; // no hash in the signature (Ed25519): SCRAM-SHA-256-PLUS is not offered
  }
}

function loadClientKeys(file: string | undefined, key: string): Map<string, ScramClientKey> {
  const keys = new Map<string, ScramClientKey>();
  if (!file) return keys;
  for (const [role, secret] of parseUserlist(readOrThrow(file, key).toString('utf8'))) {
    try {
      keys.set(role, parseScramClientKey(secret));
    } catch {
      throw new PgsealError('config_invalid', `${key}: the entry for "${role}" is not a SCRAM client key (make one with "pgseal keys client-key")`);
    }
  }
  return keys;
}

// The verifier sources, and the iteration count and salt length a decoy takes: those most of
// the auth file's verifiers have (a decoy unlike them would give a missing role away), else
// PostgreSQL's defaults, which verifiers fetched by auth_query normally have.
function loadVerifiers(c: Config, upstream: UpstreamTarget): { source: VerifierSource; shape: Shape } {
  const sources: VerifierSource[] = [];
  let shape: Shape = { iterations: SCRAM_DEFAULT_ITERATIONS, saltLength: SCRAM_DEFAULT_SALT_LENGTH };
  if (c.auth.auth_file) {
    const table = parseUserlist(readOrThrow(c.auth.auth_file, 'auth.auth_file').toString('utf8'));
    sources.push({ secretFor: (role) => table.get(role) });
    shape = commonShape(table.values()) ?? shape;
  }
  const q = c.auth.auth_query;
  if (q) {
    const keys = loadClientKeys(q.credentials_file, 'auth.auth_query.credentials_file');
    const key = keys.get(q.role);
    if (!key) throw new PgsealError('config_invalid', `auth.auth_query.credentials_file: no entry for role "${q.role}"`);
    sources.push(new AuthQuerySource(upstream, { role: q.role, key, sql: q.sql, database: q.database, cacheMs: q.cache_ms }));
  }
  return { source: chainSources(sources), shape };
}

// The key as PKCS#8 DER, so the decoy secret does not change with the file's encoding (PKCS#1
// or PKCS#8 PEM, line endings, attribute lines) across instances that serve the same key.
function canonicalKey(pem: Buffer): Buffer {
  try {
    return createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  } catch {
    return pem; // Node's TLS will refuse it anyway
  }
}

type Shape = { iterations: number; saltLength: number };

function commonShape(secrets: Iterable<string>): Shape | null {
  const shapes = new Map<string, Shape & { count: number }>();
  for (const secret of secrets) {
    try {
      const v = parseScramVerifier(secret);
      const k = `${v.iterations}:${v.salt.length}`;
      const s = shapes.get(k) ?? { iterations: v.iterations, saltLength: v.salt.length, count: 0 };
      s.count += 1;
      shapes.set(k, s);
    } catch {
      // not a SCRAM verifier: such roles get a decoy themselves
    }
  }
  // The most common shape; on a tie PostgreSQL's default, then the lower iteration count and salt
  // length, so the choice does not depend on the order of the file.
  const isDefault = (s: Shape) => (s.iterations === SCRAM_DEFAULT_ITERATIONS && s.saltLength === SCRAM_DEFAULT_SALT_LENGTH ? 1 : 0);
  const ranked = [...shapes.values()].sort((a, b) => b.count - a.count || isDefault(b) - isDefault(a) || a.iterations - b.iterations || a.saltLength - b.saltLength);
  const best = ranked[0];
  return best === undefined ? null : { iterations: best.iterations, saltLength: best.saltLength };
}

function readOrThrow(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new PgsealError('config_invalid', `${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
