/**
 * Operations whose id derives from their target (`refresh:{alertId}`, `contentTypeCopy,{contentTypeId}`),
 * over real HTTP (issue 16, items 4 and 5): concurrent starts of one target all answer 202 with the one
 * operation, on SQLite and on two server processes sharing one PostgreSQL; a start after the operation
 * ended runs it again under the same id, with its history kept.
 *
 * The two-node case runs the built CLI: `npm run build` first.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { freshDatabase } from './support/pg.js';
import { startServerProcess, waitForExit, type ServerProcess } from './support/process.js';
import { startTestServer } from './support/server.js';

// Server processes on a shared 2-core machine: starting them can take many seconds under load.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const STARTS = 200;
const COPY = '/v1.0/sites/s1/contentTypes/addCopyFromContentTypeHub';
const COPIES = '/v1.0/sites/s1/operations';
const REFRESH = '/beta/identityGovernance/roleManagementAlerts/alerts/alert-race/refresh';
const ALERT_OPS = '/beta/identityGovernance/roleManagementAlerts/operations';
const PREFER = { Prefer: 'include-unknown-enum-members' };

interface Answer {
  status: number;
  location: string | null;
  body: string;
}

/** `STARTS` identical POSTs at once, spread over `bases` (one server or several nodes). */
async function startAll(bases: string[], path: string, body?: unknown): Promise<Answer[]> {
  return Promise.all(
    Array.from({ length: STARTS }, async (_, i) => {
      const res = await fetch(bases[i % bases.length] + path, {
        method: 'POST',
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, location: res.headers.get('location'), body: await res.text() };
    }),
  );
}

async function count(base: string, collection: string): Promise<number> {
  const res = await fetch(`${base}${collection}/$count`);
  expect(res.status).toBe(200);
  return Number(await res.text());
}

/** Every answer is a 202 naming the same operation, in the first server's address form. */
function expectOneOperation(answers: Answer[], location: RegExp): void {
  const statuses = new Map<number, number>();
  for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
  expect(Object.fromEntries(statuses), answers.find((a) => a.status !== 202)?.body).toEqual({ 202: STARTS });
  expect(new Set(answers.map((a) => a.location)).size).toBe(1);
  expect(answers[0].location).toMatch(location);
}

describe('concurrent starts of one target', () => {
  it(`${STARTS} at once on SQLite all answer 202 with the one operation`, async () => {
    // The work outlasts the test: every start meets the same unfinished operation.
    const s = await startTestServer({ scenarios: { default: { durationMs: 600_000 } }, retention: false });
    try {
      expectOneOperation(
        await startAll([s.url], COPY, { contentTypeId: '0x0101AA' }),
        /\/v1\.0\/sites\/s1\/operations\/contentTypeCopy(,|%2C)0x0101AA$/,
      );
      expect(await count(s.url, COPIES)).toBe(1);
      expectOneOperation(await startAll([s.url], REFRESH), /\/operations\/refresh(:|%3A)alert-race$/);
      expect(await count(s.url, ALERT_OPS)).toBe(1);
      const history = await s.node.store.history({
        tenantId: '',
        scope: 'identityGovernance/roleManagementAlerts',
        id: 'refresh:alert-race',
      });
      expect(history.filter((e) => e.kind === 'created')).toHaveLength(1);
    } finally {
      await s.close();
    }
  });

  describe('two server processes on one PostgreSQL', () => {
    const nodes: ServerProcess[] = [];
    afterAll(async () => {
      for (const n of nodes)
        if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL');
      await Promise.all(nodes.map((n) => waitForExit(n.child)));
    });

    it(`${STARTS} at once across both nodes all answer 202 with the one operation`, async () => {
      const database = await freshDatabase('derived_ids');
      const args = [
        '--postgres',
        database,
        '--auth',
        'none',
        '--public-url',
        'https://lro.example.com',
        '--log-level',
        'error',
        '--scenarios',
        JSON.stringify({ default: { durationMs: 600_000 } }),
      ];
      nodes.push(...(await Promise.all([0, 1].map(() => startServerProcess(args, {}, 60_000)))));
      const bases = nodes.map((n) => n.url);

      expectOneOperation(
        await startAll(bases, COPY, { contentTypeId: '0x0101AA' }),
        /^https:\/\/lro\.example\.com\/v1\.0\/sites\/s1\/operations\/contentTypeCopy(,|%2C)0x0101AA$/,
      );
      expectOneOperation(await startAll(bases, REFRESH), /\/operations\/refresh(:|%3A)alert-race$/);
      for (const base of bases) {
        expect(await count(base, COPIES)).toBe(1);
        expect(await count(base, ALERT_OPS)).toBe(1);
      }
    });
  });
});

describe('a start after the operation ended', () => {
  it('runs it again under the documented id, with a new createdDateTime and the history kept', async () => {
    const s = await startTestServer({
      scenarios: { default: { durationMs: 40 } },
      worker: { pollIntervalMs: 20, retryBaseMs: 10, retryCapMs: 50, leaseMs: 5000, progressIntervalMs: 20 },
      retention: false,
    });
    try {
      const read = async (location: string) =>
        (await (await fetch(location, { headers: PREFER })).json()) as any;
      const untilEnded = async (location: string) => {
        for (;;) {
          const op = await read(location);
          if (['succeeded', 'failed', 'canceled'].includes(op.status)) return op;
          await sleep(20);
        }
      };
      const first = await s.request('POST', REFRESH);
      expect(first.status).toBe(202);
      const location = first.headers.get('location')!;
      expect(location).toMatch(/\/operations\/refresh(:|%3A)alert-race$/);
      const ended = await untilEnded(location);
      expect(ended.status).toBe('succeeded');

      const second = await s.request('POST', REFRESH);
      expect(second.status).toBe(202);
      expect(second.headers.get('location')).toBe(location);
      const rerun = await read(location);
      expect(rerun.id).toBe('refresh:alert-race');
      expect(['notStarted', 'running']).toContain(rerun.status);
      expect(Date.parse(rerun.createdDateTime)).toBeGreaterThan(Date.parse(ended.createdDateTime));
      expect((await untilEnded(location)).status).toBe('succeeded');
      expect(await count(s.url, ALERT_OPS)).toBe(1);

      const history = await s.node.store.history({
        tenantId: '',
        scope: 'identityGovernance/roleManagementAlerts',
        id: 'refresh:alert-race',
      });
      const created = history.filter((e) => e.kind === 'created');
      // The restart is recorded as a `created` from the ended state; the first run's events stay.
      expect(created.map((e) => e.fromStatus)).toEqual([null, 2]);
      expect(history.filter((e) => e.toStatus === 2)).toHaveLength(2);

      // The same rule for a content-type copy, after a cancel.
      const copy = await s.request('POST', COPY, { body: { contentTypeId: '0x0120' } });
      const copyLocation = copy.headers.get('location')!;
      const cancel = await fetch(`${copyLocation}/cancel`, { method: 'POST' });
      expect(cancel.status).toBeLessThan(300);
      expect((await untilEnded(copyLocation)).status).toBe('canceled');
      const again = await s.request('POST', COPY, { body: { contentTypeId: '0x0120' } });
      expect(again.status).toBe(202);
      expect(again.headers.get('location')).toBe(copyLocation);
      expect((await untilEnded(copyLocation)).status).toBe('succeeded');
    } finally {
      await s.close();
    }
  });
});
