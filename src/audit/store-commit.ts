// Group commit for durability fsync: every commit queued before an fdatasync starts is answered
// by it; commits queued while it runs wait for the next one.
import { callEach } from './turn-end.js';

/** CommitCallback is told null once its records are on disk, or the error that prevented it. */
export type CommitCallback = (err: Error | null) => void;

/** GroupCommit batches commit callbacks so one fdatasync answers all of them. */
export class GroupCommit {
  #waiting: CommitCallback[] = [];
  #syncing = false;

  constructor(
    private readonly sync: (done: CommitCallback) => void,
    private readonly onSynced: (err: Error | null, more: boolean) => void,
  ) {}

  /** waiting is the number of callbacks queued for the next batch. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** add queues a callback for the next batch. */
  add(cb: CommitCallback): void {
    this.#waiting.push(cb);
  }

  /** start begins a sync for the waiting callbacks, unless one is in flight or none wait. Call it after writing their records. */
  start(): void {
    if (this.#syncing || this.#waiting.length === 0) return;
    const batch = this.#waiting;
    this.#waiting = [];
    this.#syncing = true;
    this.sync((err) => {
      this.#syncing = false;
      try {
        callEach(batch, err); // every waiting session hears its answer even if one callback throws
      } finally {
        this.onSynced(err, this.#waiting.length > 0);
      }
    });
  }

  /** answer tells every waiting callback err now: a failed write, or null when a synchronous fsync covered them. */
  answer(err: Error | null): void {
    const batch = this.#waiting;
    this.#waiting = [];
    callEach(batch, err); // every waiting session hears its answer even if one callback throws
  }
}
