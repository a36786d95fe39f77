import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/** CancelTarget is the real upstream backend a client's cancel key stands for. */
export type CancelTarget = { session: string; pid: number; secretKey: Buffer };

/**
 * CancelMap hands each session its own random BackendKeyData and maps it back to the
 * upstream backend's real key, so clients never see (or guess) upstream keys.
 */
export class CancelMap {
  private readonly byPid = new Map<number, { secretKey: Buffer; target: CancelTarget }>();

  /** issue allocates a fresh (pid, 4-byte secret) for a session's upstream backend. */
  issue(target: CancelTarget): { pid: number; secretKey: Buffer } {
    let pid: number;
    do pid = randomInt(1, 0x7fffffff);
    while (this.byPid.has(pid));
    const secretKey = randomBytes(4);
    this.byPid.set(pid, { secretKey, target });
    return { pid, secretKey };
  }

  /** lookup returns the target when pid and secret match, comparing the secret in constant time. */
  lookup(pid: number, secretKey: Buffer): CancelTarget | null {
    const entry = this.byPid.get(pid);
    if (!entry || entry.secretKey.length !== secretKey.length) return null;
    return timingSafeEqual(entry.secretKey, secretKey) ? entry.target : null;
  }

  /** release forgets a session's key when it ends. */
  release(pid: number): void {
    this.byPid.delete(pid);
  }

  /** size is the number of live keys. */
  get size(): number {
    return this.byPid.size;
  }
}
