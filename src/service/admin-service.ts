/**
 * The operator's view of a tenant (issue 19): one list across every collection, an overview of counts and
 * activity, the engine's side of one operation, retry, and bulk cancel/delete. Reads use the store's
 * operator queries; every change goes through OperationService, so Graph's rules (terminal states never
 * change, history, notifications) hold for operators exactly as for clients.
 */
import { family as familyDef, familyOfScope, type FamilyName } from '../families/families.js';
import { conflict, GraphError, notFound } from '../model/errors.js';
import type { OperationEvent, OperationRecord } from '../model/operation.js';
import { STATUS, isTerminal, statusName, type StatusName } from '../model/status.js';
import type { ActivityBucket, AdminFilter, AdminStore } from '../store/admin.js';
import type { OperationKey } from '../store/store.js';
import type { CallContext, CollectionRef, OperationService } from './operation-service.js';

/** What an operator sees of an operation's error: Graph's `error` when the type has one, else its detail. */
export interface OperatorError {
  code: string | null;
  message: string | null;
}

export interface Attempt {
  number: number;
  worker: string;
  startedDateTime: string;
  endedDateTime: string | null;
  durationMs: number | null;
  /** How the attempt ended: succeeded, failed, retry, canceled, released, lost (its lease lapsed), or null while running. */
  outcome: string | null;
  /** The attempt's error, when it is known (the last failed attempt's is; earlier ones only as their outcome). */
  error: OperatorError | null;
}

export interface Overview {
  families: { family: FamilyName; counts: Partial<Record<StatusName, number>>; total: number }[];
  handlers: { handler: string; counts: Partial<Record<StatusName, number>>; total: number }[];
  /** Per-minute buckets over the last hour, and per-15-minute buckets over the last day. */
  hour: Window;
  day: Window;
  latestFailures: { record: OperationRecord; error: OperatorError | null }[];
}

export interface Window {
  bucketMs: number;
  fromMs: number;
  buckets: ActivityBucket[];
  /** The whole window's figures (percentiles over all its finished operations, not of the buckets). */
  totals: ActivityBucket;
}

export type BulkAction = 'cancel' | 'delete';

export interface BulkResult {
  action: BulkAction;
  dryRun: boolean;
  /** How many operations the filter selects (all of them, even when more than one request can act on). */
  matched: number;
  /** How many were canceled or deleted by this request. */
  done: number;
  /** Operations the filter selected that the action does not apply to, with the reason. */
  skipped: { scope: string; id: string; reason: string }[];
  /** True when the filter selected more than one request acts on: send it again for the rest. */
  more: boolean;
}

const HOUR = 3_600_000;
const MINUTE = 60_000;
/** At most this many operations per bulk request: each is its own guarded write. */
export const BULK_LIMIT = 500;
const ATTEMPT_END_KINDS = new Set(['succeeded', 'failed', 'retry', 'canceled', 'released']);

export class AdminService {
  constructor(
    private readonly operations: OperationService,
    private readonly admin: AdminStore,
  ) {}

  async overview(tenantId: string, nowMs = Date.now()): Promise<Overview> {
    const [byScope, byHandler, hour, day, failures] = await Promise.all([
      this.admin.countsByScope(tenantId),
      this.admin.countsByHandler(tenantId),
      this.window(tenantId, nowMs - HOUR, MINUTE),
      this.window(tenantId, nowMs - 24 * HOUR, 15 * MINUTE),
      this.admin.latestFailures(tenantId, 10),
    ]);
    const families = new Map<FamilyName, Partial<Record<StatusName, number>>>();
    for (const row of byScope) {
      const name = familyOfScope(row.scope);
      const counts = families.get(name) ?? {};
      const s = statusName(row.status);
      counts[s] = (counts[s] ?? 0) + row.count;
      families.set(name, counts);
    }
    const handlers = new Map<string, Partial<Record<StatusName, number>>>();
    for (const row of byHandler) {
      const counts = handlers.get(row.handler) ?? {};
      counts[statusName(row.status)] = row.count;
      handlers.set(row.handler, counts);
    }
    const total = (c: Partial<Record<StatusName, number>>) => Object.values(c).reduce((a, b) => a + b, 0);
    return {
      families: [...families].map(([f, counts]) => ({ family: f, counts, total: total(counts) })),
      handlers: [...handlers].map(([h, counts]) => ({ handler: h, counts, total: total(counts) })),
      hour,
      day,
      latestFailures: failures.map((record) => ({ record, error: errorOf(record) })),
    };
  }

  private async window(tenantId: string, fromMs: number, bucketMs: number): Promise<Window> {
    // The totals are one bucket wider than any epoch-ms time: every row falls in bucket 0.
    const [buckets, whole] = await Promise.all([
      this.admin.activity(tenantId, fromMs, bucketMs),
      this.admin.activity(tenantId, fromMs, 2 ** 52),
    ]);
    const totals: ActivityBucket = whole[0] ?? {
      start: 0,
      created: 0,
      finished: 0,
      failed: 0,
      p50Ms: null,
      p95Ms: null,
    };
    totals.start = fromMs;
    return { bucketMs, fromMs, buckets, totals };
  }

  async list(
    tenantId: string,
    filter: AdminFilter,
    page: { top: number; beforeSeq?: number },
  ): Promise<{ records: OperationRecord[]; nextBeforeSeq?: number }> {
    const rows = await this.admin.list(tenantId, filter, page);
    const records = rows.slice(0, page.top);
    return {
      records,
      nextBeforeSeq: rows.length > page.top ? records[records.length - 1].seq : undefined,
    };
  }

  count(tenantId: string, filter: AdminFilter): Promise<number> {
    return this.admin.count(tenantId, filter);
  }

  /** One operation with its history and attempts; 404 when it is not in the caller's tenant. */
  async detail(key: OperationKey): Promise<{
    record: OperationRecord;
    history: OperationEvent[];
    attempts: Attempt[];
    error: OperatorError | null;
  }> {
    const record = await this.operations.store.get(key);
    if (!record) throw notFound(`The operation '${key.id}' does not exist in '${key.scope}'.`);
    const history = await this.operations.store.history(key);
    return { record, history, attempts: attemptsOf(record, history), error: errorOf(record) };
  }

  /**
   * Runs a failed or canceled operation's work again as a new operation in the same collection, with the
   * same handler, input and limits; the original stays as it ended (Graph: terminal states never change).
   * The new one says in its statusDetail which operation it retries (docs/decisions/0023).
   */
  async retry(key: OperationKey, ctx: CallContext): Promise<OperationRecord> {
    const original = await this.operations.store.get(key);
    if (!original) throw notFound(`The operation '${key.id}' does not exist in '${key.scope}'.`);
    if (!original.handler) {
      throw conflict('The operation is not run by a handler; there is no work to retry.', 'notRetryable');
    }
    if (original.status !== STATUS.failed && original.status !== STATUS.canceled) {
      throw conflict(
        `Only failed or canceled operations can be retried; this one is ${statusName(original.status)}.`,
        'notRetryable',
      );
    }
    const { record } = await this.operations.start(
      refOf(original),
      {
        type: original.type,
        handler: original.handler,
        input: original.input,
        statusDetail: `Retry of operation '${original.id}'.`,
        maxAttempts: original.maxAttempts,
        timeoutMs: original.timeoutMs ?? undefined,
      },
      ctx,
    );
    return record;
  }

  /** Cancels one operation, with the rules of POST .../cancel. */
  async cancel(key: OperationKey, ctx: CallContext): Promise<OperationRecord> {
    return this.operations.cancel(await this.refFor(key), key.id, ctx);
  }

  /** Deletes one finished operation, with the rules of DELETE on its Graph URL. */
  async remove(key: OperationKey, ctx: CallContext): Promise<void> {
    await this.operations.delete(await this.refFor(key), key.id, ctx);
  }

  private async refFor(key: OperationKey): Promise<CollectionRef> {
    const record = await this.operations.store.read(key);
    if (!record) throw notFound(`The operation '${key.id}' does not exist in '${key.scope}'.`);
    return refOf({ ...record, tenantId: key.tenantId } as OperationRecord);
  }

  /** Cancels or deletes what the filter selects, at most BULK_LIMIT per call; `dryRun` only counts. */
  async bulk(
    tenantId: string,
    action: BulkAction,
    filter: AdminFilter,
    dryRun: boolean,
    ctx: CallContext,
  ): Promise<BulkResult> {
    // Only operations the action applies to are selected, so that repeating the call makes progress.
    const applicable: AdminFilter =
      action === 'cancel'
        ? { ...filter, statuses: (filter.statuses ?? ALL).filter((s) => !isTerminal(s)) }
        : { ...filter, statuses: (filter.statuses ?? ALL).filter((s) => isTerminal(s)) };
    const matched = await this.admin.count(tenantId, applicable);
    const result: BulkResult = { action, dryRun, matched, done: 0, skipped: [], more: false };
    if (dryRun || matched === 0) return result;
    const rows = await this.admin.list(tenantId, applicable, { top: BULK_LIMIT });
    result.more = rows.length > BULK_LIMIT;
    for (const record of rows.slice(0, BULK_LIMIT)) {
      try {
        if (action === 'cancel') await this.operations.cancel(refOf(record), record.id, ctx);
        else await this.operations.delete(refOf(record), record.id, ctx);
        result.done++;
      } catch (error) {
        // Changed since it was selected (finished, deleted, being written): report it, go on with the rest.
        if (!(error instanceof GraphError) || error.status >= 500) throw error;
        result.skipped.push({ scope: record.scope, id: record.id, reason: error.message });
      }
    }
    return result;
  }
}

const ALL = Object.values(STATUS).filter((s) => s !== STATUS.unknownFutureValue);

/** The collection an operation lives in, as the operation service addresses it. */
function refOf(record: OperationRecord): CollectionRef {
  return {
    tenantId: record.tenantId,
    scope: record.scope,
    family: familyDef(familyOfScope(record.scope)),
    types: [record.type],
  };
}

export function errorOf(record: OperationRecord): OperatorError | null {
  const e = record.props.error as { code?: unknown; message?: unknown } | null | undefined;
  if (e && typeof e === 'object') {
    return {
      code: typeof e.code === 'string' ? e.code : null,
      message: typeof e.message === 'string' ? e.message : record.statusDetail,
    };
  }
  if (record.status === STATUS.failed) return { code: null, message: record.statusDetail };
  return null;
}

/**
 * Attempts as the history tells them: each claim starts one; it ends with the next ending write
 * (succeeded, failed, retry, canceled, released) or, when another claim comes first, was lost.
 */
export function attemptsOf(record: OperationRecord, history: OperationEvent[]): Attempt[] {
  const attempts: Attempt[] = [];
  let current: Attempt | undefined;
  const end = (at: string, outcome: string) => {
    if (!current) return;
    current.endedDateTime = at;
    current.durationMs = Date.parse(at) - Date.parse(current.startedDateTime);
    current.outcome = outcome;
    current = undefined;
  };
  for (const event of history) {
    if (event.kind === 'claimed') {
      end(event.at, 'lost');
      current = {
        number: attempts.length + 1,
        worker: event.actor.replace(/^worker:/, ''),
        startedDateTime: event.at,
        endedDateTime: null,
        durationMs: null,
        outcome: null,
        error: null,
      };
      attempts.push(current);
    } else if (ATTEMPT_END_KINDS.has(event.kind)) {
      end(event.at, event.kind);
    }
  }
  const last = attempts[attempts.length - 1];
  if (last && last.outcome === 'failed') last.error = errorOf(record);
  return attempts;
}
