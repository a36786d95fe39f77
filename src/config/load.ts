import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { PgsealError } from '../errors.js';
import { configSchema, type Config } from './schema.js';

/** ConfigError is a configuration file that cannot be used; its message names the key and the problem. */
export class ConfigError extends PgsealError {
  constructor(message: string) {
    super('config_invalid', message);
  }
}

/** parseConfig validates YAML text, fills defaults and resolves paths against baseDir. */
export function parseConfig(text: string, baseDir: string, source = 'config'): Config {
  let raw: unknown;
  try {
    raw = parse(text, { uniqueKeys: true });
  } catch (err) {
    throw new ConfigError(`${source}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.join('.') || '(top level)';
    throw new ConfigError(`${source}: ${key}: ${issue.message}`);
  }
  return resolvePaths(result.data, baseDir);
}

/** loadConfig reads and validates a configuration file. */
export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PgsealError('io', `cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseConfig(text, dirname(resolve(file)), file);
}

function resolvePaths(c: Config, base: string): Config {
  const abs = (p: string) => resolve(base, p);
  const opt = (p: string | undefined) => (p === undefined ? undefined : abs(p));
  return {
    ...c,
    upstream: { ...c.upstream, ca: opt(c.upstream.ca) },
    tls: { ...c.tls, cert: abs(c.tls.cert), key: abs(c.tls.key), ca: abs(c.tls.ca), crl: opt(c.tls.crl) },
    mapping: { ...c.mapping, file: opt(c.mapping.file) },
    auth: {
      ...c.auth,
      auth_file: opt(c.auth.auth_file),
      credentials_file: opt(c.auth.credentials_file),
      upstream_cert: c.auth.upstream_cert
        ? { ...c.auth.upstream_cert, ca_cert: abs(c.auth.upstream_cert.ca_cert), ca_key: abs(c.auth.upstream_cert.ca_key) }
        : undefined,
      auth_query: c.auth.auth_query ? { ...c.auth.auth_query, credentials_file: abs(c.auth.auth_query.credentials_file) } : undefined,
    },
    audit: { ...c.audit, dir: abs(c.audit.dir), key: abs(c.audit.key) },
  };
}

/** splitHostPort splits "host:port" or "[v6]:port". */
export function splitHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  const host = s.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(s.slice(i + 1));
  if (!host || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`invalid address "${s}"`);
  return { host, port };
}
