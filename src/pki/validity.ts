import { PkiError } from './errors.js';

// Validity periods. notBefore is backdated a minute so that a peer whose clock is a
// little behind does not reject a certificate issued a moment ago.

const DAY_MS = 86_400_000;
const BACKDATE_MS = 60_000;

/** validityPeriod returns whole-second notBefore/notAfter for `days` days, capped at `limit` (the CA's expiry). */
export function validityPeriod(days: number, now = new Date(), limit?: Date): { notBefore: Date; notAfter: Date } {
  if (!Number.isInteger(days) || days < 1 || days > 36500) {
    throw new PkiError(`invalid validity of ${days} days: use a whole number from 1 to 36500`);
  }
  const start = Math.floor(now.getTime() / 1000) * 1000;
  let end = start + days * DAY_MS;
  if (limit && end > limit.getTime()) end = limit.getTime();
  if (end <= start) throw new PkiError('the CA has expired; it cannot issue certificates');
  return { notBefore: new Date(start - BACKDATE_MS), notAfter: new Date(end) };
}
