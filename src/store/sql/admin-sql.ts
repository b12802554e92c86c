/**
 * The operator's queries (src/store/admin.ts) for both SQL backends: the same statements, with the few
 * dialect differences (placeholders, epoch arithmetic, casts) in one place. Values are always bound.
 */
import { STATUS } from '../../model/status.js';
import type { OperationRecord } from '../../model/operation.js';
import type {
  ActivityBucket,
  AdminFilter,
  AdminPage,
  AdminStore,
  ScopeMatcher,
  StatusCount,
} from '../admin.js';
import { rowToRecord, type OperationRow } from '../row.js';
import type { SqlDialect } from './query-sql.js';

/** Runs one read-only statement and returns its rows. */
export type RunQuery = (sql: string, params: unknown[]) => Promise<Record<string, unknown>[]>;

/** Binds values in text order (SQLite's `?` are positional, PostgreSQL's `$n` numbered). */
class Params {
  readonly values: unknown[] = [];
  constructor(private readonly d: SqlDialect) {}
  /** A placeholder for `value`; text-typed on PostgreSQL where a function needs to know the type. */
  text(value: string): string {
    this.values.push(value);
    const p = this.d.placeholder(this.values.length);
    return this.d.name === 'postgres' ? `${p}::text` : p;
  }
  int(value: number): string {
    this.values.push(value);
    const p = this.d.placeholder(this.values.length);
    // better-sqlite3 binds every JS number as a REAL: a cast keeps bucket arithmetic integer division.
    return this.d.name === 'postgres' ? `${p}::bigint` : `CAST(${p} AS INTEGER)`;
  }
}

/** Epoch ms of a canonical timestamp column (fixed-width ISO 8601 UTC text, src/model/time.ts). */
function epochMs(d: SqlDialect, column: string): string {
  return d.name === 'postgres'
    ? `(extract(epoch from ${column}::timestamptz) * 1000)::bigint`
    : `CAST(round((julianday(${column}) - 2440587.5) * 86400000) AS INTEGER)`;
}

function scopeSql(p: Params, m: ScopeMatcher): string {
  if ('exact' in m) return `scope = ${p.text(m.exact)}`;
  // Not LIKE: '%' and '_' in a user key must stay literal characters.
  const parts = [`substr(scope, 1, length(${p.text(m.prefix)})) = ${p.text(m.prefix)}`];
  if (m.suffix !== undefined) {
    parts.push(`substr(scope, length(scope) - length(${p.text(m.suffix)}) + 1) = ${p.text(m.suffix)}`);
    // The prefix and the suffix must not overlap ('users/' + '/authentication' needs a user key between).
    parts.push(`length(scope) > length(${p.text(m.prefix)}) + length(${p.text(m.suffix)})`);
  }
  return `(${parts.join(' AND ')})`;
}

/** `tenant_id = ? AND ...` for the filter. */
function whereSql(p: Params, tenantId: string, f: AdminFilter): string {
  const where = [`tenant_id = ${p.text(tenantId)}`];
  const list = <T>(column: string, values: readonly T[] | undefined, bind: (v: T) => string) => {
    if (values === undefined) return;
    where.push(values.length === 0 ? '1 = 0' : `${column} IN (${values.map(bind).join(', ')})`);
  };
  if (f.scopes !== undefined) {
    where.push(f.scopes.length === 0 ? '1 = 0' : `(${f.scopes.map((m) => scopeSql(p, m)).join(' OR ')})`);
  }
  list('status', f.statuses, (v) => p.int(v));
  list('type', f.types, (v) => p.text(v));
  list('handler', f.handlers, (v) => p.text(v));
  if (f.id !== undefined) where.push(`id = ${p.text(f.id)}`);
  if (f.createdFrom !== undefined) where.push(`created_at >= ${p.text(f.createdFrom)}`);
  if (f.createdTo !== undefined) where.push(`created_at < ${p.text(f.createdTo)}`);
  if (f.finishedFrom !== undefined) where.push(`terminal_at >= ${p.int(f.finishedFrom)}`);
  if (f.finishedTo !== undefined) where.push(`terminal_at < ${p.int(f.finishedTo)}`);
  return where.join(' AND ');
}

const n = (v: unknown): number => Number(v);
const nOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export class SqlAdminStore implements AdminStore {
  constructor(
    private readonly d: SqlDialect,
    private readonly run: RunQuery,
  ) {}

  async list(tenantId: string, filter: AdminFilter, page: AdminPage): Promise<OperationRecord[]> {
    const p = new Params(this.d);
    let where = whereSql(p, tenantId, filter);
    if (page.beforeSeq !== undefined) where += ` AND seq < ${p.int(page.beforeSeq)}`;
    const sql = `SELECT * FROM operations WHERE ${where} ORDER BY seq DESC LIMIT ${p.int(page.top + 1)}`;
    return (await this.run(sql, p.values)).map((r) => rowToRecord(r as unknown as OperationRow));
  }

  async count(tenantId: string, filter: AdminFilter): Promise<number> {
    const p = new Params(this.d);
    const rows = await this.run(
      `SELECT count(*) AS n FROM operations WHERE ${whereSql(p, tenantId, filter)}`,
      p.values,
    );
    return n(rows[0].n);
  }

  async countsByScope(tenantId: string): Promise<(StatusCount & { scope: string })[]> {
    const p = new Params(this.d);
    const rows = await this.run(
      `SELECT scope, status, count(*) AS n FROM operations WHERE tenant_id = ${p.text(tenantId)}
         GROUP BY scope, status`,
      p.values,
    );
    return rows.map((r) => ({ scope: String(r.scope), status: n(r.status) as never, count: n(r.n) }));
  }

  async countsByHandler(tenantId: string): Promise<(StatusCount & { handler: string })[]> {
    const p = new Params(this.d);
    const rows = await this.run(
      `SELECT handler, status, count(*) AS n FROM operations
         WHERE tenant_id = ${p.text(tenantId)} AND handler IS NOT NULL GROUP BY handler, status`,
      p.values,
    );
    return rows.map((r) => ({ handler: String(r.handler), status: n(r.status) as never, count: n(r.n) }));
  }

  async activity(tenantId: string, sinceMs: number, bucketMs: number): Promise<ActivityBucket[]> {
    const byStart = new Map<number, ActivityBucket>();
    const bucket = (start: number) => {
      let b = byStart.get(start);
      if (!b) {
        b = { start, created: 0, finished: 0, failed: 0, p50Ms: null, p95Ms: null };
        byStart.set(start, b);
      }
      return b;
    };
    const sinceIso = new Date(sinceMs).toISOString().slice(0, 23) + '0000Z';
    const c = new Params(this.d);
    const created = await this.run(
      `SELECT (${epochMs(this.d, 'created_at')} / ${c.int(bucketMs)}) * ${c.int(bucketMs)} AS start, count(*) AS n
         FROM operations WHERE tenant_id = ${c.text(tenantId)} AND created_at >= ${c.text(sinceIso)}
         GROUP BY 1`,
      c.values,
    );
    for (const r of created) bucket(n(r.start)).created = n(r.n);
    // Percentiles by nearest rank (the ceil(p * n)-th smallest duration), with window functions both
    // backends have: no rows leave the database.
    const f = new Params(this.d);
    const finished = await this.run(
      `WITH d AS (
         SELECT (terminal_at / ${f.int(bucketMs)}) * ${f.int(bucketMs)} AS start, status,
                terminal_at - ${epochMs(this.d, 'created_at')} AS dur
           FROM operations WHERE tenant_id = ${f.text(tenantId)} AND terminal_at >= ${f.int(sinceMs)}
       ), r AS (
         SELECT start, status, dur, row_number() OVER (PARTITION BY start ORDER BY dur) AS rn,
                count(*) OVER (PARTITION BY start) AS n FROM d
       )
       SELECT start, count(*) AS finished, sum(CASE WHEN status = ${STATUS.failed} THEN 1 ELSE 0 END) AS failed,
              min(CASE WHEN rn = (50 * n + 99) / 100 THEN dur END) AS p50,
              min(CASE WHEN rn = (95 * n + 99) / 100 THEN dur END) AS p95
         FROM r GROUP BY start`,
      f.values,
    );
    for (const r of finished) {
      const b = bucket(n(r.start));
      b.finished = n(r.finished);
      b.failed = n(r.failed);
      b.p50Ms = nOrNull(r.p50);
      b.p95Ms = nOrNull(r.p95);
    }
    return [...byStart.values()].sort((a, b) => a.start - b.start);
  }

  async latestFailures(tenantId: string, limit: number): Promise<OperationRecord[]> {
    const p = new Params(this.d);
    const rows = await this.run(
      `SELECT * FROM operations WHERE tenant_id = ${p.text(tenantId)} AND status = ${STATUS.failed}
         ORDER BY terminal_at DESC, seq DESC LIMIT ${p.int(limit)}`,
      p.values,
    );
    return rows.map((r) => rowToRecord(r as unknown as OperationRow));
  }
}
