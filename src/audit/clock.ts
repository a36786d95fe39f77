import { performance } from 'node:perf_hooks';

/** Clock gives microsecond wall-clock timestamps; injected so tests can fix time. */
export interface Clock {
  nowMicros(): number;
}

// The global `performance` is a lazy accessor in Node 20 that runs a check on every read; the
// module's export is a plain reference.
const perf0 = performance.now();
const wall0 = Date.now() * 1000;

/** systemClock is monotonic-stepped wall time with microsecond resolution. */
export const systemClock: Clock = {
  // performance.now() is monotonic with sub-microsecond resolution and a third of the cost of
  // process.hrtime.bigint(); it is read several times per query.
  nowMicros: () => wall0 + Math.floor((performance.now() - perf0) * 1000),
};

let cachedSecond = -1;
let cachedPrefix = '';

/** formatTimestamp renders microseconds since the epoch as RFC 3339 UTC with six fractional digits. */
export function formatTimestamp(micros: number): string {
  const second = Math.floor(micros / 1_000_000);
  if (second !== cachedSecond) {
    // One Date per second: records are stamped far more often than the second changes.
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 19); // YYYY-MM-DDTHH:MM:SS
    cachedSecond = second;
  }
  const frac = micros - second * 1_000_000;
  return `${cachedPrefix}.${frac < 100_000 ? String(frac).padStart(6, '0') : frac}Z`;
}
