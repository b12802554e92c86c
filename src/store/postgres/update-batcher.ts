/**
 * Updates issued in the same turn of the event loop go to PostgreSQL as one statement: a worker pool's
 * completions, or clients' PATCHes of different operations, usually arrive several at a time (in the
 * engine bench, three quarters of the updates shared their turn with two to six others), and each
 * statement is a round trip and a commit.
 *
 * - A statement changes a row at most once, so updates of the same operation go in successive rounds, in
 *   the order they were issued.
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
  resolve: (result: UpdateResult) => void;
  reject: (error: unknown) => void;
}

export class UpdateBatcher {
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly one: (request: UpdateRequest) => Promise<UpdateResult>,
    private readonly many: (requests: UpdateRequest[]) => Promise<UpdateResult[]>,
  ) {}

  run(request: UpdateRequest): Promise<UpdateResult> {
    return new Promise<UpdateResult>((resolve, reject) => {
      this.queue.push({ ...request, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    const rounds: Pending[][] = [];
    const lastRound = new Map<string, number>();
    for (const pending of queue) {
      const k = `${pending.key.tenantId}\u0000${pending.key.scope}\u0000${pending.key.id}`;
      const round = (lastRound.get(k) ?? -1) + 1;
      lastRound.set(k, round);
      (rounds[round] ??= []).push(pending);
    }
    void (async () => {
      for (const round of rounds) await this.send(round);
    })();
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
