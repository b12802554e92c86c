/**
 * Updates of several operations go to PostgreSQL as one statement (write-batcher.ts). Its plan must find
 * each operation by its key: a plan that scans the table costs every batch the whole table (3 ms at 10,000
 * operations, seconds at 10 M), which is what a plain join with jsonb_to_recordset got.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PostgresStore, UPDATE_MANY_SQL } from '../src/store/postgres/postgres-store.js';
import { freshDatabase } from './support/pg.js';

let store: PostgresStore;
let client: pg.Client;
beforeAll(async () => {
  const url = await freshDatabase('update_plan');
  store = new PostgresStore({ connectionString: url });
  await store.migrate();
  client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`
    INSERT INTO operations (tenant_id, scope, id, type, status, created_at, last_action_at, props)
    SELECT 't', 'operations', 'op-' || g, 'longRunningOperation', 1,
           '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z', '{}'
    FROM generate_series(0, 19999) g`);
  await client.query('ANALYZE operations');
});
afterAll(async () => {
  await client?.end();
  await store?.close();
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}
const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

it('finds each operation of a batched update by its key, never by scanning the table', async () => {
  const input = Array.from({ length: 8 }, (_, n) => ({
    n,
    t: 't',
    s: 'operations',
    i: `op-${n * 997}`,
    c: { status_detail: `step ${n}` },
    h: true,
    a: 'test',
    k: 'updated',
  }));
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
      `EXPLAIN (FORMAT JSON) ${UPDATE_MANY_SQL}`,
      [JSON.stringify(input), '2026-01-02T00:00:00.0000000Z'],
    );
    const plan = nodes(rows[0]['QUERY PLAN'][0].Plan);
    const onOperations = plan.filter((n) => n['Relation Name'] === 'operations');
    expect(onOperations.length).toBeGreaterThan(0);
    expect(onOperations.map((n) => n['Node Type'])).not.toContain('Seq Scan');
  } finally {
    await client.query('ROLLBACK');
  }

  // And the batch does what it says: eight updates, each applied once.
  const results = await Promise.all(
    input.map(({ i, n }) =>
      store.update(
        { tenantId: 't', scope: 'operations', id: i },
        { statusDetail: `step ${n}` },
        {},
        { actor: 'test', kind: 'updated' },
      ),
    ),
  );
  expect(results.map((r) => r.ok)).toEqual(Array(8).fill(true));
  const { rows } = await client.query<{ id: string; status_detail: string }>(
    `SELECT id, status_detail FROM operations WHERE id = ANY($1) ORDER BY id`,
    [input.map((x) => x.i)],
  );
  expect(rows).toHaveLength(8);
  for (const row of rows) expect(row.status_detail).toBe(`step ${Number(row.id.slice(3)) / 997}`);
});
