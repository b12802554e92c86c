/**
 * Group commit for updates: the updates issued in one turn of the event loop go to PostgreSQL as one
 * statement (a worker pool's completions, or clients' PATCHes of different operations, usually arrive
 * several at a time: in the engine bench, three quarters of the updates shared their turn with two to six
 * others), and at most `maxInFlight` statements are in flight at once: what arrives while they are waits
 * for the first to return and goes with it as the next statement. So statements carry more updates as load
 * grows, and there are fewer round trips and commits than updates.
 *
 * - A statement changes a row at most once, and an operation's updates go to PostgreSQL one at a time, in
 *   the order they were issued: an update waits while another of the same operation is in flight.
 * - Each update keeps its own guard and its own result (applied, conflict or not found), exactly as one
 *   statement per update would give.
 * - If a grouped statement fails, its updates are sent again one by one, so a write that fails fails alone.
 */
import type { OperationKey, RecordChanges, UpdateResult, WriteGuard, WriteMeta } from '../store.js';

export interface UpdateRequest {
  key: OperationKey;
  changes: RecordChanges;
  guard: WriteGuard;
  meta: WriteMeta;
}

interface Pending extends UpdateRequest {
  /** The operation's identity, for keeping its updates apart and in order. */
  id: string;
  resolve: (result: UpdateResult) => void;
  reject: (error: unknown) => void;
}

export class UpdateBatcher {
  private queue: Pending[] = [];
  private scheduled = false;
  private inFlight = 0;
  /** Operations with an update in flight: their next updates wait for it. */
  private readonly busy = new Set<string>();

  /**
   * @param one one update, one statement
   * @param many several updates of distinct operations, one statement
   * @param maxInFlight statements in flight at once (each on a pool connection of its own)
   */
  constructor(
    private readonly one: (request: UpdateRequest) => Promise<UpdateResult>,
    private readonly many: (requests: UpdateRequest[]) => Promise<UpdateResult[]>,
    private readonly maxInFlight = 2,
  ) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1)
      throw new Error(`UpdateBatcher: maxInFlight must be an integer of at least 1, got ${maxInFlight}`);
  }

  run(request: UpdateRequest): Promise<UpdateResult> {
    return new Promise<UpdateResult>((resolve, reject) => {
      const { tenantId, scope, id } = request.key;
      this.queue.push({ ...request, id: `${tenantId}\u0000${scope}\u0000${id}`, resolve, reject });
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

  /** Sends what may go now: up to maxInFlight statements, each with every sendable queued update. */
  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const round: Pending[] = [];
      const waiting: Pending[] = [];
      const taken = new Set<string>();
      for (const pending of this.queue) {
        // Later updates of an operation already in flight, or already in this round, wait their turn.
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

  private async send(round: Pending[]): Promise<void> {
    if (round.length > 1) {
      let results: UpdateResult[] | undefined;
      try {
        results = await this.many(round);
      } catch {
        // Fall through: one statement each, so that an update that fails fails alone.
      }
      if (results) {
        round.forEach((pending, i) => pending.resolve(results[i]));
        return;
      }
    }
    await Promise.all(round.map((pending) => this.one(pending).then(pending.resolve, pending.reject)));
  }
}
