/**
 * Group commit for the SQLite store: the writes issued in one turn of the event loop share one
 * transaction, so one COMMIT (one WAL append of the pages they touched) serves them all. Under load most
 * of a write's cost is its commit: 50 clients' PATCHes, or the completions of a worker pool, usually arrive
 * together and touch the same pages.
 *
 * - Each write runs in a savepoint of its own: one that throws (a duplicate key, a failed guard) is undone
 *   alone and rejects only its own caller. A write that can fail only as the storage fails (it reports
 *   its own refusals as results, not errors) may run without one (`savepoint: false`, the engine's
 *   claims and guarded updates: a savepoint and its release cost about as much as a small write); if it
 *   throws all the same, the whole group is rolled back and rejected, as when the COMMIT fails.
 * - Every caller's promise settles after COMMIT returns: a write is acknowledged only once it is durable,
 *   exactly as with a transaction per write. A crash before COMMIT loses only unacknowledged writes.
 * - If the COMMIT itself fails (the disk is full, the file is locked by another process for longer than
 *   busy_timeout), every write of the group is rejected with that error and none of them is applied.
 *
 * better-sqlite3 is synchronous, so a group runs without interleaving; writes queued while it runs form
 * the next group.
 */
import type Database from 'better-sqlite3';

interface Pending {
  work: () => unknown;
  savepoint: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export class GroupCommit {
  private queue: Pending[] = [];
  private scheduled = false;
  private readonly inSavepoint: (work: () => unknown) => unknown;

  constructor(private readonly db: Database.Database) {
    // A transaction function called inside another transaction runs as a savepoint.
    this.inSavepoint = db.transaction((work: () => unknown) => work());
  }

  /** Runs `work` inside the next group's transaction; resolves with its result once that commits. */
  run<T>(work: () => T, savepoint = true): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, savepoint, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After the I/O callbacks of this turn: requests that arrived together commit together.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits what is queued now (also called before the database closes). */
  flush(): void {
    this.scheduled = false;
    const group = this.queue;
    this.queue = [];
    if (group.length === 0) return;
    const outcomes: Outcome[] = [];
    try {
      this.db
        .transaction(() => {
          if (group.length === 1) {
            // Alone in its group: its own error rolls the transaction back; no savepoint needed.
            outcomes.push({ ok: true, value: group[0].work() });
            return;
          }
          for (const pending of group) {
            // Throws out of the transaction (rolling it all back) when a write without a savepoint fails.
            if (!pending.savepoint) {
              outcomes.push({ ok: true, value: pending.work() });
              continue;
            }
            try {
              outcomes.push({ ok: true, value: this.inSavepoint(pending.work) });
            } catch (error) {
              outcomes.push({ ok: false, error });
            }
          }
        })
        .immediate();
    } catch (error) {
      for (const pending of group) pending.reject(error);
      return;
    }
    group.forEach((pending, i) => {
      const outcome = outcomes[i];
      if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
    });
  }
}
