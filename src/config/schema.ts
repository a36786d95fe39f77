import { z } from 'zod';

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^\s:]+):\d{1,5}$/, 'expected HOST:PORT');
const tlsMode = z.enum(['disable', 'require', 'verify-ca', 'verify-full']);

/** configSchema is the shape of pgseal.yaml; every key has a default except the addresses and files. */
export const configSchema = z
  .object({
    listen: hostPort,
    upstream: z
      .object({
        address: hostPort,
        tls: tlsMode.default('verify-full'),
        ca: z.string().optional(),
        server_name: z.string().optional(),
        connect_timeout_ms: z.number().int().min(100).max(600_000).default(5_000),
      })
      .strict(),
    tls: z
      .object({
        cert: z.string(),
        key: z.string(),
        ca: z.string(),
        min_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
        client_cert: z.enum(['none', 'optional', 'require']).default('none'),
        crl: z.string().optional(),
        identity: z.enum(['cn', 'dn', 'san-email', 'san-uri']).default('cn'),
        allow_plaintext: z.boolean().default(false),
        direct_tls: z.boolean().default(true),
      })
      .strict(),
    auth: z
      .object({
        method: z.enum(['scram', 'certificate']).default('scram'),
        auth_file: z.string().optional(),
        credentials_file: z.string().optional(),
        upstream_cert: z
          .object({ ca_cert: z.string(), ca_key: z.string(), validity_minutes: z.number().int().min(1).max(1440).default(10) })
          .strict()
          .optional(),
        // The decoy SCRAM exchange of roles without a verifier (README): by default the shape most
        // of auth_file's verifiers have; set these where verifiers come from auth_query with a
        // non-default scram_iterations.
        decoy_iterations: z.number().int().min(1).max(10_000_000).optional(),
        decoy_salt_length: z.number().int().min(1).max(1024).optional(),
        auth_query: z
          .object({
            role: z.string().min(1),
            credentials_file: z.string(),
            sql: z.string().min(1).default('SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1'),
            database: z.string().min(1).default('postgres'),
            cache_ms: z.number().int().min(0).max(86_400_000).default(60_000),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ method: 'scram' }),
    mapping: z
      .object({ file: z.string().optional(), certificate_roles: z.boolean().default(true) })
      .strict()
      .default({ certificate_roles: true }),
    limits: z
      .object({
        max_clients: z.number().int().min(1).max(100_000).default(1_000),
        startup_timeout_ms: z.number().int().min(100).max(600_000).default(10_000),
        max_message_bytes: z.number().int().min(1024).max(1 << 30).default(64 << 20),
        allow_replication: z.boolean().default(false),
        shutdown_timeout_ms: z.number().int().min(0).max(3_600_000).default(30_000),
      })
      .strict()
      .default({
        max_clients: 1_000,
        startup_timeout_ms: 10_000,
        max_message_bytes: 64 << 20,
        allow_replication: false,
        shutdown_timeout_ms: 30_000,
      }),
    audit: z
      .object({
        dir: z.string(),
        origin: z.string().min(1),
        key: z.string(),
        max_param_bytes: z.number().int().min(0).max(1 << 20).default(1024),
        max_sql_bytes: z.number().int().min(1024).max(2 << 20).default(1 << 20),
        redact_params: z.boolean().default(false),
        durability: z.enum(['os', 'fsync']).default('os'),
        checkpoint_every: z.number().int().min(1).max(10_000_000).default(5000),
        checkpoint_ms: z.number().int().min(10).max(3_600_000).default(1000),
        segment_max_bytes: z.number().int().min(4096).max(1 << 40).default(64 << 20),
        segment_max_ms: z.number().int().min(1000).max(366 * 86_400_000).default(86_400_000),
        enabled: z.boolean().default(true),
      })
      .strict(),
    admin: z
      .object({ listen: hostPort.optional() })
      .strict()
      .default({}),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

/** Config is a validated configuration with defaults filled and paths made absolute. */
export type Config = z.infer<typeof configSchema>;
