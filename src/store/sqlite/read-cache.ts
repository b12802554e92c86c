/**
 * Operation reads kept while the database file is unchanged, for the polling that dominates a GET-heavy
 * load (issue 18). Exact, not time-based: every read first asks SQLite whether anything changed since the
 * entries were filled, with one statement that needs no table access:
 *
 * - `total_changes()` counts the rows this connection's INSERT/UPDATE/DELETE statements changed (every
 *   write longrun makes in this process goes through this connection);
 * - `PRAGMA data_version` changes when another connection (another process on the same file, or another
 *   connection in this one) commits.
 *
 * Any difference empties the cache, so a read that starts after a write was acknowledged (committed) never
 * sees the state before it. The schema has no triggers, foreign-key actions or REPLACE conflicts, whose
 * changes `total_changes()` would not count; a new one would have to keep it that way or bump the stamp.
 * Cached values are frozen: they are shared by every reader until the next change.
 */
import type Database from 'better-sqlite3';

export class ReadCache<V extends object> {
  private readonly entries = new Map<string, V>();
  private weight = 0;
  private changes = -1;
  private dataVersion = -1;
  private readonly totalChanges: Database.Statement<[], number>;
  private readonly readDataVersion: Database.Statement<[], number>;

  /**
   * @param maxWeight what the entries may weigh in all (0: no caching)
   * @param weigh an entry's weight: 1 for a record, the rows for a page of them (and its key, when the
   *   key carries what a client sent)
   */
  constructor(
    db: Database.Database,
    private readonly maxWeight: number,
    private readonly weigh: (value: V, key: string) => number = () => 1,
  ) {
    // Two statements: together 1.8 µs a check, where one `SELECT ... FROM pragma_data_version` (a virtual
    // table) took 3 µs; `PRAGMA data_version` is most of it (it takes the WAL read lock).
    this.totalChanges = db.prepare<[], number>('SELECT total_changes()').pluck();
    this.readDataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
  }

  /** The cached value for `key` if the database is unchanged since it was read, else `load()`'s (cached). */
  get(key: string, load: () => V | undefined): V | undefined {
    if (this.maxWeight <= 0) return load();
    const hit = this.peek(key);
    if (hit !== undefined) return hit;
    const value = load();
    if (value === undefined) return undefined;
    const weight = this.weigh(value, key);
    if (weight > this.maxWeight) return value;
    // Emptying when full keeps the bookkeeping to one Map; a full cache refills at the read rate.
    if (this.weight + weight > this.maxWeight) this.clear();
    this.entries.set(key, deepFreeze(value));
    this.weight += weight;
    return value;
  }

  /** The cached value for `key` if the database is unchanged since it was read; never reads. */
  peek(key: string): V | undefined {
    if (this.maxWeight <= 0) return undefined;
    const changes = this.totalChanges.get()!;
    const dataVersion = this.readDataVersion.get()!;
    if (changes !== this.changes || dataVersion !== this.dataVersion) {
      this.clear();
      this.changes = changes;
      this.dataVersion = dataVersion;
      return undefined;
    }
    return this.entries.get(key);
  }

  private clear(): void {
    this.entries.clear();
    this.weight = 0;
  }
}

function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) {
    if (typeof inner === 'object' && inner !== null && !Object.isFrozen(inner)) deepFreeze(inner);
  }
  return Object.freeze(value);
}
