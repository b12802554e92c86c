/**
 * Issue 5's acceptance: three server processes on one PostgreSQL, 2,000 operations started through all
 * three, one node killed with SIGKILL midway. Every operation ends terminal, reads the same from every
 * surviving node, none is lost, none reaches a terminal state twice.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabase } from './support/pg.js';
import { startServerProcess, waitForExit, type ServerProcess } from './support/process.js';

const TOTAL = 2000;
const nodes: ServerProcess[] = [];
afterAll(async () => {
  for (const n of nodes)
    if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL');
  await Promise.all(nodes.map((n) => waitForExit(n.child)));
});

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

async function count(url: string, filter: string): Promise<number> {
  const res = await fetch(
    `${url}/beta/identityGovernance/roleManagementAlerts/operations/$count?$filter=${encodeURIComponent(filter)}`,
  );
  return Number(await res.text());
}

describe('three nodes on one PostgreSQL', () => {
  it('runs 2,000 operations to exactly one terminal state each, through a SIGKILL', async () => {
    const database = await freshDatabase('multinode');
    const args = [
      '--postgres',
      database,
      '--auth',
      'none',
      '--public-url',
      'https://lro.example.com',
      '--lease-ms',
      '1500',
      '--poll-ms',
      '50',
      '--concurrency',
      '16',
      '--scenarios',
      JSON.stringify({ default: { durationMs: 150 } }),
    ];
    for (let i = 0; i < 3; i++) nodes.push(await startServerProcess(args));
    const started = Date.now();

    const ids = Array.from({ length: TOTAL }, (_, i) => `Alert${i}`);
    let sent = 0;
    let killed: ServerProcess | undefined;
    await pool(ids, 32, async (alertId) => {
      const i = sent++;
      if (i === TOTAL / 2) {
        killed = nodes[0];
        killed.child.kill('SIGKILL');
      }
      // Round-robin over the nodes still alive. A start in flight on the killed node may or may not have
      // been accepted: the client repeats it on another node with the same Idempotency-Key, as a client of
      // a real deployment would.
      for (let attempt = 0; ; attempt++) {
        const alive = nodes.filter((n) => n !== killed);
        const node = alive[(i + attempt) % alive.length];
        try {
          const res = await fetch(
            `${node.url}/beta/identityGovernance/roleManagementAlerts/alerts/${alertId}/refresh`,
            {
              method: 'POST',
              headers: { 'idempotency-key': alertId },
            },
          );
          expect(res.status).toBe(202);
          return;
        } catch (error) {
          if (attempt >= 3) throw error;
        }
      }
    });
    const survivors = nodes.filter((n) => n !== killed);
    const deadline = Date.now() + 120_000;
    let done = 0;
    while (Date.now() < deadline) {
      done = await count(survivors[0].url, "status eq 'succeeded' or status eq 'failed'");
      if (done === TOTAL) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(done).toBe(TOTAL);
    expect(await count(survivors[1].url, "status eq 'succeeded'")).toBe(TOTAL);

    // The same bytes from every surviving node (all behind one public URL, as behind a load balancer).
    for (const alertId of ids.filter((_, i) => i % 97 === 0)) {
      const path = `/beta/identityGovernance/roleManagementAlerts/operations/refresh:${alertId}`;
      const [a, b] = await Promise.all(survivors.map(async (n) => (await fetch(n.url + path)).text()));
      expect(a).toBe(b);
      expect(JSON.parse(a)).toMatchObject({ status: 'succeeded', id: `refresh:${alertId}` });
    }

    // Exactly one terminal event per operation, from the history.
    const client = new pg.Client({ connectionString: database });
    await client.connect();
    try {
      const { rows } = await client.query<{ id: string; terminal: string; claims: string }>(
        `SELECT id, count(*) FILTER (WHERE to_status IN (2, 3, 5)) AS terminal, count(*) FILTER (WHERE kind = 'claimed') AS claims
         FROM operation_events GROUP BY id`,
      );
      expect(rows).toHaveLength(TOTAL);
      expect(rows.filter((r) => Number(r.terminal) !== 1)).toEqual([]);
      const reclaimed = rows.filter((r) => Number(r.claims) > 1).length;
      console.log(
        `multinode: ${TOTAL} operations on 3 nodes (one SIGKILLed) in ${((Date.now() - started) / 1000).toFixed(1)} s; ${reclaimed} claimed again after the kill`,
      );
    } finally {
      await client.end();
    }
  }, 180_000);
});
