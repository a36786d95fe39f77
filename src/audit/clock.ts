/** Clock gives microsecond wall-clock timestamps; injected so tests can fix time. */
export interface Clock {
  nowMicros(): number;
}

const hr0 = process.hrtime.bigint();
const wall0 = BigInt(Date.now()) * 1000n;

/** systemClock is monotonic-stepped wall time with microsecond resolution. */
export const systemClock: Clock = {
  nowMicros: () => Number(wall0 + (process.hrtime.bigint() - hr0) / 1000n),
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
