/**
 * For stores without `modify` (PostgreSQL): this process's read-modify-writes of one operation, queued
 * behind each other and written together.
 *
 * Writes to one operation go one batch at a time (racing each other's read-modify-write would make n
 * concurrent PATCHes cost O(n²) retries). What queues while a batch is being written is the next batch:
 * each of its writes decides on the state the writes before it leave (the first on what the previous batch
 * wrote, handed over instead of read again), and the whole batch goes as one statement
 * (OperationStore.updateChain): one round trip and one commit for a queue of PATCHes, where one at a time
 * cost one each. A batch of one goes through `update`, which groups it with writes to other operations.
 *
 * After the last batch, the state it left is remembered for a short while (RECENT_MS, within a memory
 * bound): a write that follows soon (a client's next PATCH, a progress report) decides on it and goes
 * in one round trip, without reading the operation first.
 *
 * Every write is still guarded: the batch is written only if the operation is still at the version its
 * first write decided on. If it moved (another node, a worker), nothing is written, the store answers
 * with the operation as it is, and the whole batch decides again on that, so no write and no refusal (a
 * 412 from If-Match, a 409) is ever about a state the operation was not in. A handed-over or remembered
 * state may be stale in that way: a refusal or a "nothing to write" decided on it is confirmed on a
 * fresh read first.
 */
import { isTerminal } from '../model/status.js';
import type { OperationRecord } from '../model/operation.js';
import type { ChainStep, OperationKey, OperationStore, RecordChanges, WriteMeta } from '../store/store.js';

/** At most this many writes go in one statement (a bound on the statement's size). */
const MAX_BATCH = 64;
/** How often a read-modify-write (a batch here, a delete in the service) tries again when another writer got in between. */
export const MAX_WRITE_ATTEMPTS = 8;
/**
 * How long the state a batch left stays the next write's base (ms). A stale one costs what a read would
 * (the refused write answers with the operation as it is), so this is bounded by memory, not staleness.
 */
const RECENT_MS = 30_000;
/** What remembered states may weigh in all, roughly (their text), and one at most: larger aren't kept. */
const RECENT_MAX_BYTES = 8 * 1024 * 1024;
const RECENT_MAX_ENTRY_BYTES = 64 * 1024;

export interface ChainedWrite {
  /** The changes to make to `current`, or undefined to write nothing; throws to refuse. */
  plan: (current: OperationRecord) => RecordChanges | undefined;
  meta: WriteMeta;
}

export interface WriteChainHooks {
  /** The error a write to a missing operation rejects with. */
  notFound: (key: OperationKey) => Error;
  /** The error when a batch kept losing races with other writers. */
  exhausted: (key: OperationKey) => Error;
  /** Called for each write that landed, in order, with the operation as that write left it. */
  written: (record: OperationRecord, kind: string) => void;
}

interface Queued extends ChainedWrite {
  resolve: (record: OperationRecord) => void;
  reject: (error: unknown) => void;
}

/** What one write of a batch decided on the state before it. */
type Decision = { error: unknown } | { unchanged: OperationRecord } | { step: number };

export class WriteChains {
  /** Per operation: the writes waiting for the batch in flight. Present while a batch is in flight. */
  private readonly queues = new Map<string, Queued[]>();
  /** Per operation, oldest first: the state its last batch left, when, and roughly what it weighs. */
  private readonly recent = new Map<string, { record: OperationRecord; at: number; bytes: number }>();
  private recentBytes = 0;

  constructor(
    private readonly store: OperationStore,
    private readonly hooks: WriteChainHooks,
  ) {}

  /** Resolves with the operation as this write left it (or found it, when it wrote nothing). */
  write(key: OperationKey, write: ChainedWrite): Promise<OperationRecord> {
    return new Promise((resolve, reject) => {
      const name = `${key.tenantId}\u0000${key.scope}\u0000${key.id}`;
      const queued = { ...write, resolve, reject };
      const queue = this.queues.get(name);
      if (queue) {
        queue.push(queued);
        return;
      }
      this.queues.set(name, []);
      void this.drain(name, key, [queued]);
    });
  }

  /** Writes batch after batch until no write for the operation is waiting. */
  private async drain(name: string, key: OperationKey, first: Queued[]): Promise<void> {
    let batch = first;
    let handed = this.recall(name);
    for (;;) {
      try {
        handed = await this.writeBatch(key, batch, handed);
      } catch (error) {
        // The store failed (unavailable, say): this batch fails; the next one starts from a fresh read.
        for (const write of batch) write.reject(error);
        handed = undefined;
      }
      const queue = this.queues.get(name)!;
      if (queue.length === 0) {
        this.queues.delete(name);
        this.remember(name, handed);
        return;
      }
      // Without updateChain (a store of someone else's), one write at a time.
      batch = queue.splice(0, this.store.updateChain ? MAX_BATCH : 1);
    }
  }

  /** Decides and writes one batch, settles each of its writes; returns the operation as it left it. */
  private async writeBatch(
    key: OperationKey,
    batch: Queued[],
    handed: OperationRecord | undefined,
  ): Promise<OperationRecord | undefined> {
    let base = handed;
    // Whether `base` was read for this batch (or returned by a refused write): the operation as it is.
    let fresh = false;
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      if (!base) {
        base = await this.store.get(key);
        fresh = true;
      }
      if (!base) {
        for (const write of batch) write.reject(this.hooks.notFound(key));
        return undefined;
      }
      const { decisions, steps, states } = decide(base, batch);
      // A refusal or a no-op decided on a handed-over state is only trusted on a fresh read.
      if (!fresh && decisions.some((d) => !('step' in d))) {
        base = undefined;
        attempt--;
        continue;
      }
      let written: OperationRecord[] = [];
      if (steps.length > 0) {
        const result = await this.writeSteps(key, base, steps, states);
        if (!result.ok && result.reason === 'notFound') {
          for (const write of batch) write.reject(this.hooks.notFound(key));
          return undefined;
        }
        if (!result.ok) {
          // Another writer got in first: decide the whole batch again on the operation as it is now.
          base = result.current;
          fresh = base !== undefined;
          continue;
        }
        written = result.records;
      }
      for (const [n, record] of written.entries()) this.hooks.written(record, steps[n].meta.kind);
      for (const [n, write] of batch.entries()) {
        const decision = decisions[n];
        if ('error' in decision) write.reject(decision.error);
        else if ('unchanged' in decision) write.resolve(decision.unchanged);
        else write.resolve(written[decision.step]);
      }
      return written.length > 0 ? written[written.length - 1] : base;
    }
    for (const write of batch) write.reject(this.hooks.exhausted(key));
    return undefined;
  }

  /** One step through `update` (grouped with other operations' writes), several as one chain. */
  private async writeSteps(
    key: OperationKey,
    base: OperationRecord,
    steps: ChainStep[],
    states: OperationRecord[],
  ): Promise<
    | { ok: true; records: OperationRecord[] }
    | { ok: false; reason: 'notFound' | 'conflict'; current?: OperationRecord }
  > {
    if (steps.length === 1) {
      const { changes, meta } = steps[0];
      return this.store
        .update(key, changes, { expectedVersion: base.version }, meta)
        .then((r) => (r.ok ? { ok: true, records: [r.record] } : r));
    }
    // drain() makes batches of one for a store without updateChain.
    if (!this.store.updateChain) throw new Error('WriteChains: a chain needs OperationStore.updateChain');
    const result = await this.store.updateChain(base, steps);
    if (!result.ok) return result;
    // The last state is the store's own; the ones before it never stood alone in the store. A write
    // never changes an operation's input or checkpoint: they are the store's (a remembered base has none).
    const { input, checkpoint } = result.record;
    const records = states.map((state, n) =>
      n === states.length - 1
        ? result.record
        : { ...state, input, checkpoint, eventSeq: result.eventSeqs[n] },
    );
    return { ok: true, records };
  }

  /** The state the operation's last batch left, if recent (taken: the batch that starts now owns it). */
  private recall(name: string): OperationRecord | undefined {
    const entry = this.recent.get(name);
    if (!entry) return undefined;
    this.recent.delete(name);
    this.recentBytes -= entry.bytes;
    return performance.now() - entry.at <= RECENT_MS ? entry.record : undefined;
  }

  /**
   * Keeps the state a batch left for the next write, without its input and checkpoint (no write decides
   * on them, and they may be large), within the memory bound: the oldest and the expired go first.
   */
  private remember(name: string, record: OperationRecord | undefined): void {
    if (!record) return;
    // Twice the key: the map's key and the record's own fields.
    const bytes = rememberedBytes(record) + name.length;
    if (bytes > RECENT_MAX_ENTRY_BYTES) return;
    const at = performance.now();
    this.recent.set(name, { record: { ...record, input: null, checkpoint: null }, at, bytes });
    this.recentBytes += bytes;
    for (const [oldest, entry] of this.recent) {
      if (this.recentBytes <= RECENT_MAX_BYTES && at - entry.at <= RECENT_MS) break;
      this.recent.delete(oldest);
      this.recentBytes -= entry.bytes;
    }
  }
}

/**
 * Each write decides on the state the writes before it leave. `states[i]` is the operation as step i
 * would leave it, exactly as the store writes it if the batch lands on `base` (so the version each
 * write's If-Match is judged on is the one it would have had, written one at a time).
 */
function decide(base: OperationRecord, batch: ChainedWrite[]) {
  const decisions: Decision[] = [];
  const steps: ChainStep[] = [];
  const states: OperationRecord[] = [];
  let state = base;
  for (const write of batch) {
    let changes: RecordChanges | undefined;
    try {
      changes = write.plan(state);
    } catch (error) {
      decisions.push({ error });
      continue;
    }
    if (!changes) {
      decisions.push({ unchanged: state });
      continue;
    }
    state = applyChanges(state, changes);
    decisions.push({ step: steps.length });
    steps.push({ changes, meta: write.meta });
    states.push(state);
  }
  return { decisions, steps, states };
}

/**
 * Roughly what a remembered state holds in memory: every text a client can make long (the key, props,
 * details, locations) and a fixed allowance for the rest. Input and checkpoint are not kept.
 */
export function rememberedBytes(record: OperationRecord): number {
  const texts = [
    record.tenantId,
    record.scope,
    record.id,
    record.type,
    record.statusDetail,
    record.resourceLocation,
    record.idempotencyKey,
    record.requestHash,
    record.createdBy,
    record.handler,
    record.leaseOwner,
  ];
  let bytes = 256 + JSON.stringify(record.props).length;
  for (const text of texts) bytes += text?.length ?? 0;
  return bytes;
}

/** The operation as a write of `changes` leaves it (what the stores' update does to the row). */
export function applyChanges(current: OperationRecord, changes: RecordChanges): OperationRecord {
  const next: OperationRecord = { ...current, version: current.version + 1 };
  for (const [name, value] of Object.entries(changes))
    if (value !== undefined) (next as unknown as Record<string, unknown>)[name] = value;
  // As in the stores: terminalAt is set when a write moves the operation into a terminal state.
  if (
    changes.terminalAt === undefined &&
    changes.status !== undefined &&
    isTerminal(changes.status) &&
    !isTerminal(current.status)
  )
    next.terminalAt = Date.now();
  delete next.eventSeq;
  return next;
}
