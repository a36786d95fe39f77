export { AdminServer } from './server.js';
export { MeteredSink, renderMetrics, type Counters } from './metrics.js';
