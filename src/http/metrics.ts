/**
 * `GET /metrics`: Prometheus metrics (text exposition format, prom-client), from a registry of this app's
 * own (not prom-client's global one, so several apps in one process don't mix).
 *
 * The endpoint is public, like /healthz: Prometheus scrapes it without a token. It tells counts and
 * timings, never operation contents or tenants; put it behind the network policy or proxy that guards
 * other operator endpoints if even that is too much.
 *
 * What it counts:
 * - HTTP: `longrun_http_requests_total` and `longrun_http_request_duration_seconds` by route family (the
 *   families' names, from the first path segment after the version; `other` for everything else), method
 *   and status code. Requests inside a `$batch` are counted like any other.
 * - Operations: `longrun_operations{status,type}`, counted by the store on scrape (when it can:
 *   OperationStore.statusCounts is optional).
 * - Queue: `longrun_queue_due` and `longrun_queue_oldest_due_age_seconds`, from queueStats() on scrape.
 * - Engine (this node's workers, from the service's change feed): claims, retries, completions by status,
 *   releases at shutdown, lease expiries (a claim that took an operation over from an attempt whose lease
 *   ran out: that attempt was stale), and `longrun_handler_duration_seconds` from claim to outcome.
 * - Store: `longrun_store_query_duration_seconds{method}` for every store call this node makes.
 * - Process: prom-client's default metrics (CPU, memory, event loop lag, GC).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { FAMILIES, type FamilyName } from '../families/families.js';
import { STATUS, statusName, type StatusValue } from '../model/status.js';
import { OPERATION_TYPES } from '../model/types.js';
import type { OperationChange } from '../service/changes.js';
import type { OperationService } from '../service/operation-service.js';
import type { OperationKey, OperationStore } from '../store/store.js';
import { ACTIONS } from './actions/definitions.js';

export type FamilyLabel = FamilyName | 'other';

/**
 * First path segment after the version → family. Every family's collections and actions start with a
 * segment no other family uses (test/metrics.test.ts checks it), so one map lookup names the family
 * without resolving the path again.
 */
const SEGMENT_FAMILY: ReadonlyMap<string, FamilyName> = (() => {
  const map = new Map<string, FamilyName>();
  for (const f of FAMILIES) for (const c of f.collections) map.set(c.segments[0], f.name);
  for (const a of ACTIONS) if (!map.has(a.segments[0])) map.set(a.segments[0], a.family);
  return map;
})();

/** The route family a request URL belongs to, or `other` (no version prefix, `$metadata`, unknown). */
export function familyLabel(url: string): FamilyLabel {
  if (!url.startsWith('/v1.0/') && !url.startsWith('/beta/')) return 'other';
  const start = 6; // both prefixes are six characters long
  let end = start;
  for (; end < url.length; end++) {
    const c = url.charCodeAt(end);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 40 /* ( */) break;
  }
  return SEGMENT_FAMILY.get(url.slice(start, end)) ?? 'other';
}

/** Types an operation can have (abstract ones can't): the series `longrun_operations` always has. */
const CONCRETE_TYPES = Object.values(OPERATION_TYPES)
  .filter((t) => !t.abstract)
  .map((t) => t.name);

const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const HANDLER_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
const STORE_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];

/** Store methods whose latency is measured (not migrate/close/listen). */
const STORE_METHODS = [
  'ping',
  'insert',
  'get',
  'read',
  'findByIdempotencyKey',
  'update',
  'updateChain',
  'delete',
  'list',
  'count',
  'history',
  'eventsSince',
  'claim',
  'purgeTerminal',
  'queueStats',
  'statusCounts',
] as const;

interface HttpChild {
  count: Counter.Internal;
  duration: Histogram.Internal<string>;
}

export interface MetricsOptions {
  service: OperationService;
  /** prom-client's process metrics (default true). */
  defaultMetrics?: boolean;
}

export class LongrunMetrics {
  readonly registry = new Registry();
  private readonly httpRequests: Counter<'family' | 'method' | 'status'>;
  private readonly httpDuration: Histogram<'family' | 'method' | 'status'>;
  /** family → method → status → children, so a request costs map lookups and no label strings. */
  private readonly httpChildren = new Map<string, Map<string, Map<number, HttpChild>>>();
  private readonly engine: EngineMetrics;
  private readonly unsubscribe: () => void;
  private readonly restoreStore: () => void;

  constructor(options: MetricsOptions) {
    const registers = [this.registry];
    const store = options.service.store;
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });

    const labelNames = ['family', 'method', 'status'] as const;
    this.httpRequests = new Counter({
      name: 'longrun_http_requests_total',
      help: 'HTTP requests answered, by route family, method and status code.',
      labelNames,
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'longrun_http_request_duration_seconds',
      help: 'Time to answer HTTP requests, by route family, method and status code.',
      labelNames,
      buckets: HTTP_BUCKETS,
      registers,
    });

    const statusCounts = store.statusCounts?.bind(store);
    if (statusCounts) {
      new Gauge({
        name: 'longrun_operations',
        help: 'Operations in the store, by status and type.',
        labelNames: ['status', 'type'] as const,
        registers,
        async collect() {
          this.reset();
          try {
            const rows = await statusCounts();
            for (const s of Object.values(STATUS) as StatusValue[]) {
              for (const t of CONCRETE_TYPES) this.set({ status: statusName(s), type: t }, 0);
            }
            for (const r of rows) this.set({ status: statusName(r.status), type: r.type }, r.count);
          } catch {
            // the store is unreachable: no samples rather than stale ones
          }
        },
      });
    }

    let pendingStats: Promise<{ due: number; oldestDueAt: number | null } | undefined> | undefined;
    // Both queue gauges are collected in the same scrape: one query serves them.
    const queueStats = () =>
      (pendingStats ??= store
        .queueStats()
        .catch(() => undefined)
        .finally(() => setImmediate(() => (pendingStats = undefined))));
    new Gauge({
      name: 'longrun_queue_due',
      help: 'Operations whose handler is due to run now (new work, retries, expired leases).',
      registers,
      async collect() {
        const s = await queueStats();
        if (s) this.set(s.due);
        else this.reset();
      },
    });
    new Gauge({
      name: 'longrun_queue_oldest_due_age_seconds',
      help: 'How long the oldest due operation has been waiting (0 when none is due).',
      registers,
      async collect() {
        const s = await queueStats();
        if (!s) this.reset();
        else this.set(s.oldestDueAt === null ? 0 : Math.max(0, (Date.now() - s.oldestDueAt) / 1000));
      },
    });

    this.engine = new EngineMetrics(this.registry, store);
    this.unsubscribe = options.service.changes.subscribe((change) => this.engine.observe(change));

    const storeDuration = new Histogram({
      name: 'longrun_store_query_duration_seconds',
      help: 'Time the store took to answer, by store method.',
      labelNames: ['method'] as const,
      buckets: STORE_BUCKETS,
      registers,
    });
    this.restoreStore = instrumentStore(store, storeDuration);
  }

  /** Counts one answered request (Fastify's onResponse). */
  observeRequest(request: FastifyRequest, reply: FastifyReply): void {
    this.observe(familyLabel(request.url), request.method, reply.statusCode, reply.elapsedTime / 1000);
  }

  /** Counts one answered request of this route family, method and status that took `seconds`. */
  observe(family: string, method: string, status: number, seconds: number): void {
    let byMethod = this.httpChildren.get(family);
    if (!byMethod) this.httpChildren.set(family, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let child = byStatus.get(status);
    if (!child) {
      const labels = [family, method, String(status)];
      child = { count: this.httpRequests.labels(...labels), duration: this.httpDuration.labels(...labels) };
      byStatus.set(status, child);
    }
    child.count.inc();
    child.duration.observe(seconds);
  }

  close(): void {
    this.unsubscribe();
    this.restoreStore();
  }
}

/**
 * Engine counters from the change feed. Only changes this node made count (they carry the record;
 * changes relayed from other nodes don't), so summing over nodes counts each event once.
 */
class EngineMetrics {
  private readonly claims: Counter;
  private readonly retries: Counter;
  private readonly completions: Counter<'status'>;
  private readonly releases: Counter;
  private readonly leaseExpiries: Counter;
  private readonly handlerDuration: Histogram<'handler' | 'outcome'>;
  /** This node's running attempts: when each was claimed, to time it. */
  private readonly attempts = new Map<string, { startedAt: number; fencingToken: number; handler: string }>();

  constructor(
    registry: Registry,
    private readonly store: OperationStore,
  ) {
    const registers = [registry];
    this.claims = new Counter({
      name: 'longrun_engine_claims_total',
      help: 'Operations claimed by this node’s workers.',
      registers,
    });
    this.retries = new Counter({
      name: 'longrun_engine_retries_total',
      help: 'Attempts that failed and were scheduled to run again.',
      registers,
    });
    this.completions = new Counter({
      name: 'longrun_engine_completions_total',
      help: 'Operations the workers ended, by the status they ended in.',
      labelNames: ['status'] as const,
      registers,
    });
    this.releases = new Counter({
      name: 'longrun_engine_releases_total',
      help: 'Running operations given back at shutdown for another worker to take.',
      registers,
    });
    this.leaseExpiries = new Counter({
      name: 'longrun_engine_lease_expiries_total',
      help: 'Claims that took an operation over from an attempt whose lease had expired (that attempt was stale: its process died or stalled).',
      registers,
    });
    this.handlerDuration = new Histogram({
      name: 'longrun_handler_duration_seconds',
      help: 'Attempts from claim to outcome, by handler and outcome (succeeded, failed, canceled, retry, released).',
      labelNames: ['handler', 'outcome'] as const,
      buckets: HANDLER_BUCKETS,
      registers,
    });
  }

  observe(change: OperationChange): void {
    const record = change.record;
    if (!record) {
      // Relayed by the store's notifications (other nodes' writes, and this node's again): not counted here.
      if (change.kind === 'deleted') this.attempts.delete(attemptKey(change));
      return;
    }
    switch (change.kind) {
      case 'claimed':
        this.claims.inc();
        if (this.attempts.size > 100_000) this.attempts.clear(); // attempts that went stale silently
        this.attempts.set(attemptKey(change), {
          startedAt: performance.now(),
          fencingToken: record.fencingToken,
          handler: record.handler ?? 'unknown',
        });
        if (record.fencingToken > 1) void this.checkTakeover(change);
        return;
      case 'retry':
        this.retries.inc();
        return this.ended(change, 'retry');
      case 'succeeded':
      case 'failed':
      case 'canceled':
        this.completions.inc({ status: change.kind });
        return this.ended(change, change.kind);
      case 'released':
        this.releases.inc();
        return this.ended(change, 'released');
      case 'deleted':
        this.attempts.delete(attemptKey(change));
        return;
    }
  }

  private ended(change: OperationChange, outcome: string): void {
    const key = attemptKey(change);
    const attempt = this.attempts.get(key);
    if (!attempt) return;
    this.attempts.delete(key);
    if (change.record?.fencingToken === attempt.fencingToken) {
      this.handlerDuration.observe(
        { handler: attempt.handler, outcome },
        (performance.now() - attempt.startedAt) / 1000,
      );
    }
  }

  /**
   * A re-claim is a takeover when the previous attempt neither asked for a retry nor gave the operation
   * back: its lease ran out. The history says so across nodes and restarts; only re-claims read it.
   */
  private async checkTakeover(key: OperationKey): Promise<void> {
    try {
      const events = await this.store.history({ tenantId: key.tenantId, scope: key.scope, id: key.id });
      let i = events.length - 1;
      while (i >= 0 && events[i].kind !== 'claimed') i--;
      for (let j = i - 1; j >= 0; j--) {
        const kind = events[j].kind;
        if (kind === 'retry' || kind === 'released') return;
        if (kind === 'claimed') {
          this.leaseExpiries.inc();
          return;
        }
      }
    } catch {
      // the store is closing or unreachable; the count is best effort
    }
  }
}

const attemptKey = (k: OperationKey) => `${k.tenantId}\u0000${k.scope}\u0000${k.id}`;

/**
 * Times every call of the store's query methods, in place (the service and the workers hold this very
 * object). Returns a function that puts the original methods back.
 */
function instrumentStore(store: OperationStore, histogram: Histogram<'method'>): () => void {
  const target = store as unknown as Record<string, unknown>;
  const restore: (() => void)[] = [];
  for (const method of STORE_METHODS) {
    const original = target[method];
    if (typeof original !== 'function') continue;
    const child = histogram.labels(method);
    const own = Object.prototype.hasOwnProperty.call(target, method);
    const fn = original as (...args: unknown[]) => Promise<unknown>;
    target[method] = async function timed(this: unknown, ...args: unknown[]) {
      const start = performance.now();
      try {
        return await fn.apply(store, args);
      } finally {
        child.observe((performance.now() - start) / 1000);
      }
    };
    restore.push(() => {
      if (own) target[method] = original;
      else delete target[method];
    });
  }
  return () => restore.forEach((r) => r());
}

/** Registers the onResponse hook that counts requests and `GET /metrics`. */
export function metricsPlugin(app: FastifyInstance, options: MetricsOptions): LongrunMetrics {
  const metrics = new LongrunMetrics(options);
  app.addHook('onResponse', (request, reply, done) => {
    metrics.observeRequest(request, reply);
    done();
  });
  app.addHook('onClose', (_app, done) => {
    metrics.close();
    done();
  });
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
  return metrics;
}
