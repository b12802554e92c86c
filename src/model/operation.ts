import type { StatusValue } from './status.js';
import type { OperationTypeName } from './types.js';

/**
 * What reads return: the operation as clients see it, without the engine's bookkeeping. Reads select only
 * these columns, because building the wide engine row costs more than the rest of a GET (see
 * docs/BENCHMARKS.md).
 */
export interface OperationView {
  /** Store-assigned, increasing: creation order, keyset tie-breaker, and event ordering. */
  seq: number;
  tenantId: string;
  scope: string;
  id: string;
  type: OperationTypeName;
  status: StatusValue;
  createdDateTime: string;
  lastActionDateTime: string;
  resourceLocation: string | null;
  statusDetail: string | null;
  /** Subtype properties (e.g. percentageComplete, errors), by property name. */
  props: Record<string, unknown>;
  /** Bumped on every write; optimistic concurrency for read-modify-write. */
  version: number;
}

/**
 * An operation as longrun keeps it. `tenantId` + `scope` + `id` identify it: the scope is the collection
 * instance it lives in (e.g. `users/alice/authentication`), so the same id under another collection is
 * another operation, and an operation is never visible outside its collection.
 */
export interface OperationRecord extends OperationView {
  /** Engine state; null for operations that no handler runs. */
  handler: string | null;
  input: unknown;
  attempts: number;
  maxAttempts: number;
  /**
   * Epoch ms from which a worker may take the operation. While a worker holds it, this is when its lease
   * expires, so one indexed column answers "what is due" for new work and for expired leases alike.
   */
  runAt: number | null;
  /** The worker holding the lease, if any. */
  leaseOwner: string | null;
  /** Incremented by every claim; a write carrying an older token is refused. */
  fencingToken: number;
  cancelRequested: boolean;
  timeoutMs: number | null;
  idempotencyKey: string | null;
  requestHash: string | null;
  createdBy: string | null;
  /** Epoch ms at which it became terminal (drives retention). */
  terminalAt: number | null;
  /** The last state a handler saved with ctx.checkpoint (JSON), for the next attempt; null if none. */
  checkpoint?: unknown;
  /** On records a write returns: the history event that write recorded (the event streams' id). */
  eventSeq?: number;
}

/** The properties a client or handler can set. */
export interface OperationChanges {
  status?: StatusValue;
  createdDateTime?: string;
  lastActionDateTime?: string;
  resourceLocation?: string | null;
  statusDetail?: string | null;
  props?: Record<string, unknown>;
}

/** The actor of a change: a principal (`user:<oid>`, `app:<id>`), a worker (`worker:<id>`) or `system`. */
export type Actor = string;

export interface OperationEvent {
  /** Store-assigned, increasing across all operations: the SSE event id. */
  eventSeq: number;
  tenantId: string;
  scope: string;
  id: string;
  at: string;
  fromStatus: StatusValue | null;
  toStatus: StatusValue;
  actor: Actor;
  /** What changed: 'created' | 'updated' | 'deleted' | 'purged' | 'claimed' | 'retry' ... */
  kind: string;
}
