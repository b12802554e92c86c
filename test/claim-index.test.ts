/**
 * Migration 10: the due index is led by handler, so a claim of this worker's handlers searches their rows
 * only, however many due rows of other handlers are ahead in the queue. Checked through the plans of the
 * statements claim() and the lease release run (no timings), and through a database made at version 9.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { STATUS } from '../src/model/status.js';
import { RELEASE_SQL } from '../src/store/postgres/liveness.js';
import { POSTGRES_MIGRATIONS } from '../src/store/postgres/migrations.js';
import { claimSql, PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SQLITE_MIGRATIONS } from '../src/store/sqlite/migrations.js';
import {
  CLAIM_DUE_SQL,
  QUEUE_STATS_SQL,
  RELEASE_LEASES_SQL,
  SqliteStore,
} from '../src/store/sqlite/sqlite-store.js';
import { newOp } from './store-contract.js';
import { freshDatabase } from './support/pg.js';

const CREATED = { actor: 'user:alice', kind: 'created' };
const dir = mkdtempSync(join(tmpdir(), 'longrun-claim-index-'));
let n = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const OTHER_DUE = 50_000;

/**
 * After migrating a version-9 database holding due operations a (oldest), b, a2: the old index is gone,
 * the new one is there, a claim of handler a takes a's in order, and a claim of all takes b.
 */
async function expectMigratedAndClaimable(
  store: SqliteStore | PostgresStore,
  indexNames: string[],
  ops: { a: { id: string }; b: { id: string }; a2: { id: string } },
): Promise<void> {
  expect(indexNames).toContain('operations_due_handler');
  expect(indexNames).not.toContain('operations_due');
  const got = await store.claim({ workerId: 'w', limit: 10, leaseMs: 60_000, handlers: ['a'] });
  expect(got.map((r) => r.id)).toEqual([ops.a.id, ops.a2.id]);
  expect(got.every((r) => r.status === STATUS.running)).toBe(true);
  expect((await store.claim({ workerId: 'w', limit: 10, leaseMs: 60_000 })).map((r) => r.id)).toEqual([
    ops.b.id,
  ]);
}

describe('SQLite: claims search the due index by handler', () => {
  it('each statement over due work is a SEARCH of operations_due_handler with handler=?', async () => {
    const file = join(dir, `plan-${++n}.db`);
    const store = new SqliteStore({ file });
    await store.migrate();
    const db = new Database(file);
    try {
      const insert = db.prepare(
        `INSERT INTO operations (tenant_id, scope, id, type, status, created_at, last_action_at, handler, run_at)
         VALUES ('t', 's', ?, 'longRunningOperation', 0, 'x', 'x', ?, ?)`,
      );
      db.transaction(() => {
        for (let i = 0; i < OTHER_DUE; i++) insert.run(`o${i}`, 'other', i);
        for (let i = 0; i < 10; i++) insert.run(`m${i}`, 'mine', OTHER_DUE + i);
      })();
      const plan = (sql: string, ...params: unknown[]) =>
        (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail);

      expect(plan(CLAIM_DUE_SQL, 'mine', Date.now(), 8)).toEqual([
        'SEARCH operations USING INDEX operations_due_handler (handler=? AND run_at<?)',
      ]);
      expect(plan(QUEUE_STATS_SQL, Date.now())).toContain(
        'SEARCH o USING INDEX operations_due_handler (handler=? AND run_at<?)',
      );
      expect(plan(RELEASE_LEASES_SQL, Date.now(), 'w', Date.now())).toContain(
        'SEARCH operations USING INDEX operations_due_handler (handler=? AND run_at>?)',
      );
      // Nothing scans the table or the index whole.
      for (const detail of [
        ...plan(CLAIM_DUE_SQL, 'mine', Date.now(), 8),
        ...plan(QUEUE_STATS_SQL, Date.now()),
        ...plan(RELEASE_LEASES_SQL, Date.now(), 'w', Date.now()),
      ]) {
        expect(detail).not.toMatch(/^SCAN (operations|o)\b/);
      }
    } finally {
      db.close();
      await store.close();
    }
    // And the claim takes this handler's rows behind all the others.
    const again = new SqliteStore({ file });
    const got = await again.claim({ workerId: 'w', limit: 3, leaseMs: 60_000, handlers: ['mine'] });
    expect(got.map((r) => r.id)).toEqual(['m0', 'm1', 'm2']);
    expect(await again.queueStats()).toMatchObject({ due: OTHER_DUE + 7, oldestDueAt: 0 });
    await again.close();
  });

  it('a database made at version 9 migrates to 10 and its due operations are still claimed', async () => {
    const file = join(dir, `v9-${++n}.db`);
    const db = new Database(file);
    db.exec(
      'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
    for (const m of SQLITE_MIGRATIONS.filter((m) => m.version <= 9)) {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, 'x');
    }
    db.close();
    const store = new SqliteStore({ file });
    const t = Date.now();
    const a = await store.insert(newOp({ handler: 'a', runAt: t - 2000 }), CREATED);
    const b = await store.insert(newOp({ handler: 'b', runAt: t - 1500 }), CREATED);
    const a2 = await store.insert(newOp({ handler: 'a', runAt: t - 1000 }), CREATED);
    await store.migrate();
    const indexes = new Database(file, { readonly: true });
    const names = (
      indexes
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'operations'")
        .all() as {
        name: string;
      }[]
    ).map((r) => r.name);
    indexes.close();
    await expectMigratedAndClaimable(store, names, { a, b, a2 });
    await store.close();
  });
});

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

describe('PostgreSQL: claims search the due index by handler', () => {
  async function explain(client: pg.Client, sql: string, params: unknown[]): Promise<PlanNode[]> {
    const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `EXPLAIN (FORMAT JSON) ${sql}`,
      params,
    );
    return nodes(rows[0]['QUERY PLAN'][0].Plan);
  }

  it('the claim and the lease release are Index Scans of operations_due_handler on handler', async () => {
    const url = await freshDatabase('claim_plan');
    const store = new PostgresStore({ connectionString: url, max: 2 });
    await store.migrate();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(
        `INSERT INTO operations (tenant_id, scope, id, type, status, created_at, last_action_at, handler, run_at)
         SELECT 't', 's', 'o' || i, 'longRunningOperation', 0, 'x', 'x', 'other', i FROM generate_series(1, $1::int) i`,
        [OTHER_DUE],
      );
      await client.query(
        `INSERT INTO operations (tenant_id, scope, id, type, status, created_at, last_action_at, handler, run_at)
         SELECT 't', 's', 'm' || i, 'longRunningOperation', 0, 'x', 'x', 'mine', $1::bigint + i FROM generate_series(1, 10) i`,
        [OTHER_DUE],
      );
      await client.query('ANALYZE operations');
      const t = Date.now();

      const claim = await explain(client, claimSql(false, 8), [t, 'w', t + 1000, 'x', 'worker:w', ['mine']]);
      const search = claim.find((p) => p['Index Name'] === 'operations_due_handler');
      expect(search).toMatchObject({ 'Node Type': 'Index Scan' });
      expect(search?.['Index Cond']).toMatch(/\(handler = .*\) AND \(run_at <= /);
      expect(claim.some((p) => p['Node Type'] === 'Seq Scan')).toBe(false);

      const all = await explain(client, claimSql(true, 8), [t, 'w', t + 1000, 'x', 'worker:w']);
      expect(all.find((p) => p['Index Cond']?.includes('handler = h.name'))).toMatchObject({
        'Node Type': 'Index Scan',
        'Index Name': 'operations_due_handler',
      });

      const release = await explain(client, RELEASE_SQL, [1, t]);
      const freed = release.find(
        (p) => p['Index Name'] === 'operations_due_handler' && p['Index Cond']?.includes('run_at >'),
      );
      // Each handler's range run_at > now. PostgreSQL 18 may instead search that same index with a skip
      // scan (its Index Cond then names run_at only), which visits each handler's range as well.
      const cond = freed?.['Index Cond'] ?? '';
      const serverVersion = Number(
        (await client.query<{ server_version_num: string }>('SHOW server_version_num')).rows[0]
          .server_version_num,
      );
      const perHandler = /\(handler = .*\) AND \(run_at > /.test(cond);
      const skipScan = serverVersion >= 180000 && /^\(run_at > [^)]*\)$/.test(cond);
      expect(perHandler || skipScan, `lease release Index Cond on PostgreSQL ${serverVersion}: ${cond}`).toBe(
        true,
      );
      // (The workers table and the catalogs it joins are small and read whole; operations never is.)
      expect(release.some((p) => p['Node Type'] === 'Seq Scan' && p['Relation Name'] === 'operations')).toBe(
        false,
      );

      // Claims of more than 64 pass their limit as a parameter: the same search.
      const large = await explain(client, claimSql(false), [
        t,
        'w',
        t + 1000,
        'x',
        'worker:w',
        ['mine'],
        100,
      ]);
      expect(large.find((p) => p['Index Name'] === 'operations_due_handler')).toMatchObject({
        'Node Type': 'Index Scan',
      });
      expect(large.some((p) => p['Node Type'] === 'Seq Scan')).toBe(false);

      // The plan PostgreSQL reuses for every claim after the first few (generic: no values known) is the
      // same search, and the claimed rows are found by their key, not by reading the table.
      await client.query('SET plan_cache_mode = force_generic_plan');
      await client.query(
        `PREPARE generic_claim(bigint, text, bigint, text, text, text[]) AS ${claimSql(false, 8)}`,
      );
      await client.query('BEGIN');
      const generic = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        `EXPLAIN (FORMAT JSON) EXECUTE generic_claim(${t}, 'w', ${t + 1000}, 'x', 'worker:w', '{mine}')`,
      );
      await client.query('ROLLBACK');
      const genericNodes = nodes(generic.rows[0]['QUERY PLAN'][0].Plan);
      expect(genericNodes.find((p) => p['Index Name'] === 'operations_due_handler')).toMatchObject({
        'Node Type': 'Index Scan',
      });
      expect(genericNodes.some((p) => p['Node Type'] === 'Seq Scan')).toBe(false);

      const got = await store.claim({ workerId: 'w', limit: 3, leaseMs: 60_000, handlers: ['mine'] });
      expect(got.map((r) => r.id)).toEqual(['m1', 'm2', 'm3']);
    } finally {
      await client.end();
      await store.close();
    }
  });

  it('the claim statement takes only a positive integer limit into its text', () => {
    expect(claimSql(false, 16)).toContain('LIMIT 16');
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => claimSql(false, bad), String(bad)).toThrow(/limit must be a positive integer/);
  });

  it('claims reuse one plan: after the first five, PostgreSQL plans no claim afresh', async () => {
    const url = await freshDatabase('claim_generic');
    // One connection, so that its prepared statements are the ones the claims used.
    const store = new PostgresStore({ connectionString: url, max: 1 });
    try {
      await store.migrate();
      for (let i = 0; i < 30; i++)
        await store.insert(newOp({ handler: 'mine', runAt: Date.now() - 1000 }), CREATED);
      for (let i = 0; i < 12; i++) {
        const got = await store.claim({ workerId: 'w', limit: 2, leaseMs: 60_000, handlers: ['mine'] });
        expect(got).toHaveLength(2);
      }
      const { rows } = await store.pool.query<{ generic_plans: string; custom_plans: string }>(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%due_handlers%'",
      );
      expect(rows).toHaveLength(1);
      // PostgreSQL makes five plans for the values of the first five claims, then keeps the reusable one.
      expect(Number(rows[0].custom_plans)).toBeLessThanOrEqual(5);
      expect(Number(rows[0].generic_plans)).toBeGreaterThanOrEqual(7);
    } finally {
      await store.close();
    }
  });

  it('a database made at version 9 migrates to 10 and its due operations are still claimed', async () => {
    const url = await freshDatabase('claim_v9');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const store = new PostgresStore({ connectionString: url, max: 2 });
    try {
      await client.query(
        'CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)',
      );
      for (const m of POSTGRES_MIGRATIONS.filter((m) => m.version <= 9)) {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations VALUES ($1, $2, $3)', [m.version, m.name, 'x']);
      }
      const t = Date.now();
      const a = await store.insert(newOp({ handler: 'a', runAt: t - 2000 }), CREATED);
      const b = await store.insert(newOp({ handler: 'b', runAt: t - 1500 }), CREATED);
      const a2 = await store.insert(newOp({ handler: 'a', runAt: t - 1000 }), CREATED);
      await store.migrate();
      const { rows } = await client.query<{ indexname: string }>(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'operations'",
      );
      await expectMigratedAndClaimable(
        store,
        rows.map((r) => r.indexname),
        { a, b, a2 },
      );
    } finally {
      await client.end();
      await store.close();
    }
  });
});
