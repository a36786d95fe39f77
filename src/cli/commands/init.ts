import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { parseConfig, splitHostPort } from '../../config/index.js';
import { PgsealError } from '../../errors.js';
import { initCa, issueServerCertificate } from '../../pki/index.js';
import { writeSigningKey } from '../signing-key.js';

type InitOptions = {
  dir: string;
  listen: string;
  upstream: string;
  upstreamCa?: string;
  upstreamTls: string;
  upstreamServerName?: string;
  origin?: string;
  authFile?: string;
  clientCert: string;
  auth: string;
  admin?: string;
};

/** register adds `pgseal init`, which writes a working configuration with its CA, server certificate and audit key. */
export function register(program: Command): void {
  program
    .command('init')
    .description('create a configuration, a CA and server certificate, and an audit signing key')
    .requiredOption('--dir <dir>', 'directory to create (pgseal.yaml, pki/, keys/, audit/)')
    .requiredOption('--listen <host:port>', 'address clients connect to')
    .requiredOption('--upstream <host:port>', 'PostgreSQL server address')
    .option('--upstream-ca <file>', 'CA certificate that signed the PostgreSQL server certificate')
    .option('--upstream-tls <mode>', 'disable | require | verify-ca | verify-full', 'verify-full')
    .option('--upstream-server-name <name>', 'host name expected in the upstream certificate (default: the upstream host)')
    .option('--origin <name>', 'audit log origin (checkpoint key name)')
    .option('--auth-file <file>', 'SCRAM verifiers in PgBouncer userlist format')
    .option('--client-cert <mode>', 'none | optional | require', 'none')
    .option('--auth <method>', 'scram | certificate', 'scram')
    .option('--admin <host:port>', 'admin address for /metrics and /healthz (e.g. 127.0.0.1:9187)')
    .action(async (o: InitOptions) => runInit(o));
}

async function runInit(o: InitOptions): Promise<void> {
  const dir = resolve(o.dir);
  const configPath = join(dir, 'pgseal.yaml');
  if (existsSync(configPath)) throw new PgsealError('usage', `${configPath} already exists; refusing to overwrite`);
  const listen = splitHostPort(o.listen);
  const origin = o.origin ?? `pgseal.local/${listen.host}:${listen.port}`;
  const doc = {
    listen: o.listen,
    upstream: {
      address: o.upstream,
      tls: o.upstreamTls,
      ...(o.upstreamCa ? { ca: resolve(o.upstreamCa) } : {}),
      ...(o.upstreamServerName ? { server_name: o.upstreamServerName } : {}),
    },
    tls: { cert: 'pki/issued/server.crt', key: 'pki/private/server.key', ca: 'pki/ca.crt', crl: 'pki/crl.pem', client_cert: o.clientCert },
    auth: { method: o.auth, ...(o.authFile ? { auth_file: resolve(o.authFile) } : {}) },
    audit: { dir: 'audit', origin, key: 'keys/audit.key' },
    ...(o.admin ? { admin: { listen: o.admin } } : {}),
    log: { level: 'info' },
  };
  const text = stringify(doc);
  parseConfig(text, dir, 'generated config'); // refuse bad flags before writing anything
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await initCa({ dir: join(dir, 'pki'), cn: `pgseal CA ${origin}`.slice(0, 64) }); // RFC 5280 ub-common-name
  const sans = new Set(['DNS:localhost', 'IP:127.0.0.1']);
  sans.add(isIP(listen.host) ? `IP:${listen.host}` : `DNS:${listen.host}`);
  await issueServerCertificate({ dir: join(dir, 'pki'), name: 'server', sans: [...sans] });
  const vkey = await writeSigningKey(join(dir, 'keys', 'audit.key'), keyNameOf(origin));
  await mkdir(join(dir, 'audit'), { recursive: true, mode: 0o700 });
  await writeFile(configPath, text, { mode: 0o600, flag: 'wx' });
  process.stdout.write(`wrote ${configPath}\naudit verifier key: ${vkey}\n`);
}

function keyNameOf(origin: string): string {
  return origin.replace(/[\s+]/g, '_');
}
