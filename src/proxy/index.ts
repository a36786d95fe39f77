export { ProxyServer } from './server.js';
export { relayLegKind } from './relay-leg.js';
