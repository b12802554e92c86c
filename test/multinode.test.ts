/**
 * Issue 5's acceptance: three server processes on one PostgreSQL, 2,000 operations started through all
 * three, one node killed with SIGKILL midway (while some operations have succeeded and it is running
 * others). Every operation ends terminal, reads byte for byte the same from both surviving nodes, none is
 * lost, none reaches a terminal state twice, and the ones the killed node was running are claimed again.
 *
 * Runs the built CLI: `npm run build` first.
 */
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabase } from './support/pg.js';
import { startServerProcess, waitForExit, type ServerProcess } from './support/process.js';

const TOTAL = 2000;
const IN_FLIGHT = 32;
const COLLECTION = '/beta/identityGovernance/roleManagementAlerts/operations';
/** All nodes behind one address, as behind a load balancer: Location and @odata.context name it. */
const PUBLIC_URL = 'https://lro.example.com';

const nodes: ServerProcess[] = [];
afterAll(async () => {
  for (const n of nodes)
    if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL');
  await Promise.all(nodes.map((n) => waitForExit(n.child)));
});

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const index = next++;
        await fn(items[index], index);
      }
    }),
  );
}

async function count(url: string, filter?: string): Promise<number> {
  const query = filter ? `?$filter=${encodeURIComponent(filter)}` : '';
  const res = await fetch(`${url}${COLLECTION}/$count${query}`);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`$count answered ${res.status}: ${text}`);
  return Number(text);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

describe('three nodes on one PostgreSQL', () => {
  it('runs 2,000 operations to exactly one terminal state each, through a SIGKILL', async () => {
    const database = await freshDatabase('multinode');
    const db = new pg.Client({ connectionString: database });
    await db.connect();
    try {
      const args = [
        '--postgres',
        database,
        '--auth',
        'none',
        '--public-url',
        PUBLIC_URL,
        '--lease-ms',
        '1500',
        '--poll-ms',
        '50',
        '--concurrency',
        '16',
        '--log-level',
        'error',
        '--scenarios',
        JSON.stringify({ default: { durationMs: 150 } }),
      ];
      // All three at once: their migrations race, which the advisory lock must make safe.
      nodes.push(...(await Promise.all([0, 1, 2].map(() => startServerProcess(args)))));
      const [victim, ...survivors] = nodes;
      const t0 = Date.now();

      // Kill the victim once half the starts are out, some operations have succeeded and the victim is in
      // the middle of running some of them (its worker ids start with its pid). It is frozen (SIGSTOP)
      // while we look, so what it holds can't change between the look and the kill.
      let sent = 0;
      let startsDone = false;
      let killed = false;
      let orphans: string[] = [];
      let atKill = { succeeded: 0, running: 0, sent: 0, ms: 0 };
      const owner = `${victim.child.pid}-%`;
      const killer = (async () => {
        while (sent < TOTAL / 2) await sleep(10);
        const giveUp = () => startsDone && Date.now() - t0 > 60_000;
        while (!giveUp()) {
          victim.child.kill('SIGSTOP');
          await sleep(50); // a write it sent just before is committed by now
          const { rows } = await db.query<{ id: string; status: number; mine: boolean }>(
            'SELECT id, status, lease_owner LIKE $1 AS mine FROM operations WHERE status IN (1, 2)',
            [owner],
          );
          const held = rows.filter((r) => r.status === 1 && r.mine).map((r) => r.id);
          const succeeded = rows.filter((r) => r.status === 2).length;
          if (succeeded > 0 && held.length > 0) {
            victim.child.kill('SIGKILL');
            killed = true;
            orphans = held;
            atKill = { succeeded, running: rows.length - succeeded, sent, ms: Date.now() - t0 };
            break;
          }
          victim.child.kill('SIGCONT');
          await sleep(20);
        }
        if (!killed) throw new Error('the victim never held running operations to kill it with');
        await waitForExit(victim.child);
      })();

      // Round-robin over the nodes still alive, 32 starts in flight. A start in flight to the killed node
      // may or may not have been accepted: the client repeats it on another node with the same
      // Idempotency-Key, as a client of a real deployment would.
      const alertIds = Array.from({ length: TOTAL }, (_, i) => `alert${i}`);
      let repeated = 0;
      await pool(alertIds, IN_FLIGHT, async (alertId, i) => {
        sent = Math.max(sent, i + 1);
        for (let attempt = 0; ; attempt++) {
          const alive = killed ? survivors : nodes;
          const node = alive[(i + attempt) % alive.length];
          let res: Response;
          try {
            res = await fetch(
              `${node.url}/beta/identityGovernance/roleManagementAlerts/alerts/${alertId}/refresh`,
              {
                method: 'POST',
                headers: { 'idempotency-key': alertId },
              },
            );
          } catch (error) {
            // Only a request to the node that was killed may fail.
            if (node !== victim || attempt >= 3) throw error;
            repeated++;
            continue;
          }
          expect(res.status, await res.text()).toBe(202);
          expect(res.headers.get('location')).toBe(`${PUBLIC_URL}${COLLECTION}/refresh:${alertId}`);
          return;
        }
      });
      startsDone = true;
      const startsMs = Date.now() - t0;
      await killer;
      expect(killed).toBe(true);

      // Wait for all of them to end, asking a surviving node.
      const deadline = Date.now() + 60_000;
      let terminal = 0;
      while (
        (terminal = await count(survivors[0].url, "status eq 'succeeded' or status eq 'failed'")) < TOTAL
      ) {
        if (Date.now() > deadline) break;
        await sleep(100);
      }
      expect(terminal).toBe(TOTAL);
      const allTerminal = Date.now() - t0;

      // None lost, and each node sees all of them succeeded.
      for (const node of survivors) {
        expect(await count(node.url)).toBe(TOTAL);
        expect(await count(node.url, "status eq 'succeeded'")).toBe(TOTAL);
      }

      // Every one reads byte for byte the same from both surviving nodes.
      const mismatched: string[] = [];
      await pool(alertIds, IN_FLIGHT, async (alertId) => {
        const path = `${COLLECTION}/refresh:${alertId}`;
        const [a, b] = await Promise.all(
          survivors.map(async (n) => {
            const res = await fetch(n.url + path);
            expect(res.status, path).toBe(200);
            return res.text();
          }),
        );
        if (a !== b) mismatched.push(`${path}\n  ${a}\n  ${b}`);
        const body = JSON.parse(a) as { id: string; status: string; resourceLocation: string };
        expect(body).toMatchObject({ id: `refresh:${alertId}`, status: 'succeeded' });
        expect(body.resourceLocation).toBe(
          `${PUBLIC_URL}/beta/identityGovernance/roleManagementAlerts/alerts/${alertId}`,
        );
      });
      expect(mismatched).toEqual([]);

      // From the database itself: exactly the 2,000, each with exactly one terminal event in its history,
      // no lease left behind, and what the dead node held claimed again.
      const ops = await db.query<{ id: string; status: number; lease_owner: string | null }>(
        'SELECT id, status, lease_owner FROM operations',
      );
      expect(ops.rows.map((r) => r.id).sort()).toEqual(alertIds.map((a) => `refresh:${a}`).sort());
      expect(ops.rows.filter((r) => r.status !== 2 || r.lease_owner !== null)).toEqual([]);
      const { rows } = await db.query<{ id: string; terminal: string; claims: string }>(
        `SELECT id, count(*) FILTER (WHERE to_status IN (2, 3, 5)) AS terminal,
                count(*) FILTER (WHERE kind = 'claimed') AS claims
         FROM operation_events GROUP BY tenant_id, scope, id`,
      );
      expect(rows).toHaveLength(TOTAL);
      expect(rows.filter((r) => Number(r.terminal) !== 1)).toEqual([]);
      const claims = new Map(rows.map((r) => [r.id, Number(r.claims)]));
      expect(orphans.length).toBeGreaterThan(0);
      expect(orphans.filter((id) => (claims.get(id) ?? 0) < 2)).toEqual([]);
      const reclaimed = rows.filter((r) => Number(r.claims) > 1).length;

      const { rows: perNode } = await db.query<{ node: string; n: string }>(
        `SELECT split_part(substr(actor, 8), '-', 1) AS node, count(*) AS n FROM operation_events
         WHERE to_status = 2 GROUP BY 1 ORDER BY 1`,
      );
      console.log(
        [
          `multinode: ${TOTAL} operations through 3 nodes (${IN_FLIGHT} starts in flight, 150 ms handler, lease 1.5 s)`,
          `  starts accepted in ${seconds(startsMs)} (${repeated} repeated on another node after the kill)`,
          `  SIGKILL at ${seconds(atKill.ms)}: ${atKill.sent} starts sent, ${atKill.succeeded} succeeded, ${atKill.running} running (${orphans.length} of them on the killed node)`,
          `  the ${orphans.length} orphaned by the kill were all claimed again after their lease; ${reclaimed} claimed more than once in all`,
          `  all terminal at ${seconds(allTerminal)}; ${TOTAL} × 2 reads identical; checks done at ${seconds(Date.now() - t0)}`,
          `  succeeded per worker pid: ${perNode.map((r) => `${r.node}=${r.n}`).join(' ')}`,
        ].join('\n'),
      );

      // The survivors shut down cleanly.
      for (const node of survivors) node.child.kill('SIGTERM');
      expect(await Promise.all(survivors.map((n) => waitForExit(n.child)))).toEqual([0, 0]);
    } finally {
      await db.end();
    }
  }, 150_000);
});
