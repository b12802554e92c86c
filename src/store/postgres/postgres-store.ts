/**
 * The store for many nodes on one PostgreSQL, through node-postgres. Same schema and semantics as the
 * SQLite store (src/store/sqlite/sqlite-store.ts), checked by the same contract suite.
 *
 * Every write is a single statement (data-modifying CTEs): the row change, its history event and its
 * change notification commit together or not at all, in one round trip. A read-modify-write locks the row
 * (`FOR UPDATE`) inside that statement, so the guard, the recorded old status and the update agree even
 * under concurrent writers. Claims take due rows with `FOR UPDATE SKIP LOCKED`: concurrent claimers on
 * any number of nodes skip each other's rows instead of waiting for them.
 *
 * Connection-level failures reject with StoreUnavailableError; the pool replaces broken connections by
 * itself, so the store recovers when the server is back.
 */
import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';
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
  rowToEvent,
  rowToRecord,
  rowToView,
  VIEW_COLUMNS,
  type ViewRow,
  type EventRow,
  type OperationRow,
} from '../row.js';
import { SqlAdminStore } from '../sql/admin-sql.js';
import { compileAfter, compileFilter, compileOrderBy, postgresDialect } from '../sql/query-sql.js';
import {
  DuplicateKeyError,
  type JoinOutcome,
  type ChainResult,
  type ChainStep,
  type ClaimOptions,
  type ListenOptions,
  type NewOperation,
  type OperationKey,
  type OperationStamp,
  type OperationStore,
  type RecordChanges,
  type StoreChange,
  type UpdateResult,
  type WriteGuard,
  type WriteMeta,
} from '../store.js';
import { storeError, isConnectionError, uniqueViolation } from './errors.js';
import { ChangeListener } from './listener.js';
import { ChangeNotifier } from './notifier.js';
import { WriteBatcher, type UpdateRequest } from './write-batcher.js';
import { dueCte, QUEUE_STATS_SQL } from './due-sql.js';
import { horizonOf, settled, TAIL, type TailRow } from './event-horizon.js';
import { MIGRATION_LOCK_KEY, POSTGRES_MIGRATIONS } from './migrations.js';
import { LivenessLocks } from './liveness.js';
import { PostgresSubscriptions } from './postgres-subscriptions.js';
import { PostgresUsers } from './postgres-users.js';

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database (ignored when `pool` is given). */
  connectionString?: string;
  /** Pool size (default 10). Each node holds up to this many connections, plus one per listener. */
  max?: number;
  /** Use this pool instead of making one; the store then leaves it open on close(). */
  pool?: pg.Pool;
  /** How long a query waits for a connection (a free pool slot or a new connection) before it fails as unavailable. Default 10 s. */
  connectionTimeoutMillis?: number;
  /**
   * Name the hot statements so each connection prepares them once (default true). Turn off behind a
   * pooler in transaction mode that does not track prepared statements (PgBouncer < 1.21).
   */
  preparedStatements?: boolean;
  /**
   * Where listen() connects (default: the store's own connection settings). LISTEN needs a session, so
   * behind a pooler in transaction mode point this at the server itself or a session-mode pooler.
   */
  listenConnectionString?: string;
}

const KEY_WHERE = 'tenant_id = $1 AND scope = $2 AND id = $3';
const TERMINAL_STATUSES: readonly number[] = [STATUS.succeeded, STATUS.failed, STATUS.canceled];
const TERMINAL_LIST = TERMINAL_STATUSES.join(', ');
const EVENT_COLUMNS = 'tenant_id, scope, id, at, from_status, to_status, actor, kind';

/** The insert and its history event in one statement; `onConflict` decides what a taken key does. */
const insertSql = (onConflict = '') => `
WITH ins AS (
  INSERT INTO operations (${INSERT_COLUMNS})
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
  ${onConflict}
  RETURNING *
), ev AS (
  INSERT INTO operation_events (${EVENT_COLUMNS})
  SELECT tenant_id, scope, id, $20, NULL, status, $21, $22 FROM ins
  RETURNING event_seq
)
SELECT ins.*, ev.event_seq FROM ins, ev`;
const INSERT_SQL = insertSql();
/**
 * An insert claimed at creation (NewOperation.claim; $23 the worker, $24 its actor): the row leased, attempt
 * 1, and two events in order, created then claimed. Returns the claimed event's sequence number.
 */
const INSERT_CLAIMED_SQL = `
WITH ins AS (
  INSERT INTO operations (${INSERT_COLUMNS}, lease_owner, attempts, fencing_token)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $23, 1, 1)
  RETURNING *
), ev AS (
  INSERT INTO operation_events (${EVENT_COLUMNS})
  SELECT ins.tenant_id, ins.scope, ins.id, $20, e.from_status, e.to_status, e.actor, e.kind
  FROM ins CROSS JOIN (VALUES (1, NULL::integer, ${STATUS.notStarted}, $21::text, $22::text),
                              (2, ${STATUS.notStarted}, ${STATUS.running}, $24::text, 'claimed')
                      ) AS e(n, from_status, to_status, actor, kind)
  ORDER BY e.n
  RETURNING event_seq
)
SELECT ins.*, (SELECT max(event_seq) FROM ev) AS event_seq FROM ins`;
/** A start on a derived id: yields to the row at the key, whatever it is (insertOrJoin decides next). */
const YIELD = 'ON CONFLICT (tenant_id, scope, id) DO NOTHING';
const INSERT_OR_YIELD_SQL = insertSql(YIELD);

/** The element type of each of insertSql's 22 parameters, as arrays (the JSON columns travel as text). */
const INSERT_ARRAY_TYPES = [
  'text',
  'text',
  'text',
  'text',
  'integer',
  'text',
  'text',
  'text',
  'text',
  'text',
  'text',
  'text',
  'integer',
  'bigint',
  'bigint',
  'text',
  'text',
  'text',
  'bigint',
  'text',
  'text',
  'text',
];

/**
 * Inserts of distinct operations in one statement (write-batcher.ts), each with its history event: the
 * parameters are insertSql's, each an array with an element per operation. Returns a row per inserted
 * operation; with `onConflict` YIELD, an operation whose key is taken is left out (its caller goes on
 * alone). The batcher never puts one key twice in a statement, so each event finds its input by key.
 */
const insertManySql = (onConflict = '') => `
WITH batch AS (
  SELECT * FROM unnest(${INSERT_ARRAY_TYPES.map((type, i) => `$${i + 1}::${type}[]`).join(', ')})
    WITH ORDINALITY AS x(${INSERT_COLUMNS}, at, actor, kind, n)
), ins AS (
  INSERT INTO operations (${INSERT_COLUMNS})
  SELECT tenant_id, scope, id, type, status, created_at, last_action_at, resource_location, status_detail,
         props::jsonb, handler, input::jsonb, max_attempts, run_at, timeout_ms, idempotency_key,
         request_hash, created_by, terminal_at
  FROM batch ORDER BY n
  ${onConflict}
  RETURNING *
), ev AS (
  INSERT INTO operation_events (${EVENT_COLUMNS})
  SELECT ins.tenant_id, ins.scope, ins.id, x.at, NULL, ins.status, x.actor, x.kind
  FROM ins JOIN batch x ON x.tenant_id = ins.tenant_id AND x.scope = ins.scope AND x.id = ins.id
  ORDER BY x.n
  RETURNING tenant_id, scope, id, event_seq
)
SELECT ins.*, ev.event_seq FROM ins JOIN ev USING (tenant_id, scope, id)`;
const INSERT_MANY_SQL = insertManySql();
const INSERT_MANY_OR_YIELD_SQL = insertManySql(YIELD);

/** One insert for the batchers: the operation's key and insertSql's 22 parameters. */
interface InsertRequest {
  key: OperationKey;
  values: unknown[];
}
/**
 * Restarts the ended operation at the key in place (insertOrJoin), with its history event. The row is
 * locked and its status checked again after the lock (READ COMMITTED re-evaluates the WHERE on the latest
 * version), so of concurrent restarts one wins and the others find it unfinished and join it.
 */
const RESTART_SQL = `
WITH old AS (
  SELECT seq, status FROM operations WHERE ${KEY_WHERE} AND status IN (${TERMINAL_LIST}) FOR UPDATE
), up AS (
  UPDATE operations o SET ${restartSet((i) => `$${i + 4}`, 'false')}
  FROM old WHERE o.seq = old.seq AND o.status IN (${TERMINAL_LIST})
  RETURNING o.*, old.status AS from_status
), ev AS (
  INSERT INTO operation_events (${EVENT_COLUMNS})
  SELECT tenant_id, scope, id, $20, from_status, status, $21, $22 FROM up
  RETURNING event_seq
)
SELECT up.*, ev.event_seq FROM up, ev`;

/** A changed column: the input's value when its changes name it, else the row's own. */
const keep = (column: string, cast = '') =>
  `${column} = CASE WHEN x.c ? '${column}' THEN (x.c->>'${column}')${cast} ELSE o.${column} END`;

/**
 * Updates of distinct operations in one statement (exported for its plan's test): `$1` is a JSON array of
 * `{ n, t, s, i, c, v, f, nt, h, a, k, tt }` (index; tenant, scope, id; the changed columns; the guards:
 * expected version, fencing token, not ended; whether to record history; actor; kind; terminal time),
 * `$2` the events' time. Returns a row per operation found: applied with its event, or the locked row as
 * it is (a failed guard). Each operation is found by its key through a LATERAL lookup: joined plainly,
 * the planner (which guesses 100 rows for jsonb_to_recordset) scanned the whole table for every batch.
 * Rows are locked in key order, the same order in every such statement.
 */
export const UPDATE_MANY_SQL = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb)
    AS x(n integer, t text, s text, i text, c jsonb, v integer, f bigint, nt boolean, h boolean, a text,
         k text, tt bigint)
), cur AS MATERIALIZED (
  SELECT o.*, x.n AS input_n FROM (SELECT * FROM input ORDER BY t, s, i) x
  CROSS JOIN LATERAL (
    SELECT * FROM operations WHERE tenant_id = x.t AND scope = x.s AND id = x.i FOR UPDATE
  ) o
), upd AS (
  UPDATE operations o SET
    ${keep('status', '::integer')},
    ${keep('created_at')},
    ${keep('last_action_at')},
    ${keep('resource_location')},
    ${keep('status_detail')},
    props = CASE WHEN x.c ? 'props' THEN x.c->'props' ELSE o.props END,
    checkpoint = CASE WHEN x.c ? 'checkpoint' THEN x.c->'checkpoint' ELSE o.checkpoint END,
    ${keep('run_at', '::bigint')},
    ${keep('lease_owner')},
    ${keep('attempts', '::integer')},
    ${keep('cancel_requested', '::boolean')},
    terminal_at = CASE WHEN x.c ? 'terminal_at' THEN (x.c->>'terminal_at')::bigint
                       WHEN x.tt IS NOT NULL AND cur.status NOT IN (${TERMINAL_LIST}) THEN x.tt
                       ELSE o.terminal_at END,
    version = o.version + 1
  FROM cur JOIN input x ON x.n = cur.input_n
  WHERE o.seq = cur.seq
    AND (x.v IS NULL OR cur.version = x.v)
    AND (x.f IS NULL OR cur.fencing_token = x.f)
    AND (x.nt IS NOT TRUE OR cur.status NOT IN (${TERMINAL_LIST}))
  RETURNING o.*, cur.input_n, cur.status AS old_status, x.h AS history, x.a AS actor, x.k AS kind
), ev AS (
  INSERT INTO operation_events (${EVENT_COLUMNS})
  SELECT tenant_id, scope, id, $2, old_status, status, actor, kind FROM upd WHERE history
  RETURNING event_seq, tenant_id, scope, id
)
SELECT true AS applied, upd.*, ev.event_seq
FROM upd LEFT JOIN ev ON ev.tenant_id = upd.tenant_id AND ev.scope = upd.scope AND ev.id = upd.id
UNION ALL
SELECT false, cur.*, NULL::integer, NULL::boolean, NULL::text, NULL::text, NULL::bigint
FROM cur WHERE NOT EXISTS (SELECT 1 FROM upd WHERE upd.seq = cur.seq)`;

/**
 * json/jsonb columns come back as their text, which row.ts parses exactly as it parses SQLite's: node-postgres
 * would parse them itself, and row.ts could then not tell a JSON string value (`"text"`) from JSON text.
 * Per query rather than per pool, so that it holds for a pool the caller passed in too.
 */
const JSON_OIDS = new Set([114, 3802]);
const JSON_AS_TEXT: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    JSON_OIDS.has(oid)
      ? (value: string) => value
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * The statement claim() runs (parameters: $1 now, $2 worker id, $3 lease end, $4 timestamp, $5 actor, $6 the
 * handler names unless `allHandlers`, and last the limit unless `limit` names it).
 * One index search per handler (due-sql.ts): the due rows of handlers this worker doesn't run are never
 * visited, however many of them are ahead in the queue. Rows another claimer holds are skipped, not
 * waited for; a row changed since this statement's snapshot is re-checked against the WHERE before it is
 * locked, so a claimed row is never re-claimed.
 *
 * With the limit in its text (and the values dueCte reads through sub-selects), PostgreSQL plans a claim
 * five times per connection and limit and then reuses one generic plan, the same as the ones it made for
 * each claim's values. With the limit a parameter it planned every claim afresh (the generic plan, guessing
 * a tenth of the due rows, joined them to the whole table and looked dearer): 0.3–0.5 ms of planning per
 * claim, a tenth of the server's CPU in the engine benchmark.
 */
export function claimSql(allHandlers: boolean, limit?: number): string {
  // Written into the SQL text: only ever a positive integer.
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 1))
    throw new Error(`claimSql: limit must be a positive integer, got ${limit}`);
  const limitSql = limit !== undefined ? String(limit) : `$${allHandlers ? 6 : 7}`;
  return `
${dueCte(allHandlers, limitSql)}, claimed AS (
  UPDATE operations o
  SET status = ${STATUS.running}, lease_owner = $2, run_at = $3, attempts = o.attempts + 1,
      fencing_token = o.fencing_token + 1, last_action_at = $4, version = o.version + 1
  FROM due WHERE o.seq = due.seq
  RETURNING o.*, due.status AS old_status, due.run_at AS due_at
), ev AS (
  INSERT INTO operation_events (${EVENT_COLUMNS})
  SELECT tenant_id, scope, id, $4, old_status, ${STATUS.running}, $5, 'claimed' FROM claimed ORDER BY due_at, seq
  RETURNING event_seq, tenant_id, scope, id
)
SELECT claimed.*, ev.event_seq
FROM claimed JOIN ev ON ev.tenant_id = claimed.tenant_id AND ev.scope = claimed.scope AND ev.id = claimed.id
ORDER BY claimed.due_at, claimed.seq`;
}
/** Claims of up to this many rows have the limit in their text (a prepared statement per limit and connection). */
const LITERAL_CLAIM_LIMIT = 64;
/** The claim statements' texts by handlers named and limit ('param' for limits above LITERAL_CLAIM_LIMIT). */
const claimStatements = new Map<string, string>();
function claimStatement(allHandlers: boolean, limit: number): { sql: string; limitInText: boolean } {
  const literal =
    Number.isSafeInteger(limit) && limit >= 1 && limit <= LITERAL_CLAIM_LIMIT ? limit : undefined;
  const key = `${allHandlers} ${literal ?? 'param'}`;
  let sql = claimStatements.get(key);
  if (!sql) claimStatements.set(key, (sql = claimSql(allHandlers, literal)));
  return { sql, limitInText: literal !== undefined };
}

export class PostgresStore implements OperationStore {
  readonly dialect = 'postgres' as const;
  readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly prepared: boolean;
  private readonly listenConfig: pg.ClientConfig;
  private readonly statementNames = new Map<string, string>();
  private readonly listeners = new Set<ChangeListener>();
  private closed = false;
  readonly subscriptions: PostgresSubscriptions;
  readonly users: PostgresUsers;
  readonly admin: SqlAdminStore;
  private horizonCache?: { at: number; value: Promise<number> };
  /** Session advisory locks that prove this node's workers alive (see liveness.ts). */
  private readonly liveness: LivenessLocks;
  /** Tags this store's announcements, so that its own listener knows them (see ChangeListener). */
  private readonly origin = randomUUID().slice(0, 13);
  /** Announces committed writes to every node's listener (see notifier.ts). */
  private readonly notifier = new ChangeNotifier(
    (channel, payload) => this.pool.query('SELECT pg_notify($1, $2)', [channel, payload]),
    undefined,
    undefined,
    this.origin,
  );
  /** Updates issued together go as one statement (see write-batcher.ts). */
  private readonly updates = new WriteBatcher(
    (request) => this.updateOne(request),
    (requests) => this.updateMany(requests),
  );
  /**
   * So do inserts (creates, and starts on a derived id, which yield to a taken key). A plain insert whose
   * key is taken fails its statement, and the batcher sends each of them again alone, so it fails alone.
   */
  private readonly inserts = new WriteBatcher<InsertRequest, WrittenRow>(
    async (request) => (await this.query<WrittenRow>(INSERT_SQL, request.values)).rows[0],
    async (requests) => {
      const rows = await this.insertMany(INSERT_MANY_SQL, requests);
      // Without ON CONFLICT every row comes back or the statement fails; anything else, each goes alone.
      if (rows.some((row) => row === undefined)) throw new Error('a grouped insert returned too few rows');
      return rows as WrittenRow[];
    },
  );
  private readonly yieldingInserts = new WriteBatcher<InsertRequest, WrittenRow | undefined>(
    async (request) => (await this.query<WrittenRow>(INSERT_OR_YIELD_SQL, request.values)).rows[0],
    (requests) => this.insertMany(INSERT_MANY_OR_YIELD_SQL, requests),
  );

  constructor(options: PostgresStoreOptions) {
    if (!options.pool && !options.connectionString)
      throw new Error('PostgresStore needs a connectionString or a pool');
    this.ownsPool = !options.pool;
    this.pool =
      options.pool ??
      new pg.Pool({
        connectionString: options.connectionString,
        max: options.max ?? 10,
        connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
        // TCP keepalives find a connection whose server vanished without a word (a network partition).
        keepAlive: true,
        keepAliveInitialDelayMillis: 10_000,
        application_name: 'longrun',
      });
    // An idle connection that breaks (server restart) is reported here; the pool already dropped it, and
    // the next query opens a new one. Without a listener the 'error' event would crash the process.
    this.pool.on('error', () => {});
    this.prepared = options.preparedStatements ?? true;
    this.subscriptions = new PostgresSubscriptions(
      (text, values) => this.query(text, values, false),
      () => this.settledHorizon(),
    );
    this.users = new PostgresUsers((text, values) => this.query(text, values));
    // Not prepared: the statements vary with the filter.
    this.admin = new SqlAdminStore(
      postgresDialect,
      async (text, values) => (await this.query<Record<string, unknown>>(text, values, false)).rows,
    );
    this.listenConfig = options.listenConnectionString
      ? { connectionString: options.listenConnectionString, application_name: 'longrun-listen' }
      : { ...(this.pool.options as pg.ClientConfig), application_name: 'longrun-listen' };
    this.liveness = new LivenessLocks(
      { ...this.listenConfig, application_name: 'longrun-liveness' },
      (text, values) => this.query(text, values, false),
    );
  }

  /**
   * Runs `fn` on a pooled connection. A connection that broke is removed from the pool (not reused), and
   * connection-level errors become StoreUnavailableError.
   */
  private async withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw storeError(error);
    }
    let broken: Error | undefined;
    // While checked out, the pool does not watch the connection; an error event with no listener throws.
    const onError = (error: Error) => {
      broken = error;
    };
    client.on('error', onError);
    try {
      return await fn(client);
    } catch (error) {
      if (isConnectionError(error)) broken ??= error as Error;
      throw storeError(error);
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  /** One statement; named (prepared once per connection) unless `prepare` is false. */
  private query<R extends pg.QueryResultRow>(
    text: string,
    values: unknown[],
    prepare = true,
  ): Promise<pg.QueryResult<R>> {
    const config: pg.QueryConfig = { text, values, types: JSON_AS_TEXT };
    if (prepare && this.prepared) config.name = this.statementName(text);
    return this.withClient((client) => client.query<R>(config));
  }

  /**
   * Statement names derive from the text, so one text always has one name on every connection. Only
   * statements of bounded shape are named (never client-built filters): each name costs server memory on
   * every connection.
   */
  private statementName(text: string): string {
    let name = this.statementNames.get(text);
    if (!name) {
      name = `longrun_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
      this.statementNames.set(text, name);
    }
    return name;
  }

  async migrate(): Promise<void> {
    await this.withClient(async (client) => {
      await client.query('BEGIN');
      try {
        // Transaction-scoped: released at COMMIT/ROLLBACK, also when the connection dies. Other nodes
        // starting at the same time wait here, then find the migrations applied.
        await client.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
        await client.query(
          'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)',
        );
        const applied = new Set(
          (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map(
            (r) => r.version,
          ),
        );
        for (const m of POSTGRES_MIGRATIONS) {
          if (applied.has(m.version)) continue;
          await client.query(m.sql);
          await client.query(
            'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
            [m.version, m.name, now()],
          );
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1', [], false);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.notifier.drain();
    await this.liveness.close();
    await Promise.all([...this.listeners].map((l) => l.stop()));
    this.listeners.clear();
    if (this.ownsPool) await this.pool.end();
  }

  async insert(op: NewOperation, meta: WriteMeta): Promise<OperationRecord> {
    const values = [...insertValues(op), now(), meta.actor, meta.kind];
    if (op.claim) values.push(op.claim.workerId, `worker:${op.claim.workerId}`);
    for (let attempt = 1; ; attempt++) {
      try {
        const row = op.claim
          ? (await this.query<WrittenRow>(INSERT_CLAIMED_SQL, values)).rows[0]
          : await this.inserts.run({ key: op, values });
        const record = writtenRecord(row);
        this.announce(record, meta.kind);
        return record;
      } catch (error) {
        if (uniqueViolation(error) === undefined) throw error;
        const existing = await this.get(op);
        if (existing) throw new DuplicateKeyError(op, existing);
        await this.throwIfIdempotencyKeyTaken(op);
        // The row that collided was deleted in between: the insert may succeed now.
        if (attempt >= 3) throw error;
      }
    }
  }

  async insertOrJoin(
    op: NewOperation,
    meta: WriteMeta,
  ): Promise<{ record: OperationRecord; outcome: JoinOutcome }> {
    const values = [...insertValues(op), now(), meta.actor, meta.kind];
    // Each round either writes or finds an unfinished row; it goes round again only when the row changed
    // between two statements (ended, or was deleted, meanwhile), which a few rounds outlast.
    for (let attempt = 1; ; attempt++) {
      try {
        const inserted = await this.yieldingInserts.run({ key: op, values });
        if (inserted) return this.started(inserted, meta, 'created');
        const restarted = await this.query<WrittenRow>(RESTART_SQL, values);
        if (restarted.rows[0]) return this.started(restarted.rows[0], meta, 'restarted');
      } catch (error) {
        if (uniqueViolation(error) === undefined) throw error;
        // Only the idempotency key can collide here: the key conflict is handled by the statements.
        await this.throwIfIdempotencyKeyTaken(op);
        if (attempt >= 5) throw error;
        continue;
      }
      const existing = await this.get(op);
      if (existing && !TERMINAL_STATUSES.includes(existing.status))
        return { record: existing, outcome: 'joined' };
      if (attempt >= 5) throw new Error(`operation ${op.id} kept changing while it was being started`);
    }
  }

  private started(
    row: WrittenRow,
    meta: WriteMeta,
    outcome: JoinOutcome,
  ): { record: OperationRecord; outcome: JoinOutcome } {
    const record = writtenRecord(row);
    this.announce(record, meta.kind);
    return { record, outcome };
  }

  private async throwIfIdempotencyKeyTaken(op: NewOperation): Promise<void> {
    if (!op.idempotencyKey) return;
    const byKey = await this.findByIdempotencyKey(op.tenantId, op.idempotencyKey);
    if (byKey) throw new DuplicateKeyError(byKey, byKey);
  }

  async get(key: OperationKey): Promise<OperationRecord | undefined> {
    const { rows } = await this.query<OperationRow>(`SELECT * FROM operations WHERE ${KEY_WHERE}`, [
      key.tenantId,
      key.scope,
      key.id,
    ]);
    return rows[0] && rowToRecord(rows[0]);
  }

  async read(key: OperationKey): Promise<OperationView | undefined> {
    const { rows } = await this.query<ViewRow>(`SELECT ${VIEW_COLUMNS} FROM operations WHERE ${KEY_WHERE}`, [
      key.tenantId,
      key.scope,
      key.id,
    ]);
    return rows[0] && rowToView(rows[0], key.tenantId, key.scope);
  }

  async readStamp(key: OperationKey): Promise<OperationStamp | undefined> {
    const { rows } = await this.query<{ seq: string; version: number }>(
      `SELECT seq, version FROM operations WHERE ${KEY_WHERE}`,
      [key.tenantId, key.scope, key.id],
    );
    return rows[0] && { seq: Number(rows[0].seq), version: rows[0].version };
  }

  async findByIdempotencyKey(tenantId: string, idempotencyKey: string): Promise<OperationRecord | undefined> {
    const { rows } = await this.query<OperationRow>(
      'SELECT * FROM operations WHERE tenant_id = $1 AND idempotency_key = $2',
      [tenantId, idempotencyKey],
    );
    return rows[0] && rowToRecord(rows[0]);
  }

  update(
    key: OperationKey,
    changes: RecordChanges,
    guard: WriteGuard,
    meta: WriteMeta,
  ): Promise<UpdateResult> {
    return this.updates.run({ key, changes, guard, meta });
  }

  /** One update, one statement (a batch of one, or the fallback of a failed batch). */
  private async updateOne({ key, changes, guard, meta }: UpdateRequest): Promise<UpdateResult> {
    const params: unknown[] = [key.tenantId, key.scope, key.id];
    const param = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    const sets = setClauses(changes, param);
    sets.push('version = o.version + 1');
    let guardSql = '';
    if (guard.expectedVersion !== undefined)
      guardSql += ` AND cur.version = ${param(guard.expectedVersion)}::integer`;
    if (guard.fencingToken !== undefined)
      guardSql += ` AND cur.fencing_token = ${param(guard.fencingToken)}::bigint`;
    if (guard.notTerminal) guardSql += ` AND cur.status NOT IN (${TERMINAL_LIST})`;
    // Bookkeeping writes (lease renewals) neither enter the history nor wake other nodes.
    let events = '';
    let result = 'NULL::bigint AS event_seq FROM upd';
    if (meta.history !== false) {
      const kind = `${param(meta.kind)}::text`;
      events = `, ev AS (
  INSERT INTO operation_events (${EVENT_COLUMNS})
  SELECT tenant_id, scope, id, ${param(now())}, old_status, status, ${param(meta.actor)}, ${kind} FROM upd
  RETURNING event_seq
)`;
      result = `ev.event_seq FROM upd, ev`;
    }
    // The conflict branch reads `cur`, the locked (newest) row, not the statement's snapshot.
    const sql = `
WITH cur AS MATERIALIZED (
  SELECT * FROM operations WHERE ${KEY_WHERE} FOR UPDATE
), upd AS (
  UPDATE operations o SET ${sets.join(', ')}
  FROM cur WHERE o.seq = cur.seq${guardSql}
  RETURNING o.*, cur.status AS old_status
)${events}
SELECT true AS applied, upd.*, ${result}
UNION ALL
SELECT false, cur.*, NULL, NULL FROM cur WHERE NOT EXISTS (SELECT 1 FROM upd)`;
    const { rows } = await this.query<WrittenRow & { applied: boolean }>(sql, params);
    if (rows.length === 0) return { ok: false, reason: 'notFound' };
    const record = writtenRecord(rows[0]);
    if (!rows[0].applied) return { ok: false, reason: 'conflict', current: record };
    if (meta.history !== false) this.announce(record, meta.kind);
    return { ok: true, record };
  }

  /** Inserts of distinct operations in one statement (insertManySql): a row per request, or undefined. */
  private async insertMany(sql: string, requests: InsertRequest[]): Promise<(WrittenRow | undefined)[]> {
    const columns = INSERT_ARRAY_TYPES.map((_, c) => requests.map((request) => request.values[c]));
    const { rows } = await this.query<WrittenRow>(sql, columns);
    const byKey = new Map(rows.map((row) => [`${row.tenant_id}\0${row.scope}\0${row.id}`, row]));
    return requests.map(({ key }) => byKey.get(`${key.tenantId}\0${key.scope}\0${key.id}`));
  }

  /** Several updates of distinct operations in one statement (write-batcher.ts). */
  private async updateMany(requests: UpdateRequest[]): Promise<UpdateResult[]> {
    const terminalAt = Date.now();
    const input = requests.map(({ key, changes, guard, meta }, n) => ({
      n,
      t: key.tenantId,
      s: key.scope,
      i: key.id,
      c: Object.fromEntries(
        changeColumns(
          changes,
          (v) => v,
          (b) => b,
        ),
      ),
      v: guard.expectedVersion ?? null,
      f: guard.fencingToken ?? null,
      nt: guard.notTerminal ?? false,
      h: meta.history !== false,
      a: meta.actor,
      k: meta.kind,
      // As in updateOne: terminal_at is set when the write moves the operation into a terminal state.
      tt:
        changes.terminalAt === undefined &&
        changes.status !== undefined &&
        TERMINAL_STATUSES.includes(changes.status)
          ? terminalAt
          : null,
    }));
    const { rows } = await this.query<WrittenRow & { applied: boolean; input_n: number }>(UPDATE_MANY_SQL, [
      JSON.stringify(input),
      now(),
    ]);
    const results: UpdateResult[] = requests.map(() => ({ ok: false, reason: 'notFound' }));
    for (const row of rows) {
      const record = writtenRecord(row);
      if (!row.applied) {
        results[row.input_n] = { ok: false, reason: 'conflict', current: record };
        continue;
      }
      results[row.input_n] = { ok: true, record };
      const meta = requests[row.input_n].meta;
      if (meta.history !== false) this.announce(record, meta.kind);
    }
    return results;
  }

  /**
   * A chain of writes to one operation (OperationStore.updateChain) as one statement: the columns the
   * steps set, each as the last step to set it left it, the version moved on by the number of steps, and
   * a history event per step. One round trip and one commit for a queue of PATCHes of one operation.
   */
  async updateChain(base: OperationRecord, steps: ChainStep[]): Promise<ChainResult> {
    if (steps.length === 0) throw new Error('updateChain needs at least one step');
    const params: unknown[] = [base.tenantId, base.scope, base.id];
    const param = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    const merged: RecordChanges = {};
    const events: { n: number; f: number; t: number; a: string; k: string }[] = [];
    let status = base.status;
    for (const [n, { changes, meta }] of steps.entries()) {
      if (meta.history === false) throw new Error('updateChain records every step in the history');
      for (const [name, value] of Object.entries(changes))
        if (value !== undefined) (merged as Record<string, unknown>)[name] = value;
      const to = changes.status ?? status;
      events.push({ n, f: status, t: to, a: meta.actor, k: meta.kind });
      status = to;
    }
    const sets = setClauses(merged, param);
    sets.push(`version = o.version + ${param(steps.length)}::integer`);
    // Identity values are drawn in the order the sorted rows are inserted: event_seqs follow the steps.
    const sql = `
WITH cur AS MATERIALIZED (
  SELECT * FROM operations WHERE ${KEY_WHERE} FOR UPDATE
), upd AS (
  UPDATE operations o SET ${sets.join(', ')}
  FROM cur WHERE o.seq = cur.seq AND cur.version = ${param(base.version)}::integer
  RETURNING o.*
), ev AS (
  INSERT INTO operation_events (${EVENT_COLUMNS})
  SELECT upd.tenant_id, upd.scope, upd.id, ${param(now())}, s.f, s.t, s.a, s.k
  FROM upd, jsonb_to_recordset(${param(JSON.stringify(events))}::jsonb) AS s(n integer, f integer, t integer, a text, k text)
  ORDER BY s.n
  RETURNING event_seq
)
SELECT true AS applied, upd.*, (SELECT array_agg(event_seq ORDER BY event_seq) FROM ev) AS event_seqs FROM upd
UNION ALL
SELECT false, cur.*, NULL FROM cur WHERE NOT EXISTS (SELECT 1 FROM upd)`;
    const { rows } = await this.query<OperationRow & { applied: boolean; event_seqs: string[] | null }>(
      sql,
      params,
    );
    if (rows.length === 0) return { ok: false, reason: 'notFound' };
    if (!rows[0].applied) return { ok: false, reason: 'conflict', current: rowToRecord(rows[0]) };
    const record = rowToRecord(rows[0]);
    const eventSeqs = (rows[0].event_seqs ?? []).map(Number);
    record.eventSeq = eventSeqs[eventSeqs.length - 1];
    for (const [n, eventSeq] of eventSeqs.entries())
      this.announce({ ...record, eventSeq }, steps[n].meta.kind);
    return { ok: true, record, eventSeqs };
  }

  async delete(key: OperationKey, guard: WriteGuard, meta: WriteMeta): Promise<UpdateResult> {
    const params: unknown[] = [key.tenantId, key.scope, key.id, meta.kind, now(), meta.actor];
    let guardSql = '';
    if (guard.expectedVersion !== undefined) {
      params.push(guard.expectedVersion);
      guardSql += ` AND cur.version = $${params.length}::integer`;
    }
    if (guard.fencingToken !== undefined) {
      params.push(guard.fencingToken);
      guardSql += ` AND cur.fencing_token = $${params.length}::bigint`;
    }
    // As in SQLite: the history goes with the operation, but the deletion itself is an event (streams,
    // webhooks). All CTEs share one snapshot, so the event delete can't see (and remove) the new event.
    const sql = `
WITH cur AS MATERIALIZED (
  SELECT * FROM operations WHERE ${KEY_WHERE} FOR UPDATE
), del AS (
  DELETE FROM operations o USING cur WHERE o.seq = cur.seq${guardSql}
  RETURNING o.seq, o.tenant_id, o.scope, o.id, o.status
), gone AS (
  DELETE FROM operation_events e USING del WHERE e.tenant_id = $1 AND e.scope = $2 AND e.id = $3
), ev AS (
  INSERT INTO operation_events (${EVENT_COLUMNS})
  SELECT tenant_id, scope, id, $5, status, status, $6, $4::text FROM del
  RETURNING event_seq
)
SELECT EXISTS (SELECT 1 FROM del) AS applied, cur.*,
  (SELECT ev.event_seq FROM ev) AS event_seq
FROM cur`;
    const { rows } = await this.query<WrittenRow & { applied: boolean }>(sql, params);
    if (rows.length === 0) return { ok: false, reason: 'notFound' };
    const record = rowToRecord(rows[0]);
    if (!rows[0].applied) return { ok: false, reason: 'conflict', current: record };
    this.announce({ ...record, eventSeq: Number(rows[0].event_seq) }, meta.kind);
    return { ok: true, record };
  }

  async list(tenantId: string, scope: string, query: ListQuery): Promise<OperationView[]> {
    const params: unknown[] = [tenantId, scope];
    let where = 'tenant_id = $1 AND scope = $2';
    if (query.filter) where += ` AND (${compileFilter(postgresDialect, query.filter, params)})`;
    if (query.after) where += ` AND (${compileAfter(postgresDialect, query.orderBy, query.after, params)})`;
    params.push(query.top + 1);
    const sql = `SELECT ${VIEW_COLUMNS} FROM operations WHERE ${where} ORDER BY ${compileOrderBy(postgresDialect, query.orderBy)} LIMIT $${params.length}`;
    // Prepared only for the few shapes without a filter and with at most one order key: clients choose
    // filters and orderings, and each prepared shape stays in every connection's memory.
    const prepare = !query.filter && query.orderBy.length <= 1;
    const { rows } = await this.query<ViewRow>(sql, params, prepare);
    return rows.map((row) => rowToView(row, tenantId, scope));
  }

  async count(tenantId: string, scope: string, filter?: FilterNode): Promise<number> {
    const params: unknown[] = [tenantId, scope];
    let where = 'tenant_id = $1 AND scope = $2';
    if (filter) where += ` AND (${compileFilter(postgresDialect, filter, params)})`;
    const { rows } = await this.query<{ n: string }>(
      `SELECT count(*) AS n FROM operations WHERE ${where}`,
      params,
      !filter,
    );
    return Number(rows[0].n);
  }

  async history(key: OperationKey): Promise<OperationEvent[]> {
    const { rows } = await this.query<EventRow>(
      `SELECT * FROM operation_events WHERE ${KEY_WHERE} ORDER BY event_seq`,
      [key.tenantId, key.scope, key.id],
    );
    return rows.map(rowToEvent);
  }

  /**
   * The event_seq up to which the history is settled (see event-horizon.ts), recomputed at most every
   * 50 ms: readers that keep cursors read only up to it.
   */
  settledHorizon(maxAgeMs = 50): Promise<number> {
    const nowMs = Date.now();
    if (!this.horizonCache || nowMs - this.horizonCache.at > maxAgeMs) {
      const value = this.query<TailRow>(
        'SELECT event_seq, at FROM operation_events ORDER BY event_seq DESC LIMIT $1',
        [TAIL],
      ).then((r) => horizonOf(r.rows, Date.now()));
      value.catch(() => (this.horizonCache = undefined));
      this.horizonCache = { at: nowMs, value };
    }
    return this.horizonCache.value;
  }

  async eventsSince(
    tenantId: string,
    scope: string,
    afterEventSeq: number,
    options: { id?: string; limit: number },
  ): Promise<OperationEvent[]> {
    // Fresh, not cached: a client resuming right after a change must find that change.
    const horizon = await this.settledHorizon(0);
    const { rows } =
      options.id === undefined
        ? await this.query<EventRow>(
            'SELECT * FROM operation_events WHERE tenant_id = $1 AND scope = $2 AND event_seq > $3 ORDER BY event_seq LIMIT $4',
            [tenantId, scope, afterEventSeq, options.limit],
          )
        : await this.query<EventRow>(
            `SELECT * FROM operation_events WHERE ${KEY_WHERE} AND event_seq > $4 ORDER BY event_seq LIMIT $5`,
            [tenantId, scope, options.id, afterEventSeq, options.limit],
          );
    return settled(rows.map(rowToEvent), horizon);
  }

  async claim(options: ClaimOptions): Promise<OperationRecord[]> {
    if (options.handlers && options.handlers.length === 0) return [];
    const nowMs = Date.now();
    const params: unknown[] = [
      nowMs,
      options.workerId,
      nowMs + options.leaseMs,
      now(),
      `worker:${options.workerId}`,
    ];
    if (options.handlers) params.push(options.handlers);
    const { sql, limitInText } = claimStatement(!options.handlers, options.limit);
    if (!limitInText) params.push(options.limit);
    const { rows } = await this.query<WrittenRow>(sql, params);
    const records = rows.map(writtenRecord);
    for (const r of records) this.announce(r, 'claimed');
    return records;
  }

  async purgeTerminal(beforeMs: number, limit: number): Promise<number> {
    // SKIP LOCKED: purgers on several nodes take different batches instead of queueing on the same rows.
    const { rows } = await this.query<{ n: string }>(
      `
WITH victims AS MATERIALIZED (
  SELECT seq FROM operations
  WHERE terminal_at IS NOT NULL AND terminal_at < $1
  ORDER BY terminal_at
  LIMIT $2
  FOR UPDATE SKIP LOCKED
), del AS (
  DELETE FROM operations o USING victims v WHERE o.seq = v.seq RETURNING o.tenant_id, o.scope, o.id
), ev AS (
  DELETE FROM operation_events e USING del
  WHERE e.tenant_id = del.tenant_id AND e.scope = del.scope AND e.id = del.id
)
SELECT count(*) AS n FROM del`,
      [beforeMs, limit],
    );
    return Number(rows[0].n);
  }

  async queueStats(): Promise<{ due: number; oldestDueAt: number | null }> {
    const { rows } = await this.query<{ due: string; oldest: string | null }>(QUEUE_STATS_SQL, [Date.now()]);
    return { due: Number(rows[0].due), oldestDueAt: rows[0].oldest === null ? null : Number(rows[0].oldest) };
  }

  async moveScope(tenantId: string, from: string, to: string): Promise<number> {
    const { rows } = await this.query<{ moved: string }>(
      `WITH moved AS (
         UPDATE operations SET scope = $3 WHERE tenant_id = $1 AND scope = $2
           AND id NOT IN (SELECT id FROM operations WHERE tenant_id = $1 AND scope = $3)
         RETURNING id
       ), events AS (
         UPDATE operation_events SET scope = $3 WHERE tenant_id = $1 AND scope = $2 AND id IN (SELECT id FROM moved)
       ), subs AS (
         UPDATE subscriptions SET scope = $3 WHERE tenant_id = $1 AND scope = $2
       )
       SELECT count(*) AS moved FROM moved`,
      [tenantId, from, to],
      false,
    );
    return Number(rows[0].moved);
  }

  registerWorker(workerId: string): Promise<void> {
    return this.liveness.register(workerId);
  }

  unregisterWorker(workerId: string): Promise<void> {
    return this.liveness.unregister(workerId);
  }

  releaseDeadLeases(): Promise<number> {
    return this.liveness.releaseDeadLeases();
  }

  async statusCounts(): Promise<{ status: StatusValue; type: OperationTypeName; count: number }[]> {
    const { rows } = await this.query<{ status: number; type: string; count: string }>(
      'SELECT status, type, count(*) AS count FROM operations GROUP BY status, type',
      [],
    );
    return rows.map((r) => ({
      status: r.status as StatusValue,
      type: r.type as OperationTypeName,
      count: Number(r.count),
    }));
  }

  /**
   * Cross-node change notifications over a dedicated connection (LISTEN longrun_changes); see
   * OperationStore.listen. Every write this store makes is announced after it commits (notifier.ts).
   */
  async listen(
    onChange: (change: StoreChange) => void,
    options?: ListenOptions,
  ): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('PostgresStore is closed');
    const listener = new ChangeListener(
      this.listenConfig,
      onChange,
      (seq) => this.keyOfSeq(seq),
      options,
      this.origin,
    );
    await listener.start();
    this.listeners.add(listener);
    return async () => {
      this.listeners.delete(listener);
      await listener.stop();
    };
  }

  private announce(record: OperationRecord, kind: string): void {
    this.notifier.announce({ ...record, kind });
  }

  private async keyOfSeq(seq: number): Promise<OperationKey | undefined> {
    const { rows } = await this.query<{ tenant_id: string; scope: string; id: string }>(
      'SELECT tenant_id, scope, id FROM operations WHERE seq = $1',
      [seq],
    );
    return rows[0] && { tenantId: rows[0].tenant_id, scope: rows[0].scope, id: rows[0].id };
  }
}

/**
 * The SET clauses of an update (`o` the row written, `cur` the row as it was): the columns `changes` sets,
 * and terminal_at when the write moves the operation into a terminal state (not when it already is one).
 */
function setClauses(changes: RecordChanges, param: (value: unknown) => string): string[] {
  const sets = changeColumns(
    changes,
    (v) => JSON.stringify(v),
    (b) => b,
  ).map(([c, v]) => `${c} = ${param(v)}`);
  if (
    changes.terminalAt === undefined &&
    changes.status !== undefined &&
    TERMINAL_STATUSES.includes(changes.status)
  ) {
    sets.push(
      `terminal_at = CASE WHEN cur.status IN (${TERMINAL_LIST}) THEN o.terminal_at ELSE ${param(Date.now())}::bigint END`,
    );
  }
  return sets;
}

/** A row a write returned: the operation plus the event_seq of the history event it recorded, if any. */
type WrittenRow = OperationRow & { event_seq: string | number | null };

function writtenRecord(row: WrittenRow): OperationRecord {
  const record = rowToRecord(row);
  if (row.event_seq !== null && row.event_seq !== undefined) record.eventSeq = Number(row.event_seq);
  return record;
}
