/**
 * The embedded store: one SQLite file in WAL mode through better-sqlite3. better-sqlite3 is synchronous;
 * every method still returns a Promise so the service is written once for both backends. Each write (row
 * and history event) is atomic, and writes issued in the same turn of the event loop share one commit
 * (group-commit.ts): a crash leaves no half a change, and no write is acknowledged before it commits.
 */
import Database from 'better-sqlite3';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { OperationEvent, OperationRecord, OperationView } from '../../model/operation.js';
import type { FilterNode, ListQuery } from '../../model/query.js';
import { STATUS, type StatusValue } from '../../model/status.js';
import type { OperationTypeName } from '../../model/types.js';
import { now } from '../../model/time.js';
import {
  changeColumns,
  INSERT_COLUMNS,
  insertValues,
  restartSet,
  TERMINAL,
  rowToEvent,
  rowToRecord,
  rowToView,
  VIEW_COLUMNS,
  type ViewRow,
  type EventRow,
  type OperationRow,
} from '../row.js';
import { compileAfter, compileFilter, compileOrderBy, sqliteDialect } from '../sql/query-sql.js';
import {
  DuplicateKeyError,
  type ClaimOptions,
  type JoinOutcome,
  type ModifyResult,
  type NewOperation,
  type OperationKey,
  type OperationStore,
  type RecordChanges,
  type UpdateResult,
  type WriteGuard,
  type WriteMeta,
} from '../store.js';
import { SqlAdminStore } from '../sql/admin-sql.js';
import { GroupCommit } from './group-commit.js';
import { rawRecords, type RecordReader } from './raw-record.js';
import { ReadCache } from './read-cache.js';
import { DUE_HANDLERS_CTE } from '../sql/due-handlers.js';
import { provenDead, thisProcess } from './liveness.js';
import { SQLITE_MIGRATIONS } from './migrations.js';
import { SqliteSubscriptions } from './sqlite-subscriptions.js';
import { SqliteUsers } from './sqlite-users.js';

export interface SqliteStoreOptions {
  /** Path of the database file; created with its folder when missing. */
  file: string;
  /**
   * `normal` (default) survives a process crash (SIGKILL) without losing a committed write; `full` also
   * survives power loss, at the price of an fsync per commit.
   */
  synchronous?: 'normal' | 'full';
  /**
   * How many operations reads keep between changes of the database (read-cache.ts): exact, emptied by any
   * write from any process. Single reads and list pages each get this budget (a page of 100 counts 101).
   * Default 10,000; 0 turns both off.
   */
  readCacheEntries?: number;
}

export const DEFAULT_READ_CACHE_ENTRIES = 10_000;
/** About what a cached record holds, in characters: a list page's key weighs one record per this many. */
const KEY_CHARS_PER_RECORD = 512;

/**
 * One handler's due operations, oldest first (parameters: handler, now, limit): a search of
 * operations_due_handler on (handler=? AND run_at<?), which never visits another handler's rows.
 */
export const CLAIM_DUE_SQL = `SELECT seq, tenant_id, scope, id, status, run_at FROM operations
  WHERE handler = ? AND status < 2 AND run_at <= ? ORDER BY run_at, seq LIMIT ?`;

/** Due now, over all handlers (parameter: now): each handler's range run_at <= now, counted in the index. */
export const QUEUE_STATS_SQL = `WITH RECURSIVE ${DUE_HANDLERS_CTE}
SELECT count(*) AS due, min(o.run_at) AS oldest FROM due_handlers h CROSS JOIN operations o
  WHERE o.handler = h.name AND o.status < 2 AND o.run_at <= ?`;

/**
 * A dead worker's leases made due now (parameters: now, worker id, now). Leased rows are due when their
 * lease ends, so they lie in each handler's range run_at > now of operations_due_handler (with the retries
 * and scheduled starts still to come): that range is searched per handler, and lease_owner checked there.
 */
export const RELEASE_LEASES_SQL = `WITH RECURSIVE ${DUE_HANDLERS_CTE}
UPDATE operations SET run_at = ?, version = version + 1
  WHERE handler IN (SELECT name FROM due_handlers) AND status < 2 AND lease_owner = ? AND run_at > ?`;

interface DueRow {
  seq: number;
  tenant_id: string;
  scope: string;
  id: string;
  status: number;
  run_at: number;
}

const KEY_WHERE = 'tenant_id = ? AND scope = ? AND id = ?';

/** The read cache's key; NUL can't occur in a tenant, scope or id (refused at the edge). */
const readKey = (key: OperationKey) => `${key.tenantId}\0${key.scope}\0${key.id}`;

export class SqliteStore implements OperationStore {
  readonly dialect = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  /** The hot writes' `RETURNING *` statements, in raw mode, with their readers (see raw-record.ts). */
  private readonly returning = new Map<string, { statement: Database.Statement; read: RecordReader }>();
  readonly subscriptions: SqliteSubscriptions;
  readonly users: SqliteUsers;
  readonly admin: SqlAdminStore;
  /** Operation writes issued together commit together (see group-commit.ts). */
  private readonly writes: GroupCommit;
  private readonly reads: ReadCache<OperationView>;
  /** List pages, by statement and parameters: a dashboard or client polling the same page reads it once. */
  private readonly pages: ReadCache<OperationView[]>;

  constructor(options: SqliteStoreOptions) {
    const cacheEntries = options.readCacheEntries ?? DEFAULT_READ_CACHE_ENTRIES;
    if (!Number.isSafeInteger(cacheEntries) || cacheEntries < 0) {
      throw new TypeError(
        `SqliteStore: 'readCacheEntries' must be a whole number, 0 or more; got ${String(options.readCacheEntries)}.`,
      );
    }
    if (options.file !== ':memory:') {
      // Operations are tenants' data: the folder longrun creates is the owner's alone, and so is the file
      // (SQLite gives its -wal and -shm files the database file's mode).
      mkdirSync(dirname(options.file), { recursive: true, mode: 0o700 });
      closeSync(openSync(options.file, 'a', 0o600));
    }
    this.db = new Database(options.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    this.subscriptions = new SqliteSubscriptions(this.db);
    this.users = new SqliteUsers(this.db);
    this.writes = new GroupCommit(this.db);
    this.reads = new ReadCache(this.db, cacheEntries);
    // Pages share the budget's unit: a page of 100 weighs 101 records. Its key holds the client's filter
    // values, so a long key weighs more too (a record's worth per KEY_CHARS_PER_RECORD): many pages of long,
    // distinct filters can't hold more memory than the records the budget allows.
    this.pages = new ReadCache(
      this.db,
      cacheEntries,
      (page, key) => page.length + 1 + Math.floor(key.length / KEY_CHARS_PER_RECORD),
    );
    this.admin = new SqlAdminStore(
      sqliteDialect,
      async (sql, params) => this.stmt(sql).all(...params) as Record<string, unknown>[],
    );
  }

  /** Prepared statements are cached by SQL text: the hot paths use a handful of shapes. */
  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      if (this.statements.size > 500) this.statements.clear();
      this.statements.set(sql, s);
    }
    return s;
  }

  /** A cached `... RETURNING *` statement of `operations` that yields OperationRecords. */
  private returningStmt(sql: string): { statement: Database.Statement; read: RecordReader } {
    let s = this.returning.get(sql);
    if (!s) {
      const statement = this.db.prepare(sql);
      s = { statement, read: rawRecords(statement) };
      if (this.returning.size > 100) this.returning.clear();
      this.returning.set(sql, s);
    }
    return s;
  }

  async migrate(): Promise<void> {
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
    const applied = new Set(
      (this.db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map(
        (r) => r.version,
      ),
    );
    for (const m of SQLITE_MIGRATIONS) {
      if (applied.has(m.version)) continue;
      this.db
        .transaction(() => {
          this.db.exec(m.sql);
          this.db
            .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
            .run(m.version, m.name, now());
        })
        .immediate();
    }
  }

  async ping(): Promise<void> {
    this.stmt('SELECT 1').get();
  }

  async close(): Promise<void> {
    this.writes.flush(); // writes already issued commit before the file closes
    this.statements.clear();
    this.returning.clear();
    this.db.close();
  }

  /*
   * Inserts run without a savepoint of their own (a savepoint and its release cost about as much as the
   * insert): a taken key or idempotency key is found by reading first, in the same transaction, and
   * returned as a refusal rather than thrown, and the values are serialized before the group runs, so
   * only the storage can fail inside it.
   */

  async insert(op: NewOperation, meta: WriteMeta): Promise<OperationRecord> {
    const values = insertValues(op);
    const result = await this.writes.run(() => {
      const existing = this.getSync(op);
      if (existing) return new DuplicateKeyError(op, existing);
      return this.idempotencyKeyTaken(op) ?? this.insertSync(values, op, meta);
    }, NO_SAVEPOINT);
    if (result instanceof DuplicateKeyError) throw result;
    return result;
  }

  async insertOrJoin(
    op: NewOperation,
    meta: WriteMeta,
  ): Promise<{ record: OperationRecord; outcome: JoinOutcome }> {
    const values = insertValues(op);
    // One step of the write queue (one transaction): concurrent starts of one key see each other's rows.
    const result = await this.writes.run(() => {
      const existing = this.getSync(op);
      if (existing && !TERMINAL.includes(existing.status))
        return { record: existing, outcome: 'joined' as const };
      const taken = this.idempotencyKeyTaken(op, existing?.seq);
      if (taken) return taken;
      if (!existing) return { record: this.insertSync(values, op, meta), outcome: 'created' as const };
      const row = this.stmt(
        `UPDATE operations SET ${restartSet(() => '?', '0')} WHERE seq = ? RETURNING *`,
      ).get(...values.slice(3), existing.seq) as OperationRow;
      const eventSeq = this.recordEvent(op, existing.status, op.status, meta);
      const record = rowToRecord(row);
      record.eventSeq = eventSeq;
      return { record, outcome: 'restarted' as const };
    }, NO_SAVEPOINT);
    if (result instanceof DuplicateKeyError) throw result;
    return result;
  }

  /** A DuplicateKeyError when another operation (not the row `ownSeq`) holds the idempotency key. */
  private idempotencyKeyTaken(op: NewOperation, ownSeq?: number): DuplicateKeyError | undefined {
    if (!op.idempotencyKey) return undefined;
    const byKey = this.findByIdempotencyKeySync(op.tenantId, op.idempotencyKey);
    return byKey && byKey.seq !== ownSeq ? new DuplicateKeyError(byKey, byKey) : undefined;
  }

  private insertSync(values: unknown[], op: NewOperation, meta: WriteMeta): OperationRecord {
    const placeholders = '?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?';
    const row = (
      op.claim
        ? this.stmt(
            `INSERT INTO operations (${INSERT_COLUMNS}, lease_owner, attempts, fencing_token)
             VALUES (${placeholders}, ?, 1, 1) RETURNING *`,
          ).get(...values, op.claim.workerId)
        : this.stmt(`INSERT INTO operations (${INSERT_COLUMNS}) VALUES (${placeholders}) RETURNING *`).get(
            ...values,
          )
    ) as OperationRow;
    const record = rowToRecord(row);
    record.eventSeq = this.recordEvent(op, null, op.status, meta);
    if (op.claim) {
      const claimed = { actor: `worker:${op.claim.workerId}`, kind: 'claimed' };
      record.eventSeq = this.recordEvent(op, op.status, STATUS.running, claimed);
    }
    return record;
  }

  async get(key: OperationKey): Promise<OperationRecord | undefined> {
    return this.getSync(key);
  }

  async read(key: OperationKey): Promise<OperationView | undefined> {
    return this.reads.get(readKey(key), () => {
      const row = this.stmt(`SELECT ${VIEW_COLUMNS} FROM operations WHERE ${KEY_WHERE}`).get(
        key.tenantId,
        key.scope,
        key.id,
      ) as ViewRow | undefined;
      return row && rowToView(row, key.tenantId, key.scope);
    });
  }

  readCached(key: OperationKey): OperationView | undefined {
    return this.reads.peek(readKey(key));
  }

  private getSync(key: OperationKey): OperationRecord | undefined {
    const row = this.stmt(`SELECT * FROM operations WHERE ${KEY_WHERE}`).get(
      key.tenantId,
      key.scope,
      key.id,
    ) as OperationRow | undefined;
    return row && rowToRecord(row);
  }

  async findByIdempotencyKey(tenantId: string, idempotencyKey: string): Promise<OperationRecord | undefined> {
    return this.findByIdempotencyKeySync(tenantId, idempotencyKey);
  }

  private findByIdempotencyKeySync(tenantId: string, idempotencyKey: string): OperationRecord | undefined {
    const row = this.stmt('SELECT * FROM operations WHERE tenant_id = ? AND idempotency_key = ?').get(
      tenantId,
      idempotencyKey,
    ) as OperationRow | undefined;
    return row && rowToRecord(row);
  }

  async update(
    key: OperationKey,
    changes: RecordChanges,
    guard: WriteGuard,
    meta: WriteMeta,
  ): Promise<UpdateResult> {
    // Serialized before the transaction, so that what is left inside can fail only as the storage fails (a
    // full disk, an I/O error; a guard that fails returns): no savepoint of its own (group-commit.ts).
    const cols = changeColumns(changes, toJson, toBit);
    return this.writes.run((): UpdateResult => {
      // Only what the guard and the history need: the whole row is read back by RETURNING, or on conflict.
      const current = this.stmt(
        `SELECT seq, status, version, fencing_token FROM operations WHERE ${KEY_WHERE}`,
      ).get(key.tenantId, key.scope, key.id) as GuardRow | undefined;
      if (!current) return { ok: false, reason: 'notFound' };
      if (!guardHolds(current, guard)) return { ok: false, reason: 'conflict', current: this.getSync(key)! };
      return { ok: true, record: this.applySync(key, current, changes, meta, cols) };
    }, NO_SAVEPOINT);
  }

  /** Read, decide and write as one step of a group commit: nothing can change the operation in between. */
  async modify(
    key: OperationKey,
    decide: (current: OperationRecord) => RecordChanges | undefined,
    meta: WriteMeta,
  ): Promise<ModifyResult | undefined> {
    return this.writes.run(() => {
      const current = this.getSync(key);
      if (!current) return undefined;
      const changes = decide(current);
      if (!changes) return { record: current, written: false };
      return { record: this.applySync(key, current, changes, meta), written: true };
    });
  }

  /** Writes `changes` to the row `current` was read from, with its history event; inside a transaction. */
  private applySync(
    key: OperationKey,
    current: { seq: number; status: number },
    changes: RecordChanges,
    meta: WriteMeta,
    cols = changeColumns(changes, toJson, toBit),
  ): OperationRecord {
    // An explicit terminalAt (null included) is in `cols` already; otherwise it is set on entering a
    // terminal state.
    if (changes.terminalAt === undefined) {
      const terminalAt = terminalChange(current.status, changes.status);
      if (terminalAt !== undefined) cols.push(['terminal_at', terminalAt]);
    }
    let set = '';
    const values: unknown[] = [];
    for (const [column, value] of cols) {
      set += `${column} = ?, `;
      values.push(value);
    }
    values.push(current.seq);
    const { statement, read } = this.returningStmt(
      `UPDATE operations SET ${set}version = version + 1 WHERE seq = ? RETURNING *`,
    );
    const record = read(statement.get(values) as unknown[]);
    if (meta.history !== false) {
      record.eventSeq = this.recordEvent(key, current.status, changes.status ?? current.status, meta);
    }
    return record;
  }

  async delete(key: OperationKey, guard: WriteGuard, meta: WriteMeta): Promise<UpdateResult> {
    return this.writes.run((): UpdateResult => {
      const current = this.getSync(key);
      if (!current) return { ok: false, reason: 'notFound' };
      if (!guardHolds({ ...current, fencing_token: current.fencingToken }, guard))
        return { ok: false, reason: 'conflict', current };
      this.stmt('DELETE FROM operations WHERE seq = ?').run(current.seq);
      this.stmt(`DELETE FROM operation_events WHERE ${KEY_WHERE}`).run(key.tenantId, key.scope, key.id);
      // The history goes with the operation, but the deletion itself is an event (streams, webhooks).
      this.recordEvent(key, current.status, current.status, meta);
      return { ok: true, record: current };
    });
  }

  async list(tenantId: string, scope: string, query: ListQuery): Promise<OperationView[]> {
    const params: unknown[] = [tenantId, scope];
    let where = 'tenant_id = ? AND scope = ?';
    if (query.filter) where += ` AND (${compileFilter(sqliteDialect, query.filter, params)})`;
    if (query.after) where += ` AND (${compileAfter(sqliteDialect, query.orderBy, query.after, params)})`;
    params.push(query.top + 1);
    const sql = `SELECT ${VIEW_COLUMNS} FROM operations WHERE ${where} ORDER BY ${compileOrderBy(sqliteDialect, query.orderBy)} LIMIT ?`;
    // The statement and every value bound to it (tenant and scope among them) identify the page.
    const page = this.pages.get(`${sql}\0${JSON.stringify(params)}`, () =>
      (this.stmt(sql).all(...params) as ViewRow[]).map((row) => rowToView(row, tenantId, scope)),
    );
    return page!;
  }

  async count(tenantId: string, scope: string, filter?: FilterNode): Promise<number> {
    const params: unknown[] = [tenantId, scope];
    let where = 'tenant_id = ? AND scope = ?';
    if (filter) where += ` AND (${compileFilter(sqliteDialect, filter, params)})`;
    const row = this.stmt(`SELECT count(*) AS n FROM operations WHERE ${where}`).get(...params) as {
      n: number;
    };
    return row.n;
  }

  async history(key: OperationKey): Promise<OperationEvent[]> {
    const rows = this.stmt(`SELECT * FROM operation_events WHERE ${KEY_WHERE} ORDER BY event_seq`).all(
      key.tenantId,
      key.scope,
      key.id,
    ) as EventRow[];
    return rows.map(rowToEvent);
  }

  async claim(options: ClaimOptions): Promise<OperationRecord[]> {
    return this.writes.run(() => {
      const nowMs = Date.now();
      const names = options.handlers ? [...new Set(options.handlers)] : this.dueHandlers();
      // One indexed search per handler, merged by (run_at, seq): the due rows of handlers this worker
      // doesn't run are never visited, however many of them are ahead in the queue.
      const search = this.stmt(CLAIM_DUE_SQL);
      let due: DueRow[] = [];
      for (const name of names) {
        const rows = search.all(name, nowMs, options.limit) as DueRow[];
        if (rows.length > 0) due = due.length === 0 ? rows : due.concat(rows);
      }
      if (names.length > 1 && due.length > 0) {
        due.sort((a, b) => a.run_at - b.run_at || a.seq - b.seq);
        if (due.length > options.limit) due.length = options.limit;
      }
      if (due.length === 0) return [];
      const at = now();
      const claimStmt = this.returningStmt(
        `UPDATE operations SET status = ${STATUS.running}, lease_owner = ?, run_at = ?, attempts = attempts + 1,
             fencing_token = fencing_token + 1, last_action_at = ?, version = version + 1
           WHERE seq = ? RETURNING *`,
      );
      const meta = { actor: `worker:${options.workerId}`, kind: 'claimed' };
      return due.map((d) => {
        const record = claimStmt.read(
          claimStmt.statement.get(options.workerId, nowMs + options.leaseMs, at, d.seq) as unknown[],
        );
        record.eventSeq = this.recordEvent(record, d.status, STATUS.running, meta, at);
        return record;
      });
    }, NO_SAVEPOINT); // only the storage can fail here, as in update
  }

  /** The handlers with rows in operations_due_handler (for a claim of every handler). */
  private dueHandlers(): string[] {
    const rows = this.stmt(
      `WITH RECURSIVE ${DUE_HANDLERS_CTE} SELECT name FROM due_handlers WHERE name IS NOT NULL`,
    ).all() as {
      name: string;
    }[];
    return rows.map((r) => r.name);
  }

  async purgeTerminal(beforeMs: number, limit: number): Promise<number> {
    // Through the write queue, so it is ordered with the operation writes issued before it.
    return this.writes.run(() => {
      const victims = this.stmt(
        'SELECT seq, tenant_id, scope, id FROM operations WHERE terminal_at IS NOT NULL AND terminal_at < ? ORDER BY terminal_at LIMIT ?',
      ).all(beforeMs, limit) as { seq: number; tenant_id: string; scope: string; id: string }[];
      const delOp = this.stmt('DELETE FROM operations WHERE seq = ?');
      const delEvents = this.stmt(`DELETE FROM operation_events WHERE ${KEY_WHERE}`);
      for (const v of victims) {
        delOp.run(v.seq);
        delEvents.run(v.tenant_id, v.scope, v.id);
      }
      return victims.length;
    });
  }

  async queueStats(): Promise<{ due: number; oldestDueAt: number | null }> {
    const row = this.stmt(QUEUE_STATS_SQL).get(Date.now()) as { due: number; oldest: number | null };
    return { due: row.due, oldestDueAt: row.oldest };
  }

  async moveScope(tenantId: string, from: string, to: string): Promise<number> {
    // Through the write queue, so it is ordered with the operation writes issued before it.
    return this.writes.run(() => {
      const moved = this.stmt(
        `UPDATE operations SET scope = ? WHERE tenant_id = ? AND scope = ?
             AND id NOT IN (SELECT id FROM operations WHERE tenant_id = ? AND scope = ?)`,
      ).run(to, tenantId, from, tenantId, to).changes;
      this.stmt(
        `UPDATE operation_events SET scope = ? WHERE tenant_id = ? AND scope = ?
             AND id NOT IN (SELECT id FROM operations WHERE tenant_id = ? AND scope = ?)`,
      ).run(to, tenantId, from, tenantId, from);
      this.stmt('UPDATE subscriptions SET scope = ? WHERE tenant_id = ? AND scope = ?').run(
        to,
        tenantId,
        from,
      );
      return moved;
    });
  }

  async registerWorker(workerId: string): Promise<void> {
    const me = thisProcess();
    await this.writes.run(() =>
      this.stmt(
        `INSERT INTO workers (worker_id, host, pid, proc_start, registered_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (worker_id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
             proc_start = excluded.proc_start, registered_at = excluded.registered_at`,
      ).run(workerId, me.host, me.pid, me.start, now()),
    );
  }

  async unregisterWorker(workerId: string): Promise<void> {
    await this.writes.run(() => this.stmt('DELETE FROM workers WHERE worker_id = ?').run(workerId));
  }

  /** Several processes may share the file: only workers whose process is proven gone are released. */
  async releaseDeadLeases(): Promise<number> {
    const workers = this.stmt('SELECT worker_id, host, pid, proc_start FROM workers').all() as {
      worker_id: string;
      host: string;
      pid: number;
      proc_start: string | null;
    }[];
    const dead = workers.filter((w) => provenDead({ host: w.host, pid: w.pid, start: w.proc_start }));
    if (dead.length === 0) return 0;
    return this.writes.run(() => {
      const nowMs = Date.now();
      let freed = 0;
      for (const w of dead) {
        freed += this.stmt(RELEASE_LEASES_SQL).run(nowMs, w.worker_id, nowMs).changes;
        this.stmt('DELETE FROM workers WHERE worker_id = ?').run(w.worker_id);
      }
      return freed;
    });
  }

  async statusCounts(): Promise<{ status: StatusValue; type: OperationTypeName; count: number }[]> {
    return this.stmt(
      'SELECT status, type, count(*) AS count FROM operations GROUP BY status, type',
    ).all() as {
      status: StatusValue;
      type: OperationTypeName;
      count: number;
    }[];
  }

  async eventsSince(
    tenantId: string,
    scope: string,
    afterEventSeq: number,
    options: { id?: string; limit: number },
  ): Promise<OperationEvent[]> {
    const rows = (
      options.id === undefined
        ? this.stmt(
            'SELECT * FROM operation_events WHERE tenant_id = ? AND scope = ? AND event_seq > ? ORDER BY event_seq LIMIT ?',
          ).all(tenantId, scope, afterEventSeq, options.limit)
        : this.stmt(
            `SELECT * FROM operation_events WHERE ${KEY_WHERE} AND event_seq > ? ORDER BY event_seq LIMIT ?`,
          ).all(tenantId, scope, options.id, afterEventSeq, options.limit)
    ) as EventRow[];
    return rows.map(rowToEvent);
  }

  /** Records a history event; returns its event_seq. */
  private recordEvent(
    key: OperationKey,
    from: number | null,
    to: number,
    meta: WriteMeta,
    at: string = now(),
  ): number {
    const info = this.stmt(
      `INSERT INTO operation_events (tenant_id, scope, id, at, from_status, to_status, actor, kind)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(key.tenantId, key.scope, key.id, at, from, to, meta.actor, meta.kind);
    return Number(info.lastInsertRowid);
  }
}

/** GroupCommit.run's second argument for writes that need no savepoint of their own. */
const NO_SAVEPOINT = false;

const toJson = (v: unknown) => JSON.stringify(v);
const toBit = (b: boolean) => (b ? 1 : 0);

/** The columns a write's guard checks. */
interface GuardRow {
  seq: number;
  status: number;
  version: number;
  fencing_token: number;
}

function guardHolds(current: GuardRow, guard: WriteGuard): boolean {
  if (guard.expectedVersion !== undefined && current.version !== guard.expectedVersion) return false;
  if (guard.fencingToken !== undefined && current.fencing_token !== guard.fencingToken) return false;
  if (guard.notTerminal && TERMINAL_STATUSES.includes(current.status)) return false;
  return true;
}

const TERMINAL_STATUSES: readonly number[] = [STATUS.succeeded, STATUS.failed, STATUS.canceled];

/** terminal_at is set when a write moves the operation into a terminal state. */
function terminalChange(from: number, to: number | undefined): number | undefined {
  if (to === undefined || TERMINAL_STATUSES.includes(from) || !TERMINAL_STATUSES.includes(to))
    return undefined;
  return Date.now();
}
