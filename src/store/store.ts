/**
 * The one interface every storage backend implements (SQLite embedded, PostgreSQL for many nodes).
 * Both pass test/store-contract.ts. SQL lives only under src/store/.
 */
import type { Actor, OperationEvent, OperationRecord, OperationView } from '../model/operation.js';
import type { FilterNode, ListQuery } from '../model/query.js';
import type { StatusValue } from '../model/status.js';
import type { OperationTypeName } from '../model/types.js';
import type { AdminStore } from './admin.js';
import type { SubscriptionStore } from './subscriptions.js';
import type { UserDirectoryStore } from './users.js';

export interface OperationKey {
  tenantId: string;
  scope: string;
  id: string;
}

export interface NewOperation extends OperationKey {
  type: OperationTypeName;
  status: StatusValue;
  createdDateTime: string;
  lastActionDateTime: string;
  resourceLocation: string | null;
  statusDetail: string | null;
  props: Record<string, unknown>;
  handler?: string | null;
  input?: unknown;
  maxAttempts?: number;
  runAt?: number | null;
  timeoutMs?: number | null;
  idempotencyKey?: string | null;
  requestHash?: string | null;
  createdBy?: string | null;
  /**
   * Taken at creation by a worker of this process that has a free slot (OperationService.start): the row
   * is written `running`, leased to `workerId` until `leaseUntil` (ms), attempt 1 with fencing token 1,
   * with both history events (created, then claimed) in the same commit: one commit before the handler
   * starts instead of an insert's and then a claim's. Only for a new operation (insert), never a restart.
   */
  claim?: { workerId: string; leaseUntil: number };
}

/** Columns a write may set. Undefined means "leave as is". */
export interface RecordChanges {
  status?: StatusValue;
  createdDateTime?: string;
  lastActionDateTime?: string;
  resourceLocation?: string | null;
  statusDetail?: string | null;
  /** Replaces the whole props document (callers merge first). */
  props?: Record<string, unknown>;
  runAt?: number | null;
  leaseOwner?: string | null;
  attempts?: number;
  cancelRequested?: boolean;
  terminalAt?: number | null;
  /** A handler's checkpoint (JSON), kept for the next attempt; null clears it. */
  checkpoint?: unknown;
}

export interface WriteGuard {
  /** Apply only if the row still has this version (optimistic concurrency). */
  expectedVersion?: number;
  /** Apply only if the row's fencing token is still this one (a worker attempt's writes). */
  fencingToken?: number;
  /** Apply only if the operation has not ended (succeeded, failed or canceled). */
  notTerminal?: boolean;
}

export interface ModifyResult {
  record: OperationRecord;
  /** False when the decision was to write nothing (`record` is then the unchanged operation). */
  written: boolean;
}

export interface WriteMeta {
  actor: Actor;
  /** What kind of change this is, recorded in the history ('updated', 'progress', 'canceled', ...). */
  kind: string;
  /** False for bookkeeping writes (lease renewals) that are not part of the operation's history. */
  history?: boolean;
}

/**
 * What `insertOrJoin` did: inserted a new row, joined the unfinished one already at that key, or
 * restarted the ended one there in place (same id and history, a new run).
 */
export type JoinOutcome = 'created' | 'joined' | 'restarted';

export type UpdateResult =
  | { ok: true; record: OperationRecord }
  | { ok: false; reason: 'notFound' | 'conflict'; current?: OperationRecord };

/** One write of a chain (OperationStore.updateChain). */
export interface ChainStep {
  changes: RecordChanges;
  meta: WriteMeta;
}

export type ChainResult =
  | { ok: true; record: OperationRecord; eventSeqs: number[] }
  | { ok: false; reason: 'notFound' }
  /** `current`: the operation as it is (read under the row's lock), when the store can tell. */
  | { ok: false; reason: 'conflict'; current?: OperationRecord };

export class DuplicateKeyError extends Error {
  constructor(
    readonly key: OperationKey,
    readonly existing: OperationRecord,
  ) {
    super(`operation ${key.id} already exists in ${key.scope}`);
  }
}

/**
 * The store cannot reach its database (connection refused or lost, server shutting down or starting up,
 * no connection slot). Nothing was written, or a commit's outcome is unknown; the caller may retry later.
 * The HTTP layer answers 503 `serviceNotAvailable` with `Retry-After`. The original error is `cause`.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** A write some node made to an operation, as cross-node notifications carry it (no record: read it). */
export interface StoreChange extends OperationKey {
  /** The write's kind (WriteMeta.kind: 'created', 'updated', 'cancelRequested', 'deleted', ...; 'claimed'). */
  kind: string;
  /** The history event the write recorded: the event streams' id. */
  eventSeq?: number;
}

export interface ListenOptions {
  /**
   * Called after the listener reconnected following a connection loss. Changes made while it was
   * disconnected were not delivered: callers should re-poll what they wait for.
   */
  onReconnect?: () => void;
  /** Connection errors of the listener (it keeps reconnecting by itself); for logging. */
  onError?: (error: Error) => void;
}

export interface ClaimOptions {
  workerId: string;
  limit: number;
  leaseMs: number;
  /** Only these handler names (the worker's registry); all when omitted. */
  handlers?: readonly string[];
}

/**
 * Every method rejects with StoreUnavailableError when the database can't be reached; other errors are
 * bugs or bad input that slipped through validation.
 */
/** A row's identity and version (OperationStore.readStamp). */
export interface OperationStamp {
  seq: number;
  version: number;
}

export interface OperationStore {
  readonly dialect: 'sqlite' | 'postgres';
  /** Webhook subscriptions; a store without them serves no /subscriptions. */
  readonly subscriptions?: SubscriptionStore;
  /** The shared UPN → object id directory; without it each node keeps what it learns in memory. */
  readonly users?: UserDirectoryStore;
  /** The operator's queries across a tenant's collections; without them, no /longrun/v1 operator API. */
  readonly admin?: AdminStore;
  /** Applies pending migrations; safe to call from several processes at once. */
  migrate(): Promise<void>;
  /** Resolves when the store answers a trivial query (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;

  /** Throws DuplicateKeyError when the key (or the idempotency key) is taken. */
  insert(op: NewOperation, meta: WriteMeta): Promise<OperationRecord>;
  /**
   * Starts an operation whose id derives from its target (`refresh:{alertId}`, `contentTypeCopy,{id}`),
   * deciding inside the write so that concurrent starts on any node agree: no row at the key, insert it;
   * an unfinished one, return it unchanged (`joined`); an ended one (succeeded, failed, canceled), reset
   * it in place to `op` (`restarted`: same id and seq, history kept, version and fencing token moved on,
   * attempts, lease and cancel flag cleared; the event is recorded with the ended status as `from`).
   * Throws DuplicateKeyError only when `op.idempotencyKey` is taken by another operation.
   */
  insertOrJoin(op: NewOperation, meta: WriteMeta): Promise<{ record: OperationRecord; outcome: JoinOutcome }>;
  /** The whole record, engine state included (for writers and the engine). */
  get(key: OperationKey): Promise<OperationRecord | undefined>;
  /** What clients see of one operation: cheaper than `get` (reads serve these). */
  read(key: OperationKey): Promise<OperationView | undefined>;
  /**
   * Optional: what `read` would return now, when the store holds it in memory and knows it is current
   * (no I/O; undefined otherwise). The same object `read` returned while nothing changed, so a caller
   * can tell by identity that what it derived from a read is still current.
   */
  readCached?(key: OperationKey): OperationView | undefined;
  /**
   * Optional: which row and which version of it the operation is now (one small read), for a store
   * without `readCached`: equal to a view's `seq` and `version` exactly when nothing changed since that
   * view was read (every change moves the version; a deleted and re-created operation is another row).
   */
  readStamp?(key: OperationKey): Promise<OperationStamp | undefined>;
  findByIdempotencyKey(tenantId: string, idempotencyKey: string): Promise<OperationRecord | undefined>;
  update(
    key: OperationKey,
    changes: RecordChanges,
    guard: WriteGuard,
    meta: WriteMeta,
  ): Promise<UpdateResult>;
  /**
   * Optional: read, decide and write as one atomic step, for a store whose writes can run the decision
   * inside the transaction (SQLite). `decide` returns the changes, or undefined to write nothing; what it
   * throws rejects the call and writes nothing. Resolves undefined when the operation does not exist.
   * Without it, the service reads, decides and writes with a version guard, retrying on conflict.
   */
  modify?(
    key: OperationKey,
    decide: (current: OperationRecord) => RecordChanges | undefined,
    meta: WriteMeta,
  ): Promise<ModifyResult | undefined>;
  /**
   * Optional, for stores without `modify`: successive writes to one operation as one write. Step i applies
   * to the operation as step i - 1 left it (the first to `base`); the operation ends as the last step leaves
   * it, its version moved on by one per step, with one history event per step (from and to the statuses
   * the steps pass through). Written only if the operation is still at `base.version`, else `conflict`
   * (with the operation as it is) and nothing is written. On success, `record` is the operation after the last step and `eventSeqs[i]` the
   * history event of step i.
   */
  updateChain?(base: OperationRecord, steps: ChainStep[]): Promise<ChainResult>;
  /** Deletes only when `expectedVersion` matches (the caller checked it is terminal). */
  delete(key: OperationKey, guard: WriteGuard, meta: WriteMeta): Promise<UpdateResult>;
  /** Returns up to `query.top + 1` rows so the caller can tell whether another page exists. */
  list(tenantId: string, scope: string, query: ListQuery): Promise<OperationView[]>;
  count(tenantId: string, scope: string, filter?: FilterNode): Promise<number>;
  /** The history of one operation, oldest first. */
  history(key: OperationKey): Promise<OperationEvent[]>;
  /**
   * History events of a collection (or of one operation, with `id`) recorded after `afterEventSeq`, oldest
   * first, at most `limit`: what an event stream missed while a client was away.
   */
  eventsSince(
    tenantId: string,
    scope: string,
    afterEventSeq: number,
    options: { id?: string; limit: number },
  ): Promise<OperationEvent[]>;

  /**
   * Takes up to `limit` due operations (handler set, not terminal, runAt <= now, not cancel-requested):
   * sets them running, leases them to the worker until now + leaseMs, increments attempts and the fencing
   * token. One indexed query; concurrent claimers never get the same operation.
   */
  claim(options: ClaimOptions): Promise<OperationRecord[]>;
  /**
   * Deletes up to `limit` operations that became terminal before `beforeMs`; returns how many it removed.
   */
  purgeTerminal(beforeMs: number, limit: number): Promise<number>;
  /** Due work for metrics/scheduling: how many are due now and the runAt of the oldest. */
  queueStats(): Promise<{ due: number; oldestDueAt: number | null }>;
  /** Operations by status and type, for metrics (`longrun_operations`); optional: without it, no such gauge. */
  /**
   * Moves a collection's operations (and their history and subscriptions) to another scope, leaving any
   * whose id is taken there: used when a user's UPN turns out to belong to an object id already in use.
   * Returns how many operations moved.
   */
  moveScope?(tenantId: string, from: string, to: string): Promise<number>;
  statusCounts?(): Promise<{ status: StatusValue; type: OperationTypeName; count: number }[]>;

  /**
   * Optional worker liveness, for instant recovery (docs/decisions/0016-worker-liveness.md).
   * `registerWorker` records a worker of this process so that its death can be proven: PostgreSQL holds a
   * session advisory lock for it (gone when the session ends), SQLite records host, pid and process start
   * time. `releaseDeadLeases` makes the operations leased to registered workers proven dead due now and
   * forgets those workers; returns how many operations it freed. Without them, leases expire as before.
   */
  registerWorker?(workerId: string): Promise<void>;
  unregisterWorker?(workerId: string): Promise<void>;
  releaseDeadLeases?(): Promise<number>;

  /**
   * Cross-node change notifications; SQLite has a single node and doesn't need it. Calls `onChange` for
   * every insert, update, delete and claim that any node (this one included) commits, after the commit;
   * bookkeeping writes with `history: false` (lease renewals) are not announced. Delivery is at most once
   * and only while connected: after a connection loss the listener reconnects by itself (with backoff) and
   * calls `options.onReconnect`, so polling stays the backstop. Resolves once listening; the returned
   * function stops it.
   */
  listen?(onChange: (change: StoreChange) => void, options?: ListenOptions): Promise<() => Promise<void>>;
}
