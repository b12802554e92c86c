/**
 * Versioned schema for the PostgreSQL store, the same tables and indexes as the SQLite one
 * (src/store/sqlite/migrations.ts). Append new migrations; never edit an applied one.
 *
 * Text columns use the "C" collation: byte order, as in SQLite, whatever the database's locale. Ids and
 * timestamps then sort and page the same on both backends, and their indexes serve range scans.
 * Epoch-ms columns are bigint (node-postgres returns them as strings; row.ts converts).
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Key of the advisory lock that serializes migrations across nodes ('longrun' in ASCII). */
export const MIGRATION_LOCK_KEY = '30521817457390958';

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'operations and history',
    sql: `
CREATE TABLE operations (
  seq               bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id         text    COLLATE "C" NOT NULL,
  scope             text    COLLATE "C" NOT NULL,
  id                text    COLLATE "C" NOT NULL,
  type              text    NOT NULL,
  status            integer NOT NULL,
  created_at        text    COLLATE "C" NOT NULL,
  last_action_at    text    COLLATE "C" NOT NULL,
  resource_location text    COLLATE "C",
  status_detail     text    COLLATE "C",
  props             jsonb   NOT NULL DEFAULT '{}',
  version           integer NOT NULL DEFAULT 1,
  handler           text,
  input             jsonb,
  attempts          integer NOT NULL DEFAULT 0,
  max_attempts      integer NOT NULL DEFAULT 1,
  run_at            bigint,
  lease_owner       text,
  fencing_token     bigint  NOT NULL DEFAULT 0,
  cancel_requested  boolean NOT NULL DEFAULT false,
  timeout_ms        bigint,
  idempotency_key   text    COLLATE "C",
  request_hash      text,
  created_by        text,
  terminal_at       bigint
);
CREATE UNIQUE INDEX operations_key ON operations (tenant_id, scope, id);
-- Lists: keyset by seq (default order), by creation time, and by status then creation time. (SQLite gets
-- the first for free: its index on (tenant_id, scope, id) ends in the rowid; here it must be explicit.)
CREATE INDEX operations_scope_seq ON operations (tenant_id, scope, seq);
CREATE INDEX operations_scope_created ON operations (tenant_id, scope, created_at, seq);
CREATE INDEX operations_scope_status ON operations (tenant_id, scope, status, created_at, seq);
-- The engine's hot path: what is due (new work and expired leases alike).
CREATE INDEX operations_due ON operations (run_at, seq) WHERE handler IS NOT NULL AND status < 2;
CREATE INDEX operations_terminal ON operations (terminal_at) WHERE terminal_at IS NOT NULL;
CREATE UNIQUE INDEX operations_idempotency ON operations (tenant_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

CREATE TABLE operation_events (
  event_seq   bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id   text    COLLATE "C" NOT NULL,
  scope       text    COLLATE "C" NOT NULL,
  id          text    COLLATE "C" NOT NULL,
  at          text    NOT NULL,
  from_status integer,
  to_status   integer NOT NULL,
  actor       text    NOT NULL,
  kind        text    NOT NULL
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
  tenant_id        text    COLLATE "C" NOT NULL,
  id               text    COLLATE "C" NOT NULL,
  resource         text    NOT NULL,
  scope            text    COLLATE "C" NOT NULL,
  operation_id     text    COLLATE "C",
  change_type      text    NOT NULL,
  notification_url text    NOT NULL,
  client_state     text,
  expiration_ms    bigint  NOT NULL,
  created_by       text    NOT NULL,
  created_at       text    NOT NULL,
  cursor           bigint  NOT NULL,
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  bigint  NOT NULL DEFAULT 0,
  lease_owner      text,
  lease_until      bigint  NOT NULL DEFAULT 0,
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
  tenant_id  text COLLATE "C" NOT NULL,
  upn        text COLLATE "C" NOT NULL,
  object_id  text COLLATE "C" NOT NULL,
  source     text NOT NULL,
  bound_at   text NOT NULL,
  PRIMARY KEY (tenant_id, upn)
);
`,
  },
  {
    version: 5,
    name: 'worker liveness and checkpoints',
    sql: `
-- Workers that hold leases; each holds the session advisory lock (LIVENESS_LOCK_CLASS, lock_key) while it
-- lives, so a worker whose lock is gone is dead (its session ended) and its leases are free at once.
CREATE TABLE workers (
  worker_id     text    PRIMARY KEY,
  lock_key      integer NOT NULL,
  host          text    NOT NULL,
  pid           integer NOT NULL,
  registered_at text    NOT NULL
);
CREATE INDEX operations_lease_owner ON operations (lease_owner) WHERE lease_owner IS NOT NULL AND status < 2;
ALTER TABLE operations ADD COLUMN checkpoint jsonb;
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
    // handler, each handler's due rows are one range (handler = $ AND run_at <= now); claim() reads one
    // range per handler and merges them. What searched the whole index by run_at (queueStats, a dead
    // worker's leases in liveness.ts) now visits the handlers that have due or leased rows, found through
    // the same index (DUE_HANDLERS_CTE in store/sql/due-handlers.ts), and searches each one's range. Same
    // number of indexes as before.
    sql: `
DROP INDEX operations_due;
CREATE INDEX operations_due_handler ON operations (handler, run_at, seq) WHERE handler IS NOT NULL AND status < 2;
`,
  },
  {
    version: 11,
    name: 'room on each page for heap-only updates',
    // A PATCH changes no indexed column (statusDetail, percentComplete, props, lastActionDateTime, version),
    // so PostgreSQL can write the new row version on the same page and leave the table's ten indexes alone
    // (a heap-only tuple), but only if the page has room. Filled to 100 %, every page had none: each
    // update went to another page, added an entry to every index, and a long run of PATCHes bloated them
    // (the benchmark's PATCH over 1,000 operations halved its rate in 10 s). Pages written from now on
    // keep 15 % free; those already full get room as vacuum frees them.
    sql: `ALTER TABLE operations SET (fillfactor = 85);`,
  },
];

/** First key of the workers' liveness advisory locks ('lrun' in ASCII); the second is workers.lock_key. */
export const LIVENESS_LOCK_CLASS = 1819440494;
