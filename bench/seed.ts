/**
 * Fills a store fast, straight through SQL in big transactions (not through HTTP): `count` operations in
 * the bench collection, a fifth of them running, spread over time. Returns a few ids to read.
 */
import type Database from 'better-sqlite3';
import type pg from 'pg';
import { fromEpochMs } from '../src/model/time.js';
import type { OperationStore } from '../src/store/store.js';

export const TENANT = '00000000-0000-0000-0000-000000000001';
export const SCOPE = 'operations';
export const COLLECTION = '/v1.0/operations';
const START = Date.UTC(2026, 0, 1);

export async function seed(store: OperationStore, count: number): Promise<string[]> {
  if (count <= 0) return [];
  if (store.dialect === 'sqlite') seedSqlite((store as unknown as { db: Database.Database }).db, count);
  else await seedPostgres((store as unknown as { pool: pg.Pool }).pool, count);
  return [0, Math.floor(count / 2), count - 1].map((i) => `bench-${i}`);
}

function seedSqlite(db: Database.Database, count: number): void {
  const insert = db.prepare(
    `INSERT INTO operations (tenant_id, scope, id, type, status, created_at, last_action_at, props)
     VALUES (?, ?, ?, 'longRunningOperation', ?, ?, ?, '{}')`,
  );
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const at = fromEpochMs(START + i * 10);
      insert.run(TENANT, SCOPE, `bench-${i}`, i % 5 === 0 ? 1 : 2, at, at);
    }
  });
  for (let i = 0; i < count; i += 100_000) batch(i, Math.min(count, i + 100_000));
  db.exec('ANALYZE');
}

async function seedPostgres(pool: pg.Pool, count: number): Promise<void> {
  // Timestamps in the canonical 7-digit form, computed in SQL from the row number.
  await pool.query(
    `INSERT INTO operations (tenant_id, scope, id, type, status, created_at, last_action_at, props)
     SELECT $1, $2, 'bench-' || g, 'longRunningOperation', CASE WHEN g % 5 = 0 THEN 1 ELSE 2 END, t, t, '{}'
     FROM generate_series(0, $3::int - 1) g,
     LATERAL (SELECT to_char(to_timestamp(($4::bigint + g * 10) / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '0Z' AS t) ts`,
    [TENANT, SCOPE, count, START],
  );
  await pool.query('VACUUM ANALYZE operations');
}
