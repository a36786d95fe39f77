import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PgsealError } from '../errors.js';
import { renderMetrics, type MeteredSink } from './metrics.js';

/** AdminServer serves /metrics (Prometheus text) and /healthz on the admin address. */
export class AdminServer {
  private readonly server: http.Server;

  constructor(metrics: MeteredSink, connections: () => number) {
    this.server = http.createServer((req, res) => {
      if (req.method !== 'GET') {
        res.writeHead(405, { allow: 'GET' }).end();
      } else if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(renderMetrics(metrics, connections()));
      } else if (req.url === '/healthz') {
        const ok = metrics.healthy;
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'audit log unavailable: failing closed\n');
      } else {
        res.writeHead(404).end();
      }
    });
    this.server.requestTimeout = 5_000;
  }

  /** listen binds the admin address and resolves with the port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) => reject(new PgsealError('io', `cannot listen on admin address ${host}:${port}: ${err.code ?? err.message}`)));
      this.server.listen({ host, port }, () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  /** close stops serving. */
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
