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

/** formatTimestamp renders microseconds since the epoch as RFC 3339 UTC with six fractional digits. */
export function formatTimestamp(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const frac = String(micros % 1_000_000).padStart(6, '0');
  return `${iso.slice(0, 19)}.${frac}Z`;
}
