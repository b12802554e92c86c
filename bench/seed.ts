/**
 * Fills a store fast, straight through SQL (never through HTTP): `count` operations in the bench tenant's
 * `/operations` collection, one in five `running`, the rest `succeeded`, created 10 ms apart from
 * 2026-01-01. The rows are generated inside the database in one transaction (a recursive CTE on SQLite,
 * generate_series on PostgreSQL) with the secondary indexes dropped and rebuilt afterwards, which is many
 * times faster than maintaining them row by row: 1 M rows take seconds, 10 M about a minute.
 * Returns a few ids to read.
 */
import type Database from 'better-sqlite3';
import type pg from 'pg';
import type { OperationStore } from '../src/store/store.js';

export const TENANT = '00000000-0000-0000-0000-000000000001';
/** The HS256 key of the bench's tokens (longrun and the floor server verify with it). */
export const BENCH_SECRET = 'bench-secret-that-is-long-enough-for-hs256';
export const SCOPE = 'operations';
/** 2026-01-01T00:00:00Z in epoch ms. */
const START_MS = Date.UTC(2026, 0, 1);

export async function seed(store: OperationStore, count: number): Promise<string[]> {
  if (count <= 0) return [];
  if (store.dialect === 'sqlite') seedSqlite((store as unknown as { db: Database.Database }).db, count);
  else await seedPostgres((store as unknown as { pool: pg.Pool }).pool, count);
  // bench-1 is succeeded (reads answer without Retry-After); bench-0 is running.
  return [0, 1, Math.floor(count / 2), count - 1].map((i) => `bench-${i}`);
}

function seedSqlite(db: Database.Database, count: number): void {
  const indexes = db
    .prepare(
      "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'operations' AND sql IS NOT NULL",
    )
    .all() as { name: string; sql: string }[];
  db.transaction(() => {
    for (const i of indexes) db.exec(`DROP INDEX "${i.name}"`);
    // The canonical 7-digit timestamp: strftime's %f gives SS.SSS, the four zeros make it 100 ns ticks.
    db.prepare(
      `WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < ? - 1)
       INSERT INTO operations (tenant_id, scope, id, type, status, created_at, last_action_at, props)
       SELECT ?, ?, 'bench-' || i, 'longRunningOperation', CASE WHEN i % 5 = 0 THEN 1 ELSE 2 END, t, t, '{}'
       FROM (SELECT i, strftime('%Y-%m-%dT%H:%M:%f0000Z', (? + i * 10) / 1000.0, 'unixepoch') AS t FROM g)`,
    ).run(count, TENANT, SCOPE, START_MS);
    for (const i of indexes) db.exec(i.sql);
  })();
  db.pragma('analysis_limit = 1000');
  db.exec('ANALYZE');
  db.pragma('wal_checkpoint(TRUNCATE)');
}

async function seedPostgres(pool: pg.Pool, count: number): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("SET maintenance_work_mem = '256MB'");
    await client.query('BEGIN');
    const { rows: indexes } = await client.query<{ name: string; def: string }>(
      `SELECT i.indexname AS name, i.indexdef AS def FROM pg_indexes i
       WHERE i.schemaname = current_schema() AND i.tablename = 'operations'
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`,
    );
    for (const i of indexes) await client.query(`DROP INDEX "${i.name}"`);
    await client.query(
      `INSERT INTO operations (tenant_id, scope, id, type, status, created_at, last_action_at, props)
       SELECT $1, $2, 'bench-' || g, 'longRunningOperation', CASE WHEN g % 5 = 0 THEN 1 ELSE 2 END, t, t, '{}'
       FROM generate_series(0, $3::int - 1) g,
       LATERAL (SELECT to_char(to_timestamp(($4::bigint + g * 10) / 1000.0) AT TIME ZONE 'UTC',
                               'YYYY-MM-DD"T"HH24:MI:SS.MS') || '0000Z' AS t) ts`,
      [TENANT, SCOPE, count, START_MS],
    );
    for (const i of indexes) await client.query(i.def);
    await client.query('COMMIT');
    await client.query('VACUUM ANALYZE operations');
    await client.query('CHECKPOINT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
