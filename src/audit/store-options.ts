// SealedLog's options, their defaults (docs/audit-log-format.md) and their validation.
import { PgsealError } from '../errors.js';
import { systemClock, type Clock } from './clock.js';
import type { SignerKey } from './note.js';

/** SealedLogOptions configures a SealedLog. */
export type SealedLogOptions = {
  dir: string;
  origin: string;
  signer: SignerKey;
  clock?: Clock;
  /** durability 'os' hands records to the kernel; 'fsync' also fdatasyncs them (default 'os'). */
  durability?: 'os' | 'fsync';
  /** checkpointEvery is the number of records between checkpoints (default 1000). */
  checkpointEvery?: number;
  /** checkpointMs is the longest time records stay unsealed (default 1000). */
  checkpointMs?: number;
  /** segmentMaxBytes rotates the segment once it is this long (default 64 MiB). */
  segmentMaxBytes?: number;
  /** segmentMaxMs rotates the segment once it is this old (default 24 h). */
  segmentMaxMs?: number;
  /** onCheckpoint receives each checkpoint note once its record is written; it must not throw. */
  onCheckpoint?: (note: string, treeSize: number) => void;
};

/** StoreSettings are SealedLogOptions with every default filled in (the signer is held elsewhere). */
export type StoreSettings = Required<Omit<SealedLogOptions, 'signer' | 'onCheckpoint'>> & Pick<SealedLogOptions, 'onCheckpoint'>;

/** resolveSettings fills in defaults and checks the numbers; throws audit_error on a bad option. */
export function resolveSettings(o: SealedLogOptions): StoreSettings {
  const s: StoreSettings = {
    dir: o.dir,
    origin: o.origin,
    clock: o.clock ?? systemClock,
    durability: o.durability ?? 'os',
    checkpointEvery: o.checkpointEvery ?? 1000,
    checkpointMs: o.checkpointMs ?? 1000,
    segmentMaxBytes: o.segmentMaxBytes ?? 64 * 1024 * 1024,
    segmentMaxMs: o.segmentMaxMs ?? 24 * 3600 * 1000,
    onCheckpoint: o.onCheckpoint,
  };
  if (s.durability !== 'os' && s.durability !== 'fsync') throw new PgsealError('audit_error', 'durability must be os or fsync');
  for (const key of ['checkpointEvery', 'checkpointMs', 'segmentMaxBytes', 'segmentMaxMs'] as const) {
    if (!Number.isSafeInteger(s[key]) || s[key] <= 0) throw new PgsealError('audit_error', `${key} must be a positive integer`);
  }
  return s;
}
