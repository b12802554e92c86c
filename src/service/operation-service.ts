/**
 * Create, read, list, update and delete operations, with Graph's rules: terminal states never change,
 * lastActionDateTime moves with every change, ids are unique per collection, identical creates are
 * idempotent. The HTTP layer and the engine both go through here; only this layer calls the store.
 */
import { defaultsOf, type FamilyDef } from '../families/families.js';
import { etagOf, ifMatchHolds, type EtagCondition } from '../model/etag.js';
import { conflict, GraphError, notFound } from '../model/errors.js';
import { newOperationId } from '../model/ids.js';
import type { OperationChanges, OperationRecord, OperationView } from '../model/operation.js';
import type { FilterNode, ListQuery } from '../model/query.js';
import { STATUS, isTerminal } from '../model/status.js';
import { now } from '../model/time.js';
import type { OperationTypeName } from '../model/types.js';
import {
  DuplicateKeyError,
  type ClaimOptions,
  type NewOperation,
  type OperationKey,
  type OperationStore,
  type RecordChanges,
  type WriteMeta,
} from '../store/store.js';
import type { ChangeFeed } from './changes.js';
import { MAX_WRITE_ATTEMPTS, WriteChains } from './write-chain.js';
import { asObjectBody, defaultProps, typeForCreate, validateBody } from './validation.js';
import { createHash } from 'node:crypto';

/** One collection instance, e.g. `/users/alice/authentication/operations` in tenant T. */
export interface CollectionRef {
  tenantId: string;
  scope: string;
  family: FamilyDef;
  /** Concrete types this collection can hold in the request's API version. */
  types: readonly OperationTypeName[];
}

export interface CallContext {
  /** Who is acting, recorded in the history. */
  actor: string;
  includeUnknownEnumMembers: boolean;
  /**
   * `If-Match` of a write (PATCH, DELETE, cancel): checked against the operation's ETag inside the same
   * atomic step as the write, so a writer holding a stale tag gets 412 and never overwrites a newer state.
   */
  ifMatch?: EtagCondition;
}

export interface StartRequest {
  type: OperationTypeName;
  /** The registered handler that runs the work. */
  handler: string;
  input?: unknown;
  /** A chosen id; a new GUID otherwise. */
  id?: string;
  props?: Record<string, unknown>;
  /** What the operation reports before its work sets them (a family's documented defaults). */
  resourceLocation?: string | null;
  statusDetail?: string | null;
  idempotencyKey?: string;
  /** Digest of the request, to tell a replay from a reuse of the idempotency key. */
  requestHash?: string;
  maxAttempts?: number;
  timeoutMs?: number;
  /**
   * The id names the operation's target (`refresh:{alertId}`, `contentTypeCopy,{contentTypeId}`): a start
   * while the operation there is unfinished returns it; a start after it ended runs it again under the
   * same id (docs/decisions/0018-derived-ids.md).
   */
  derivedId?: boolean;
}

/**
 * A worker of this process that takes new operations in their insert (see NewOperation.claim), set by the
 * engine: `reserve` holds a free slot for a new operation of `handler` (or says no), and exactly one of
 * `adopt` (the insert committed, claimed: run it) or `cancel` (it did not) follows.
 */
export interface StartClaimer {
  reserve(handler: string): { workerId: string; leaseMs: number } | undefined;
  adopt(record: OperationRecord): void;
  cancel(): void;
}

export class OperationService {
  /** Set while a worker in this process takes new operations at their insert. */
  startClaimer: StartClaimer | undefined;
  /** For stores without `modify` (PostgreSQL): writes to one operation, queued and batched (write-chain.ts). */
  private readonly chains: WriteChains;
  constructor(
    readonly store: OperationStore,
    readonly changes: ChangeFeed,
  ) {
    this.chains = new WriteChains(store, {
      notFound: (key) => notFound(`The operation '${key.id}' does not exist in this collection.`),
      exhausted: () => conflict('The operation is being changed by others; try again.', 'resourceModified'),
      written: (record, kind) => this.publish(record, kind),
    });
  }

  /** What clients see of one operation; 404 when it is not in this collection. */
  async get(ref: CollectionRef, id: string): Promise<OperationView> {
    const record = await this.store.read(keyOf(ref, id));
    if (!record) throw notFound(`The operation '${id}' does not exist in this collection.`);
    return record;
  }

  /** Whether the store can tell `isCurrent` (the response cache needs it). */
  get tellsCurrent(): boolean {
    return this.store.readCached !== undefined || this.store.readStamp !== undefined;
  }

  /**
   * Whether `view` (what `get` returned earlier) is still the operation as it is now: at once from the
   * store's in-memory read cache (the very object, while nothing changed), else by a small read of its
   * row and version.
   */
  isCurrent(key: OperationKey, view: OperationView): boolean | Promise<boolean> {
    if (this.store.readCached) return this.store.readCached(key) === view;
    if (!this.store.readStamp) return false;
    return this.store
      .readStamp(key)
      .then((stamp) => stamp !== undefined && stamp.seq === view.seq && stamp.version === view.version);
  }

  /** A page of the collection, and whether another page follows. */
  async list(ref: CollectionRef, query: ListQuery): Promise<{ records: OperationView[]; hasMore: boolean }> {
    const rows = await this.store.list(ref.tenantId, ref.scope, query);
    const hasMore = rows.length > query.top;
    return { records: hasMore ? rows.slice(0, query.top) : rows, hasMore };
  }

  count(ref: CollectionRef, filter?: FilterNode): Promise<number> {
    return this.store.count(ref.tenantId, ref.scope, filter);
  }

  /**
   * Creates an operation from a client's body. A body that names an id already taken in the collection
   * returns the existing operation when the body is identical (`created: false`), else 409.
   */
  async create(
    ref: CollectionRef,
    rawBody: unknown,
    ctx: CallContext,
  ): Promise<{ record: OperationRecord; created: boolean }> {
    const body = asObjectBody(rawBody);
    const type = typeForCreate(body, ref.types, ref.family.defaultType);
    const { id, changes } = validateBody(type, body, {
      mode: 'create',
      includeUnknownEnumMembers: ctx.includeUnknownEnumMembers,
    });
    const requestHash = hashBody(body);
    const createdDateTime = changes.createdDateTime ?? now();
    const defaults = defaultsOf(ref.family);
    try {
      const record = await this.store.insert(
        {
          ...keyOf(ref, id ?? newOperationId()),
          type,
          status: changes.status ?? STATUS.notStarted,
          createdDateTime,
          lastActionDateTime: changes.lastActionDateTime ?? createdDateTime,
          // Absent means the family's default; an explicit null stays null.
          resourceLocation:
            changes.resourceLocation !== undefined ? changes.resourceLocation : defaults.resourceLocation,
          statusDetail: changes.statusDetail !== undefined ? changes.statusDetail : defaults.statusDetail,
          props: defaultProps(type, changes.props),
          requestHash,
          createdBy: ctx.actor,
        },
        { actor: ctx.actor, kind: 'created' },
      );
      this.publish(record, 'created');
      return { record, created: true };
    } catch (e) {
      if (e instanceof DuplicateKeyError) {
        if (e.existing.requestHash === requestHash) return { record: e.existing, created: false };
        throw conflict(
          `An operation with id '${id}' already exists in this collection with different properties.`,
          'nameAlreadyExists',
        );
      }
      throw e;
    }
  }

  /** Applies a client's PATCH body. */
  async update(ref: CollectionRef, id: string, rawBody: unknown, ctx: CallContext): Promise<OperationRecord> {
    const body = asObjectBody(rawBody);
    return this.modify(ref, id, ctx, 'updated', (current) => {
      const { changes } = validateBody(current.type, body, {
        mode: 'update',
        includeUnknownEnumMembers: ctx.includeUnknownEnumMembers,
      });
      return changes;
    });
  }

  /**
   * Read-modify-write with optimistic concurrency: `decide` sees the current operation and returns the
   * changes; it runs again if another writer changed the operation in between.
   */
  async modify(
    ref: CollectionRef,
    id: string,
    ctx: CallContext,
    kind: string,
    decide: (
      current: OperationRecord,
    ) => OperationChanges & Pick<RecordChanges, 'cancelRequested' | 'leaseOwner'>,
    /** When it returns true after `decide`, nothing is written and the current operation is returned. */
    skip: () => boolean = () => false,
  ): Promise<OperationRecord> {
    const key = keyOf(ref, id);
    const meta = { actor: ctx.actor, kind };
    const plan = (current: OperationRecord): RecordChanges | undefined => {
      checkIfMatch(ctx, current);
      const changes = decide(current);
      if (skip()) return undefined;
      if (changes.status !== undefined && changes.status !== current.status && isTerminal(current.status)) {
        throw conflict(
          `The operation is ${current.status === STATUS.canceled ? 'canceled' : current.status === STATUS.succeeded ? 'succeeded' : 'failed'}, a terminal state; its status can't change.`,
        );
      }
      return {
        ...changes,
        props: changes.props ? { ...current.props, ...changes.props } : undefined,
        lastActionDateTime: changes.lastActionDateTime ?? now(),
      };
    };
    if (this.store.modify) {
      // The store decides inside its write: atomic, and concurrent writes to one operation commit together.
      const result = await this.store.modify(key, plan, meta);
      if (!result) throw notFound(`The operation '${id}' does not exist in this collection.`);
      if (result.written) this.publish(result.record, kind);
      return result.record;
    }
    return this.chains.write(key, { plan, meta });
  }

  /** Forgets a terminal operation; a running one must be canceled first. */
  async delete(ref: CollectionRef, id: string, ctx: CallContext): Promise<void> {
    const key = keyOf(ref, id);
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const current = await this.store.get(key);
      if (!current) throw notFound(`The operation '${id}' does not exist in this collection.`);
      // The delete below is guarded by the version read here, so this check and the delete are one step.
      checkIfMatch(ctx, current);
      if (!isTerminal(current.status)) {
        throw conflict(
          'The operation has not finished; cancel it first (POST .../cancel), then delete it once it is canceled.',
        );
      }
      const result = await this.store.delete(
        key,
        { expectedVersion: current.version },
        { actor: ctx.actor, kind: 'deleted' },
      );
      if (result.ok) {
        this.changes.publish({ ...key, kind: 'deleted' });
        return;
      }
      if (result.reason === 'notFound')
        throw notFound(`The operation '${id}' does not exist in this collection.`);
    }
    throw conflict('The operation is being changed by others; try again.', 'resourceModified');
  }

  /**
   * Creates an operation bound to a handler (a Graph action started work). With an idempotency key, the
   * same key and request return the operation it made before; the same key with another request is a 409.
   */
  async start(
    ref: CollectionRef,
    request: StartRequest,
    ctx: CallContext,
  ): Promise<{ record: OperationRecord; created: boolean }> {
    // A key is the caller's own, per collection: another caller's identical key is a different request, and
    // learns nothing about it (docs/decisions/0009).
    const idempotencyKey = request.idempotencyKey
      ? JSON.stringify([ctx.actor, ref.scope, request.idempotencyKey])
      : null;
    if (idempotencyKey) {
      const existing = await this.store.findByIdempotencyKey(ref.tenantId, idempotencyKey);
      if (existing) return { record: this.replay(existing, request), created: false };
    }
    const createdDateTime = now();
    const op: NewOperation = {
      ...keyOf(ref, request.id ?? newOperationId()),
      type: request.type,
      status: STATUS.notStarted,
      createdDateTime,
      lastActionDateTime: createdDateTime,
      resourceLocation:
        request.resourceLocation !== undefined
          ? request.resourceLocation
          : defaultsOf(ref.family).resourceLocation,
      statusDetail:
        request.statusDetail !== undefined ? request.statusDetail : defaultsOf(ref.family).statusDetail,
      props: defaultProps(request.type, request.props),
      handler: request.handler,
      input: request.input ?? null,
      maxAttempts: request.maxAttempts ?? 3,
      runAt: Date.now(),
      timeoutMs: request.timeoutMs ?? null,
      idempotencyKey,
      requestHash: request.requestHash ?? null,
      createdBy: ctx.actor,
    };
    const meta = { actor: ctx.actor, kind: 'created' };
    try {
      if (request.derivedId && request.id) {
        // Decided inside the store's write, so concurrent starts on every node get the one operation.
        const { record, outcome } = await this.store.insertOrJoin(op, meta);
        if (outcome === 'joined') return { record, created: false };
        // A restart is a new run: announced as `created`, like a first start (the worker wakes for it).
        this.publish(record, 'created');
        return { record, created: true };
      }
      return { record: await this.insertNew(op, meta), created: true };
    } catch (e) {
      if (e instanceof DuplicateKeyError) {
        if (idempotencyKey && e.existing.idempotencyKey === idempotencyKey) {
          return { record: this.replay(e.existing, request), created: false };
        }
        throw conflict(`An operation with id '${e.key.id}' already exists.`, 'nameAlreadyExists');
      }
      throw e;
    }
  }

  /**
   * Inserts a new operation; when a worker of this process has a free slot for its handler, claimed in the
   * same write and handed to that worker (one commit before the handler starts, not two).
   */
  private async insertNew(op: NewOperation, meta: WriteMeta): Promise<OperationRecord> {
    const slot = op.handler && op.status === STATUS.notStarted ? this.startClaimer : undefined;
    const reserved = slot?.reserve(op.handler!);
    let record: OperationRecord;
    try {
      record = await this.store.insert(
        reserved
          ? { ...op, claim: { workerId: reserved.workerId, leaseUntil: Date.now() + reserved.leaseMs } }
          : op,
        meta,
      );
    } catch (error) {
      if (reserved) slot!.cancel();
      throw error;
    }
    this.publish(record, 'created');
    if (reserved) {
      this.publish(record, 'claimed');
      slot!.adopt(record);
    }
    return record;
  }

  private replay(existing: OperationRecord, request: StartRequest): OperationRecord {
    if (existing.requestHash !== (request.requestHash ?? null)) {
      throw conflict(
        'The Idempotency-Key was already used with a different request.',
        'idempotencyKeyReused',
      );
    }
    return existing;
  }

  /**
   * Cancels an operation. One nobody is working on ends `canceled` at once; a running handler is asked
   * to stop (its signal aborts) and the worker writes `canceled`. Canceling a canceled operation is a
   * no-op; a succeeded or failed one can't be canceled (409).
   */
  async cancel(ref: CollectionRef, id: string, ctx: CallContext): Promise<OperationRecord> {
    let alreadyCanceled: OperationRecord | undefined;
    const record = await this.modify(
      ref,
      id,
      ctx,
      'cancelRequested',
      (current) => {
        if (current.status === STATUS.canceled || (current.cancelRequested && !isTerminal(current.status))) {
          alreadyCanceled = current;
          return {};
        }
        if (isTerminal(current.status)) {
          throw conflict(
            `The operation has already ${current.status === STATUS.succeeded ? 'succeeded' : 'failed'}; it can't be canceled.`,
          );
        }
        const leased = current.leaseOwner !== null && current.runAt !== null && current.runAt > Date.now();
        if (leased) return { cancelRequested: true, statusDetail: 'Cancellation requested.' };
        return {
          status: STATUS.canceled,
          cancelRequested: true,
          leaseOwner: null,
          statusDetail: 'Canceled before it started.',
        };
      },
      () => alreadyCanceled !== undefined,
    );
    return alreadyCanceled ?? record;
  }

  /** Takes due operations for a worker (see OperationStore.claim). */
  async claim(options: ClaimOptions): Promise<OperationRecord[]> {
    const records = await this.store.claim(options);
    for (const r of records) this.publish(r, 'claimed');
    return records;
  }

  /**
   * A write by a worker's attempt, fenced by the token its claim got: undefined when the attempt is
   * stale (its lease was taken over), the operation is gone, or it already ended. The last case matters
   * when the lease lapsed without another claim: a cancel (or a client's PATCH) may then end the
   * operation without a new fencing token, and the stalled attempt must not end it a second time.
   */
  async attemptWrite(
    claimed: OperationRecord,
    changes: RecordChanges,
    kind: string,
    /** A heartbeat is not an action on the operation: it neither moves lastActionDateTime nor enters the history. */
    options: { touch: boolean } = { touch: true },
  ): Promise<OperationRecord | undefined> {
    // One guarded write, no read first: the fencing token and "not ended" are checked atomically with it.
    const result = await this.store.update(
      claimed,
      // Object.assign, not a spread: a spread with more properties is slow on Node 20 (see row.ts).
      options.touch
        ? Object.assign({}, changes, { lastActionDateTime: changes.lastActionDateTime ?? now() })
        : changes,
      { fencingToken: claimed.fencingToken, notTerminal: true },
      { actor: `worker:${claimed.leaseOwner ?? 'unknown'}`, kind, history: options.touch },
    );
    if (!result.ok) return undefined;
    this.publish(result.record, kind);
    return result.record;
  }

  /** Lists a worker so that its death can be proven (see OperationStore.registerWorker); no-op without. */
  async registerWorker(workerId: string): Promise<void> {
    await this.store.registerWorker?.(workerId);
  }

  async unregisterWorker(workerId: string): Promise<void> {
    await this.store.unregisterWorker?.(workerId);
  }

  /** Frees at once the leases of workers proven dead; how many operations became due. */
  async releaseDeadLeases(): Promise<number> {
    return (await this.store.releaseDeadLeases?.()) ?? 0;
  }

  /** Removes operations that became terminal before `beforeMs`, at most `limit` of them. */
  purgeTerminal(beforeMs: number, limit: number): Promise<number> {
    return this.store.purgeTerminal(beforeMs, limit);
  }

  history(ref: CollectionRef, id: string) {
    return this.store.history(keyOf(ref, id));
  }

  private publish(record: OperationRecord, kind: string): void {
    this.changes.publish({ tenantId: record.tenantId, scope: record.scope, id: record.id, record, kind });
  }
}

/** RFC 9110 §13.1.1: a write whose If-Match does not hold is refused with 412, before anything else. */
function checkIfMatch(ctx: CallContext, current: OperationRecord): void {
  if (ctx.ifMatch && !ifMatchHolds(ctx.ifMatch, etagOf(current))) {
    throw new GraphError(
      412,
      'preconditionFailed',
      `The operation has changed: its ETag is ${etagOf(current)}, not the one in If-Match. Read it again and retry.`,
      { headers: { ETag: etagOf(current) } },
    );
  }
}

export function keyOf(ref: CollectionRef, id: string): OperationKey {
  return { tenantId: ref.tenantId, scope: ref.scope, id };
}

/** A stable digest of a request body (key order does not matter), to recognise repeated requests. */
export function hashBody(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('base64url');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
