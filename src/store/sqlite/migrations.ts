/**
 * Versioned schema for the SQLite store. Append new migrations; never edit an applied one.
 * The engine, idempotency, tenancy, history and retention columns exist from the start so that later
 * features add behaviour, not a rewrite.
 */
export const SQLITE_MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'operations and history',
    sql: `
CREATE TABLE operations (
  seq              INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id        TEXT    NOT NULL,
  scope            TEXT    NOT NULL,
  id               TEXT    NOT NULL,
  type             TEXT    NOT NULL,
  status           INTEGER NOT NULL,
  created_at       TEXT    NOT NULL,
  last_action_at   TEXT    NOT NULL,
  resource_location TEXT,
  status_detail    TEXT,
  props            TEXT    NOT NULL DEFAULT '{}',
  version          INTEGER NOT NULL DEFAULT 1,
  handler          TEXT,
  input            TEXT,
  attempts         INTEGER NOT NULL DEFAULT 0,
  max_attempts     INTEGER NOT NULL DEFAULT 1,
  run_at           INTEGER,
  lease_owner      TEXT,
  fencing_token    INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  timeout_ms       INTEGER,
  idempotency_key  TEXT,
  request_hash     TEXT,
  created_by       TEXT,
  terminal_at      INTEGER
);
CREATE UNIQUE INDEX operations_key ON operations (tenant_id, scope, id);
-- Lists: keyset by seq (default order), by creation time, and by status then creation time.
CREATE INDEX operations_scope_created ON operations (tenant_id, scope, created_at, seq);
CREATE INDEX operations_scope_status ON operations (tenant_id, scope, status, created_at, seq);
-- The engine's hot path: what is due (new work and expired leases alike).
CREATE INDEX operations_due ON operations (run_at, seq) WHERE handler IS NOT NULL AND status < 2;
CREATE INDEX operations_terminal ON operations (terminal_at) WHERE terminal_at IS NOT NULL;
CREATE UNIQUE INDEX operations_idempotency ON operations (tenant_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

CREATE TABLE operation_events (
  event_seq   INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id   TEXT    NOT NULL,
  scope       TEXT    NOT NULL,
  id          TEXT    NOT NULL,
  at          TEXT    NOT NULL,
  from_status INTEGER,
  to_status   INTEGER NOT NULL,
  actor       TEXT    NOT NULL,
  kind        TEXT    NOT NULL
);
CREATE INDEX operation_events_key ON operation_events (tenant_id, scope, id, event_seq);
`,
  },
  {
    version: 2,
    name: 'collection event streams',
    sql: `CREATE INDEX operation_events_scope ON operation_events (tenant_id, scope, event_seq);`,
  },
  {
    version: 3,
    name: 'webhook subscriptions',
    sql: `
CREATE TABLE subscriptions (
  tenant_id        TEXT    NOT NULL,
  id               TEXT    NOT NULL,
  resource         TEXT    NOT NULL,
  scope            TEXT    NOT NULL,
  operation_id     TEXT,
  change_type      TEXT    NOT NULL,
  notification_url TEXT    NOT NULL,
  client_state     TEXT,
  expiration_ms    INTEGER NOT NULL,
  created_by       TEXT    NOT NULL,
  created_at       TEXT    NOT NULL,
  cursor           INTEGER NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  INTEGER NOT NULL DEFAULT 0,
  lease_owner      TEXT,
  lease_until      INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX subscriptions_due ON subscriptions (next_attempt_at);
`,
  },
  {
    version: 4,
    name: 'user directory',
    sql: `
CREATE TABLE user_directory (
  tenant_id  TEXT NOT NULL,
  upn        TEXT NOT NULL,
  object_id  TEXT NOT NULL,
  source     TEXT NOT NULL,
  bound_at   TEXT NOT NULL,
  PRIMARY KEY (tenant_id, upn)
);
`,
  },
  {
    version: 5,
    name: 'worker liveness and checkpoints',
    sql: `
-- Workers that hold leases, with what proves them alive: same host, a live pid, the same process start.
CREATE TABLE workers (
  worker_id     TEXT    PRIMARY KEY,
  host          TEXT    NOT NULL,
  pid           INTEGER NOT NULL,
  proc_start    TEXT,
  registered_at TEXT    NOT NULL
);
-- A dead worker's leases, found at once.
CREATE INDEX operations_lease_owner ON operations (lease_owner) WHERE lease_owner IS NOT NULL AND status < 2;
-- ctx.checkpoint(state): the last state a handler's attempt saved, as JSON.
ALTER TABLE operations ADD COLUMN checkpoint TEXT;
`,
  },
  {
    version: 8,
    name: 'operator views across collections',
    // The operator API lists a tenant's operations newest first, and its failures by when they ended.
    sql: `
CREATE INDEX operations_tenant_seq ON operations (tenant_id, seq);
CREATE INDEX operations_tenant_terminal ON operations (tenant_id, terminal_at) WHERE terminal_at IS NOT NULL;
`,
  },
  {
    version: 9,
    name: 'leases found through the due index',
    // Every claim added an entry to this index and every outcome removed it again. A dead worker's leases
    // are found as quickly through operations_due: leased rows are due when their lease ends, so they are
    // the range run_at > now of that index (with the retries and scheduled starts still to come).
    sql: `DROP INDEX operations_lease_owner;`,
  },
  {
    version: 10,
    name: 'due index led by handler',
    // A worker claims only the handlers it runs. Led by run_at, the index made each claim walk past every
    // due row of the other handlers ahead in the queue (a million of them: seconds per claim). Led by
    // handler, each handler's due rows are one range (handler = ? AND run_at <= now); claim() reads one
    // range per handler and merges them. What searched the whole index by run_at (queueStats, a dead
    // worker's leases) now visits the handlers that have due or leased rows, found through the same index
    // (DUE_HANDLERS_CTE in store/sql/due-handlers.ts), and searches each one's range. Same number of
    // indexes as before.
    sql: `
DROP INDEX operations_due;
CREATE INDEX operations_due_handler ON operations (handler, run_at, seq) WHERE handler IS NOT NULL AND status < 2;
`,
  },
];
