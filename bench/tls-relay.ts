/**
 * A bare Node.js TLS relay for the proxy benchmark's `node-relay` target: the floor of what any
 * proxy built on Node's TLS stack costs, with no protocol parsing and no audit.
 *
 *   node dist/bench/tls-relay.js LISTEN_PORT UPSTREAM_PORT CERT KEY UPSTREAM_CA
 *
 * Client leg: SSLRequest -> 'S' -> TLS (server certificate CERT/KEY). Upstream leg: SSLRequest ->
 * TLS verify-full against UPSTREAM_CA for host name `localhost`. Then bytes are relayed both ways
 * with one data handler per direction and pause/resume backpressure. SCRAM passes through as bytes,
 * so clients must not use channel binding (PGCHANNELBINDING=disable): the two TLS legs carry
 * different certificates. Benchmark use only.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

const [listenPort, upstreamPort, certFile, keyFile, caFile] = process.argv.slice(2);
if (!listenPort || !upstreamPort || !certFile || !keyFile || !caFile) {
  console.error('usage: tls-relay LISTEN_PORT UPSTREAM_PORT CERT KEY UPSTREAM_CA');
  process.exit(2);
}

const serverContext = tls.createSecureContext({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
const upstreamCa = readFileSync(caFile);
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

function pipeOneWay(from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.on('close', () => to.destroy());
  from.on('error', () => to.destroy());
}

function connectUpstream(): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: '127.0.0.1', port: Number(upstreamPort) });
    raw.setNoDelay(true);
    raw.once('error', reject);
    raw.once('connect', () => raw.write(SSL_REQUEST));
    raw.once('data', (b: Buffer) => {
      if (b.length !== 1 || b[0] !== 0x53) return reject(new Error('upstream refused TLS'));
      const s = tls.connect({ socket: raw, ca: upstreamCa, servername: 'localhost' });
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });
  });
}

const server = net.createServer((client) => {
  client.setNoDelay(true);
  client.once('error', () => client.destroy());
  client.once('data', (first: Buffer) => {
    if (!first.equals(SSL_REQUEST)) return client.destroy();
    connectUpstream().then(
      (upstream) => {
        client.write('S');
        const secure = new tls.TLSSocket(client, { isServer: true, secureContext: serverContext });
        pipeOneWay(secure, upstream);
        pipeOneWay(upstream, secure);
      },
      () => client.destroy(),
    );
  });
});
server.listen(Number(listenPort), '127.0.0.1', () => console.log(`tls-relay listening on 127.0.0.1:${listenPort}`));
process.on('SIGTERM', () => process.exit(0));
