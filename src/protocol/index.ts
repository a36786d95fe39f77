export * from './backend.js';
export * from './errors.js';
export * from './framer.js';
export * from './frontend.js';
export * from './reader.js';
export * from './startup.js';
export * from './writer.js';
export * from './sqlstate.js';
