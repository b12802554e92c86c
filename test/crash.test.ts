/**
 * Issue 4's crash acceptance: a real `longrun serve` process running 500 operations with a slow handler
 * is killed with SIGKILL mid-work and restarted on the same SQLite file. Every operation ends terminal,
 * none is lost, and none reaches a terminal state twice (checked from the history table).
 *
 * Runs the built CLI: `npm run build` first.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { startServerProcess, waitForExit, type ServerProcess } from './support/process.js';

const TOTAL = 500;
const COLLECTION = '/beta/identityGovernance/roleManagementAlerts/operations';

const dir = mkdtempSync(join(tmpdir(), 'longrun-crash-'));
const started: ServerProcess[] = [];
afterAll(async () => {
  for (const p of started) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGKILL');
      await waitForExit(p.child);
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

async function start(db: string): Promise<ServerProcess> {
  const p = await startServerProcess([
    '--db',
    db,
    '--auth',
    'none',
    '--lease-ms',
    '1500',
    '--poll-ms',
    '50',
    '--concurrency',
    '32',
    '--log-level',
    'warn',
    '--scenarios',
    JSON.stringify({ default: { durationMs: 400 } }),
  ]);
  started.push(p);
  return p;
}

async function countWhere(url: string, status?: string): Promise<number> {
  const query = status ? `?$filter=${encodeURIComponent(`status eq '${status}'`)}` : '';
  const res = await fetch(`${url}${COLLECTION}/$count${query}`);
  if (res.status !== 200) throw new Error(`$count answered ${res.status}: ${await res.text()}`);
  return Number(await res.text());
}

async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('crash recovery', () => {
  it(
    'SIGKILL mid-work, restart on the same file: all 500 end succeeded, each with one terminal event',
    { timeout: 120_000 },
    async () => {
      const db = join(dir, 'crash.db');
      const first = await start(db);

      // 500 operations through the role-management alert refresh action, one per alert.
      const locations: string[] = [];
      for (let batch = 0; batch < TOTAL; batch += 50) {
        const responses = await Promise.all(
          Array.from({ length: 50 }, (_, k) =>
            fetch(
              `${first.url}/beta/identityGovernance/roleManagementAlerts/alerts/crash-alert-${batch + k}/refresh`,
              { method: 'POST' },
            ),
          ),
        );
        for (const r of responses) {
          expect(r.status).toBe(202);
          locations.push(r.headers.get('location')!);
        }
      }
      expect(new Set(locations).size).toBe(TOTAL);

      // Kill it while some are done and many are in the middle of their handler.
      const atKill = await until(
        'some succeeded and many running',
        async () => {
          const [succeeded, running] = await Promise.all([
            countWhere(first.url, 'succeeded'),
            countWhere(first.url, 'running'),
          ]);
          return succeeded >= 20 && running >= 16 ? { succeeded, running } : undefined;
        },
        30_000,
      );
      first.child.kill('SIGKILL');
      await waitForExit(first.child);
      expect(atKill.succeeded).toBeLessThan(TOTAL);

      const second = await start(db);
      // Nothing was lost: all 500 are there right after the restart.
      expect(await countWhere(second.url)).toBe(TOTAL);
      await until(
        'every operation to succeed',
        async () => (await countWhere(second.url, 'succeeded')) === TOTAL,
        60_000,
      );
      expect(await countWhere(second.url, 'failed')).toBe(0);
      // A sample read through the Location: the alert's URL is the resourceLocation.
      const sample: any = await (await fetch(locations[0].replace(first.url, second.url))).json();
      expect(sample.status).toBe('succeeded');
      expect(sample.resourceLocation).toBe(
        `${first.url}/beta/identityGovernance/roleManagementAlerts/alerts/crash-alert-0`,
      );

      second.child.kill('SIGTERM');
      expect(await waitForExit(second.child)).toBe(0);

      const sqlite = new Database(db, { readonly: true, fileMustExist: true });
      try {
        const ops = sqlite.prepare('SELECT status, count(*) AS n FROM operations GROUP BY status').all() as {
          status: number;
          n: number;
        }[];
        expect(ops).toEqual([{ status: 2, n: TOTAL }]);
        const terminal = sqlite
          .prepare(
            `SELECT o.id, (SELECT count(*) FROM operation_events e
                         WHERE e.tenant_id = o.tenant_id AND e.scope = o.scope AND e.id = o.id AND e.to_status IN (2, 3, 5)) AS n
           FROM operations o`,
          )
          .all() as { id: string; n: number }[];
        expect(terminal).toHaveLength(TOTAL);
        expect(terminal.filter((t) => t.n !== 1)).toEqual([]);
        expect(
          (
            sqlite
              .prepare('SELECT count(*) AS n FROM operation_events WHERE to_status IN (2, 3, 5)')
              .get() as { n: number }
          ).n,
        ).toBe(TOTAL);
        // The operations that were running at the kill were claimed again after their leases expired.
        const reclaimed = (
          sqlite
            .prepare(
              `SELECT count(*) AS n FROM (SELECT id FROM operation_events WHERE kind = 'claimed' GROUP BY tenant_id, scope, id HAVING count(*) > 1)`,
            )
            .get() as { n: number }
        ).n;
        expect(reclaimed).toBeGreaterThan(0);
      } finally {
        sqlite.close();
      }
    },
  );
});
