import type { ScramClientKey } from '../auth/index.js';
import { PgsealError, PrivateReasonError } from '../errors.js';
import { decodeDataRow, decodeErrorFields, encodeBind, encodeExecute, encodeParse, encodeSync, encodeTerminate } from '../protocol/index.js';
import type { VerifierSource } from './client-auth.js';
import { connectUpstream, type UpstreamTarget } from './upstream-connect.js';
import { UpstreamError } from './upstream-errors.js';
import { loginUpstream } from './upstream-login.js';

/** AuthQuerySettings say how to fetch verifiers from PostgreSQL itself. */
export type AuthQuerySettings = { role: string; key: ScramClientKey; sql: string; database: string; cacheMs: number };

/**
 * AuthQuerySource fetches a role's SCRAM verifier from the upstream with a query run as a
 * dedicated role (PgBouncer's auth_query), logging in with that role's stored client key.
 * Answers are cached for cacheMs, misses included, so a flood of unknown roles costs one query each per period.
 */
export class AuthQuerySource implements VerifierSource {
  private readonly cache = new Map<string, { secret: string | undefined; until: number }>();

  constructor(
    private readonly upstream: UpstreamTarget,
    private readonly settings: AuthQuerySettings,
  ) {}

  /** secretFor returns the role's stored secret (rolpassword) or undefined when the role has none. */
  async secretFor(role: string): Promise<string | undefined> {
    const hit = this.cache.get(role);
    if (hit && hit.until > Date.now()) return hit.secret;
    let secret: string | undefined;
    try {
      secret = await this.query(role);
    } catch (err) {
      // The client is not authenticated yet: it hears that its verifier could not be fetched, and
      // the operator (audit record, log) what went wrong, which may name the auth role or tables.
      const why = err instanceof PgsealError ? err.message : String(err);
      throw new PrivateReasonError('auth_unavailable', 'authentication is unavailable: the role\'s SCRAM verifier could not be fetched', `auth_query for role "${role}" failed: ${why}`, { cause: err });
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(role, { secret, until: Date.now() + this.settings.cacheMs });
    return secret;
  }

  private async query(role: string): Promise<string | undefined> {
    const up = await connectUpstream(this.upstream);
    try {
      const s = this.settings;
      const params = new Map([['user', s.role], ['database', s.database], ['application_name', 'pgseal auth_query']]);
      await loginUpstream(up, params, { kind: 'scram', clientKey: s.key.clientKey, serverKey: s.key.serverKey }, this.upstream.connectTimeoutMs);
      up.socket.write(Buffer.concat([encodeParse('', s.sql), encodeBind('', '', [role]), encodeExecute(''), encodeSync()]));
      let secret: string | undefined;
      for (;;) {
        const { code, body } = await up.reader.readMessage(1 << 20, this.upstream.connectTimeoutMs, 'the auth_query result');
        if (code === 0x44 /* D */) {
          const v = decodeDataRow(body)[0];
          secret ??= v === null || v === undefined ? undefined : v.toString('utf8');
        } else if (code === 0x45 /* E */) {
          const f = decodeErrorFields(body);
          throw new UpstreamError('upstream_protocol', `auth_query failed: ${f.code} ${f.message}`);
        } else if (code === 0x5a /* Z */) {
          up.socket.end(encodeTerminate());
          return secret;
        }
      }
    } finally {
      up.socket.destroy();
    }
  }
}

/** chainSources asks each source in turn and returns the first secret found. */
export function chainSources(sources: VerifierSource[]): VerifierSource {
  return {
    async secretFor(role) {
      for (const s of sources) {
        const v = await s.secretFor(role);
        if (v !== undefined) return v;
      }
      return undefined;
    },
  };
}
