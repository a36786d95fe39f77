import type { Command } from 'commander';
import { JsonlSink } from '../../audit/jsonl-sink.js';
import { loadConfig, splitHostPort } from '../../config/index.js';
import { createLogger } from '../../log.js';
import { ProxyServer } from '../../proxy/index.js';

/** register adds `pgseal serve --config FILE`. */
export function register(program: Command): void {
  program
    .command('serve')
    .description('run the proxy')
    .requiredOption('--config <file>', 'configuration file (pgseal.yaml)')
    .action(async (opts: { config: string }) => {
      const config = loadConfig(opts.config);
      const log = createLogger(config.log.level);
      const sink = new JsonlSink(config.audit.dir);
      const server = new ProxyServer(config, sink, log);
      const port = await server.listen();
      log.info({ listen: `${splitHostPort(config.listen).host}:${port}`, upstream: config.upstream.address }, 'pgseal listening');
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log.info({ signal, connections: server.connections }, 'shutting down');
          server
            .close(config.limits.shutdown_timeout_ms)
            .catch((err) => log.error({ err }, 'error while closing'))
            .finally(() => {
              sink.close();
              log.info('pgseal stopped');
              resolve();
            });
        };
        process.on('SIGHUP', () => {
          try {
            server.reload(loadConfig(opts.config));
            log.info('configuration reloaded');
          } catch (err) {
            log.error({ reason: (err as Error).message }, 'reload failed; keeping the previous configuration');
          }
        });
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    });
}
