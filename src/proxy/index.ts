export { ProxyServer } from './server.js';
export { relayLegKind } from './relay-leg.js';
export { tlsOffloadAvailable } from './tls-offload.js';
