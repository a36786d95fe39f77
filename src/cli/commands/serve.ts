import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { AdminServer, MeteredSink } from '../../admin/index.js';
import { parseSignerKey } from '../../audit/note.js';
import { NullSink } from '../../audit/null-sink.js';
import { SealedLog } from '../../audit/store.js';
import { loadConfig, splitHostPort, type Config } from '../../config/index.js';
import { PgsealError } from '../../errors.js';
import { sha256Backend } from '../../audit/sha256.js';
import { createLogger } from '../../log.js';
import { ProxyServer, relayLegKind, tlsOffloadAvailable } from '../../proxy/index.js';

/** register adds `pgseal serve --config FILE`. */
export function register(program: Command): void {
  program
    .command('serve')
    .description('run the proxy')
    .requiredOption('--config <file>', 'configuration file (pgseal.yaml)')
    .action(async (opts: { config: string }) => {
      const config = loadConfig(opts.config);
      const log = createLogger(config.log.level);
      let metered: MeteredSink | null = null;
      const audit = openAuditLog(config, log, () => {
        if (metered) metered.lastCheckpointAt = Date.now();
      });
      const sink = (metered = new MeteredSink(audit));
      const server = new ProxyServer(config, sink, log);
      let admin: AdminServer | null = null;
      // Signal handlers come first: a SIGTERM that arrives as soon as we listen must still drain and seal.
      let stopping = false;
      let stopped!: () => void;
      const done = new Promise<void>((resolve) => (stopped = resolve));
      const stop = (signal: string) => {
        if (stopping) return void log.warn({ signal }, 'already shutting down');
        stopping = true;
        log.info({ signal, connections: server.connections }, 'shutting down');
        server
          .close(config.limits.shutdown_timeout_ms)
          .catch((err) => log.error({ err }, 'error while closing'))
          .finally(() => {
            void admin?.close();
            try {
              sink.close();
            } catch (err) {
              log.error({ reason: (err as Error).message }, 'audit log could not be closed cleanly');
            }
            log.info('pgseal stopped');
            stopped();
          });
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', () => {
        try {
          const next = loadConfig(opts.config);
          server.reload(next);
          if (audit instanceof SealedLog) rotateIfKeyChanged(audit, next, log);
          log.info('configuration reloaded');
        } catch (err) {
          log.error({ reason: (err as Error).message }, 'reload failed; keeping the previous configuration');
        }
      });
      const port = await server.listen();
      if (config.admin.listen) {
        const a = splitHostPort(config.admin.listen);
        admin = new AdminServer(sink, () => server.connections);
        const adminPort = await admin.listen(a.host, a.port);
        log.info({ admin: `${a.host}:${adminPort}` }, 'metrics on /metrics, health on /healthz');
      }
      log.info({ listen: `${splitHostPort(config.listen).host}:${port}`, upstream: config.upstream.address, audit: config.audit.dir, sha256: sha256Backend, relay: relayLegKind, tls_records: tlsOffloadAvailable ? 'pgseal' : 'node', audit_appends: audit instanceof SealedLog ? (audit.mapped ? 'mapped' : 'write') : 'off' }, 'pgseal listening');
      await done;
    });
}

let currentKey = '';

/** rotateIfKeyChanged rotates the audit signing key when audit.key now names a different key (key.rotate, then a checkpoint signed by both). */
function rotateIfKeyChanged(sink: SealedLog, config: Config, log: Logger): void {
  const text = readKeyFile(config.audit.key, log);
  const next = parseSignerKey(text);
  text.fill(0);
  const vkey = next.verifier().toString();
  if (vkey === currentKey) return next.erase();
  sink.rotateKey(next);
  log.info({ old_key: currentKey, new_key: vkey }, 'audit signing key rotated');
  currentKey = vkey;
}

function readKeyFile(file: string, log: Logger): Buffer {
  try {
    const text = readFileSync(file);
    if ((statSync(file).mode & 0o077) !== 0) log.warn({ file }, 'audit signing key is readable by others; chmod 600 it');
    return text;
  } catch (err) {
    throw new PgsealError('config_invalid', `audit.key: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** openAuditLog opens the sealed log with the signing key (or, for benchmarks only, no log at all). */
function openAuditLog(config: Config, log: Logger, checkpointed: () => void): SealedLog | NullSink {
  const a = config.audit;
  if (!a.enabled) {
    log.warn('audit.enabled is false: NOTHING IS RECORDED (benchmarking only)');
    return new NullSink();
  }
  const keyText = readKeyFile(a.key, log);
  const signer = parseSignerKey(keyText);
  keyText.fill(0);
  currentKey = signer.verifier().toString();
  return SealedLog.open({
    dir: a.dir,
    origin: a.origin,
    signer,
    durability: a.durability,
    checkpointEvery: a.checkpoint_every,
    checkpointMs: a.checkpoint_ms,
    segmentMaxBytes: a.segment_max_bytes,
    segmentMaxMs: a.segment_max_ms,
    onCheckpoint: (note, treeSize) => {
      checkpointed();
      log.info({ tree_size: treeSize, checkpoint: note }, 'audit checkpoint');
    },
  });
}
