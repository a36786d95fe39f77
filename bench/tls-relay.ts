/**
 * A bare Node.js TLS relay for the proxy benchmark's `node-relay` target: the floor of what any
 * proxy built on Node's TLS stack costs, with no protocol parsing and no audit.
 *
 *   node dist/bench/tls-relay.js LISTEN_PORT UPSTREAM_PORT CERT KEY UPSTREAM_CA
 *
 * Client leg: SSLRequest -> 'S' -> TLS (server certificate CERT/KEY). Upstream leg: SSLRequest ->
 * TLS verify-full against UPSTREAM_CA for host name `localhost`. Then bytes are relayed both ways
 * with one data handler per direction and pause/resume backpressure, through the same socket
 * layer as pgseal (src/proxy/relay-leg.ts: native stream handles, or Node's Readable/Writable
 * streams with PGSEAL_HANDLE_RELAY=0). SCRAM passes through as bytes,
 * so clients must not use channel binding (PGCHANNELBINDING=disable): the two TLS legs carry
 * different certificates. Benchmark use only.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { relayLeg, relayLegKind, type RelayLeg } from '../src/proxy/relay-leg.js';

const [listenPort, upstreamPort, certFile, keyFile, caFile] = process.argv.slice(2);
if (!listenPort || !upstreamPort || !certFile || !keyFile || !caFile) {
  console.error('usage: tls-relay LISTEN_PORT UPSTREAM_PORT CERT KEY UPSTREAM_CA');
  process.exit(2);
}

const serverContext = tls.createSecureContext({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
const upstreamCa = readFileSync(caFile);
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

// Both directions go through pgseal's own socket layer (src/proxy/relay-leg.ts): the native
// handle path by default, Node's Readable/Writable path with PGSEAL_HANDLE_RELAY=0.
function relayBoth(a: net.Socket, b: net.Socket): void {
  const legA = relayLeg(a);
  const legB = relayLeg(b);
  const close = () => {
    legA.destroy();
    legB.destroy();
  };
  const oneWay = (from: RelayLeg, to: RelayLeg) => (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.onDrain(() => from.resume());
    }
  };
  legA.start(oneWay(legA, legB), close);
  legB.start(oneWay(legB, legA), close);
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
        relayBoth(secure, upstream);
      },
      () => client.destroy(),
    );
  });
});
server.listen(Number(listenPort), '127.0.0.1', () => console.log(`tls-relay listening on 127.0.0.1:${listenPort} (relay: ${relayLegKind})`));
process.on('SIGTERM', () => process.exit(0));
