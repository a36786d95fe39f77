export { ProxyServer } from './server.js';
