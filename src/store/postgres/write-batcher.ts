/**
 * Group commit for writes: the updates (or the inserts) issued in one turn of the event loop go to
 * PostgreSQL as one statement (a worker pool's completions, clients' PATCHes of different operations, or
 * their starts, usually arrive several at a time: in the engine bench, three quarters of the updates
 * shared their turn with two to six others), and at most `maxInFlight` statements are in flight at once:
 * what arrives while they are waits for the first to return and goes with it as the next statement. So
 * statements carry more writes as load grows, and there are fewer round trips and commits than writes.
 *
 * - A statement writes a row at most once, and an operation's writes go to PostgreSQL one at a time, in
 *   the order they were issued: a write waits while another of the same operation is in flight.
 * - Each write keeps its own result (an update its guard's verdict: applied, conflict or not found),
 *   exactly as one statement per write would give.
 * - If a grouped statement fails, its writes are sent again one by one, so a write that fails fails alone.
 */
import type { OperationKey, RecordChanges, UpdateResult, WriteGuard, WriteMeta } from '../store.js';

/** What every write names: the operation it writes. */
export interface KeyedWrite {
  key: OperationKey;
}

export interface UpdateRequest {
  key: OperationKey;
  changes: RecordChanges;
  guard: WriteGuard;
  meta: WriteMeta;
}

interface Pending<R, T> {
  request: R;
  /** The operation's identity, for keeping its writes apart and in order. */
  id: string;
  resolve: (result: T) => void;
  reject: (error: unknown) => void;
}

/** `R` is one write, `T` its result; by default the updates of UpdateRequest. */
export class WriteBatcher<R extends KeyedWrite = UpdateRequest, T = UpdateResult> {
  private queue: Pending<R, T>[] = [];
  private scheduled = false;
  private inFlight = 0;
  /** Operations with a write in flight: their next writes wait for it. */
  private readonly busy = new Set<string>();

  /**
   * @param one one write, one statement
   * @param many several writes of distinct operations, one statement, a result per write in their order
   * @param maxInFlight statements in flight at once (each on a pool connection of its own)
   */
  constructor(
    private readonly one: (request: R) => Promise<T>,
    private readonly many: (requests: R[]) => Promise<T[]>,
    private readonly maxInFlight = 2,
  ) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1)
      throw new Error(`WriteBatcher: maxInFlight must be an integer of at least 1, got ${maxInFlight}`);
  }

  run(request: R): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const { tenantId, scope, id } = request.key;
      this.queue.push({ request, id: `${tenantId}\u0000${scope}\u0000${id}`, resolve, reject });
      if (!this.scheduled) {
        // At the end of this turn, with whatever else this turn issues.
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  /** Sends what may go now: up to maxInFlight statements, each with every sendable queued write. */
  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const round: Pending<R, T>[] = [];
      const waiting: Pending<R, T>[] = [];
      const taken = new Set<string>();
      for (const pending of this.queue) {
        // Later writes of an operation already in flight, or already in this round, wait their turn.
        if (this.busy.has(pending.id) || taken.has(pending.id)) waiting.push(pending);
        else {
          taken.add(pending.id);
          round.push(pending);
        }
      }
      if (round.length === 0) return;
      this.queue = waiting;
      for (const id of taken) this.busy.add(id);
      this.inFlight++;
      void this.send(round).finally(() => {
        this.inFlight--;
        for (const id of taken) this.busy.delete(id);
        this.pump();
      });
    }
  }

  private async send(round: Pending<R, T>[]): Promise<void> {
    if (round.length > 1) {
      let results: T[] | undefined;
      try {
        results = await this.many(round.map((pending) => pending.request));
      } catch {
        // Fall through: one statement each, so that a write that fails fails alone.
      }
      if (results) {
        round.forEach((pending, i) => pending.resolve(results[i]));
        return;
      }
    }
    await Promise.all(
      round.map((pending) => this.one(pending.request).then(pending.resolve, pending.reject)),
    );
  }
}
