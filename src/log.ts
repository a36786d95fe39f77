import { pino, type Logger } from 'pino';

/** createLogger returns the operational logger: JSON lines on stdout, secrets redacted by key name. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'pgseal' },
    redact: { paths: ['password', '*.password', 'key', '*.key', 'secret', '*.secret', 'params', '*.params'], censor: '[redacted]' },
  });
}
