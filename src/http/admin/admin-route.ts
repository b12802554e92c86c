/**
 * The operator API under `/longrun/v1` (longrun's own namespace, not Graph's routes): a tenant's
 * operations across all collections, an overview, the engine's side of one operation, retry, and bulk
 * cancel/delete. Tenant-scoped (the token's tenant), guarded by `LongRun.Admin`; errors in Graph's envelope.
 * Described in the OpenAPI document (src/http/openapi.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { familyOfScope } from '../../families/families.js';
import { badRequest, GraphError } from '../../model/errors.js';
import type { OperationRecord } from '../../model/operation.js';
import { statusName } from '../../model/status.js';
import { fromEpochMs } from '../../model/time.js';
import { errorOf, type AdminService, type Overview } from '../../service/admin-service.js';
import type { CallContext } from '../../service/operation-service.js';
import type { OperationKey } from '../../store/store.js';
import { renderOperation } from '../render.js';
import type { Caller, Security } from '../security.js';
import { ADMIN_PERMISSION } from '../../auth/permissions.js';
import { origin } from '../urls.js';
import { FILTER_PARAMETERS, parseAdminFilter } from './admin-filter.js';
import { decodeKey, encodeKey } from './operation-key.js';

export const ADMIN_BASE = '/longrun/v1';
const MAX_TOP = 200;
const DEFAULT_TOP = 50;

export interface AdminRouteOptions {
  admin: AdminService;
  security: Security;
  publicUrl?: string;
}

/** A token granted LongRun.Admin (delegated scope or application role); everyone when auth is off. */
export function isAdmin(caller: Caller): boolean {
  const p = caller.principal;
  if (!p || p.kind === 'anonymous') return true;
  return p.kind === 'application' ? p.roles.has(ADMIN_PERMISSION) : p.scopes.has(ADMIN_PERMISSION);
}

export function adminRoutes(app: FastifyInstance, o: AdminRouteOptions): void {
  async function operator(request: FastifyRequest): Promise<Caller> {
    const caller = await o.security.authenticate(request.headers.authorization);
    if (!isAdmin(caller)) {
      throw new GraphError(
        403,
        'accessDenied',
        `The operator API needs the ${ADMIN_PERMISSION} permission (a delegated scope or an application role).`,
      );
    }
    return caller;
  }
  const ctx = (caller: Caller): CallContext => ({ actor: caller.actor, includeUnknownEnumMembers: true });
  const keyOf = (caller: Caller, key: string): OperationKey => ({
    tenantId: caller.tenantId,
    ...decodeKey(key),
  });

  app.get(`${ADMIN_BASE}/overview`, async (request) => {
    const caller = await operator(request);
    return renderOverview(await o.admin.overview(caller.tenantId));
  });

  app.get(`${ADMIN_BASE}/operations`, async (request) => {
    const caller = await operator(request);
    const query = { ...(request.query as Record<string, unknown>) };
    const top = integer(query.top, 'top', 1, MAX_TOP) ?? DEFAULT_TOP;
    const beforeSeq = integer(query.skiptoken, 'skiptoken', 1, Number.MAX_SAFE_INTEGER);
    const withCount = query.count === 'true';
    if (query.count !== undefined && query.count !== 'true' && query.count !== 'false') {
      throw badRequest("'count' must be true or false.", 'count');
    }
    delete query.top;
    delete query.skiptoken;
    delete query.count;
    const filter = parseAdminFilter(query);
    const [page, count] = await Promise.all([
      o.admin.list(caller.tenantId, filter, { top, beforeSeq }),
      withCount ? o.admin.count(caller.tenantId, filter) : undefined,
    ]);
    let nextLink: string | undefined;
    if (page.nextBeforeSeq !== undefined) {
      const url = new URL(`${origin(request, o.publicUrl)}${request.url}`);
      url.searchParams.set('skiptoken', String(page.nextBeforeSeq));
      nextLink = url.toString();
    }
    return {
      ...(count !== undefined ? { count } : {}),
      value: page.records.map(summary),
      ...(nextLink ? { nextLink } : {}),
    };
  });

  app.get<{ Params: { key: string } }>(`${ADMIN_BASE}/operations/:key`, async (request) => {
    const caller = await operator(request);
    const d = await o.admin.detail(keyOf(caller, request.params.key));
    const r = d.record;
    return {
      ...summary(r),
      operation: renderOperation(r, { includeUnknownEnumMembers: true }),
      leaseOwner: r.leaseOwner,
      // While a worker holds it, runAt is when its lease expires; otherwise when it may next run.
      leaseExpiresDateTime: r.leaseOwner && r.runAt !== null ? fromEpochMs(r.runAt) : null,
      nextRunDateTime: !r.leaseOwner && r.runAt !== null ? fromEpochMs(r.runAt) : null,
      cancelRequested: r.cancelRequested,
      timeoutMs: r.timeoutMs,
      // What the handler's last attempt saved with ctx.checkpoint, for the next one; null when none.
      checkpoint: r.checkpoint ?? null,
      idempotencyKey: r.idempotencyKey === null ? null : idempotencyKeyOf(r.idempotencyKey),
      attemptList: d.attempts,
      history: d.history.map((e) => ({
        at: e.at,
        kind: e.kind,
        actor: e.actor,
        fromStatus: e.fromStatus === null ? null : statusName(e.fromStatus),
        toStatus: statusName(e.toStatus),
      })),
    };
  });

  app.post<{ Params: { key: string } }>(`${ADMIN_BASE}/operations/:key/retry`, async (request, reply) => {
    const caller = await operator(request);
    const record = await o.admin.retry(keyOf(caller, request.params.key), ctx(caller));
    const body = summary(record);
    reply.header('Location', `${origin(request, o.publicUrl)}${ADMIN_BASE}/operations/${body.key}`);
    return reply.code(201).send({ ...body, retryOf: request.params.key });
  });

  app.post<{ Params: { key: string } }>(`${ADMIN_BASE}/operations/:key/cancel`, async (request) => {
    const caller = await operator(request);
    return summary(await o.admin.cancel(keyOf(caller, request.params.key), ctx(caller)));
  });

  app.post(`${ADMIN_BASE}/operations/bulk`, async (request) => {
    const caller = await operator(request);
    const body = request.body;
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw badRequest(
        'The body must be a JSON object: {"action": "cancel" | "delete", "filter": {...}, "dryRun": bool}.',
      );
    }
    const { action, filter, dryRun, ...rest } = body as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) throw badRequest(`Unknown property '${extra}'.`, extra);
    if (action !== 'cancel' && action !== 'delete')
      throw badRequest("'action' must be 'cancel' or 'delete'.", 'action');
    if (dryRun !== undefined && typeof dryRun !== 'boolean')
      throw badRequest("'dryRun' must be true or false.", 'dryRun');
    if (filter === undefined || filter === null || typeof filter !== 'object' || Array.isArray(filter)) {
      throw badRequest(
        `'filter' must be an object with any of ${FILTER_PARAMETERS.join(', ')} ({} selects everything).`,
        'filter',
      );
    }
    return o.admin.bulk(
      caller.tenantId,
      action,
      parseAdminFilter(filter as Record<string, unknown>),
      dryRun ?? false,
      ctx(caller),
    );
  });

  app.delete<{ Params: { key: string } }>(`${ADMIN_BASE}/operations/:key`, async (request, reply) => {
    const caller = await operator(request);
    await o.admin.remove(keyOf(caller, request.params.key), ctx(caller));
    return reply.code(204).send();
  });
}

function integer(raw: unknown, name: string, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = typeof raw === 'string' && /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw badRequest(`'${name}' must be an integer from ${min} to ${max}.`, name);
  }
  return n;
}

/** Idempotency keys are stored with their caller and collection (docs/decisions/0009); show the client's key. */
function idempotencyKeyOf(stored: string): string {
  try {
    const parsed = JSON.parse(stored) as unknown;
    if (Array.isArray(parsed) && typeof parsed[2] === 'string') return parsed[2];
  } catch {
    // an older form: shown as stored
  }
  return stored;
}

/** One operation as the list shows it: where it lives, its status and the engine's counters. */
export function summary(r: OperationRecord) {
  const pct = r.props.percentageComplete ?? r.props.percentageCompleted;
  return {
    key: encodeKey(r.scope, r.id),
    id: r.id,
    family: familyOfScope(r.scope),
    collection: r.scope,
    type: r.type,
    status: statusName(r.status),
    statusDetail: r.statusDetail,
    percentComplete: typeof pct === 'number' ? pct : null,
    createdDateTime: r.createdDateTime,
    lastActionDateTime: r.lastActionDateTime,
    finishedDateTime: r.terminalAt === null ? null : fromEpochMs(r.terminalAt),
    handler: r.handler,
    attempts: r.attempts,
    maxAttempts: r.maxAttempts,
    createdBy: r.createdBy,
    error: errorOf(r),
  };
}

function renderOverview(o: Overview) {
  const window = (w: Overview['hour']) => ({
    bucketSeconds: w.bucketMs / 1000,
    fromDateTime: fromEpochMs(w.fromMs),
    totals: bucket(w.totals),
    buckets: w.buckets.map(bucket),
  });
  const bucket = (b: Overview['hour']['totals']) => ({
    startDateTime: fromEpochMs(b.start),
    created: b.created,
    finished: b.finished,
    failed: b.failed,
    durationP50Ms: b.p50Ms,
    durationP95Ms: b.p95Ms,
  });
  return {
    families: o.families,
    handlers: o.handlers,
    lastHour: window(o.hour),
    lastDay: window(o.day),
    latestFailures: o.latestFailures.map((f) => summary(f.record)),
  };
}
