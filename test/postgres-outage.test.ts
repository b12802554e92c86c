/**
 * Issue 5's acceptance: PostgreSQL restarts under a load of GETs, PATCHes and starts. While it is down the
 * nodes answer 503 serviceNotAvailable with Retry-After (never a 500, never a hang); they recover by
 * themselves; every write that got a 2xx is there afterwards.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startPostgres, startServer, stopServer, type TestPostgres } from './support/postgres.js';
import { startServerProcess, waitForExit, type ServerProcess } from './support/process.js';

let database: TestPostgres | undefined;
const nodes: ServerProcess[] = [];
afterAll(async () => {
  for (const n of nodes) n.child.kill('SIGTERM');
  await Promise.all(nodes.map((n) => waitForExit(n.child)));
  await database?.stop();
});

interface Tally {
  ok: number;
  unavailable: number;
  other: string[];
}

describe('PostgreSQL outage', () => {
  it('answers 503 while the database is down, recovers by itself, and loses no acknowledged write', async () => {
    database = await startPostgres({ durable: true });
    const args = [
      '--postgres',
      database.url,
      '--auth',
      'none',
      '--poll-ms',
      '50',
      '--scenarios',
      '{"default":{"durationMs":100}}',
    ];
    nodes.push(await startServerProcess(args), await startServerProcess(args));

    const acknowledged = new Map<string, string>(); // operation id → statusDetail the server acknowledged
    const started: string[] = []; // Locations of acknowledged starts
    const tally: Tally = { ok: 0, unavailable: 0, other: [] };
    let stop = false;
    let n = 0;

    /** The last operation each load worker created: only that worker patches it, so acknowledgements keep their order. */
    const lastCreated = new Map<number, string>();

    async function one(node: ServerProcess, worker: number): Promise<void> {
      const i = n++;
      const id = `op-${i % 50}`;
      const base = `${node.url}/v1.0`;
      /** Sends one request; returns its status and Location, the body read and checked here. */
      const request = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(base + path, {
          method,
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        if (res.status === 503) {
          tally.unavailable++;
          const err = JSON.parse(text) as { error: { code: string } };
          if (err.error.code !== 'serviceNotAvailable' || !res.headers.get('retry-after'))
            tally.other.push('bad 503');
        } else if (res.status >= 500) tally.other.push(`${method} ${path} → ${res.status} ${text}`);
        else tally.ok++;
        return { status: res.status, location: res.headers.get('location') };
      };
      const kind = i % 3;
      if (kind === 0) {
        const detail = `detail-${i}`;
        const res = await request('POST', '/operations', { id: `${id}-${i}`, statusDetail: detail });
        if (res.status === 201) {
          acknowledged.set(`${id}-${i}`, detail);
          lastCreated.set(worker, `${id}-${i}`);
        }
      } else if (kind === 1) {
        const target = lastCreated.get(worker);
        if (!target) return;
        const detail = `patched-${i}`;
        const res = await request('PATCH', `/operations/${target}`, { statusDetail: detail });
        if (res.status === 200) acknowledged.set(target, detail);
        await request('GET', `/operations/${target}`);
      } else {
        const res = await request('POST', `/sites/outage/contentTypes/addCopyFromContentTypeHub`, {
          contentTypeId: `0x${i.toString(16)}`,
        });
        if (res.status === 202) started.push(res.location!);
      }
    }

    const load = Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        while (!stop) {
          try {
            await one(nodes[w % 2], w);
          } catch (e) {
            tally.other.push(`request failed: ${(e as Error).message}`);
          }
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 1500));
    const okBefore = tally.ok;
    await stopServer(database);
    await new Promise((r) => setTimeout(r, 3000));
    const readyWhileDown = await fetch(`${nodes[0].url}/readyz`);
    expect(readyWhileDown.status).toBe(503);
    await startServer(database);
    // Recovered by themselves: 2xx answers again on both nodes.
    const deadline = Date.now() + 30_000;
    for (const node of nodes) {
      while ((await fetch(`${node.url}/readyz`)).status !== 200) {
        expect(Date.now()).toBeLessThan(deadline);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const okAfterRestart = tally.ok;
    await new Promise((r) => setTimeout(r, 1500));
    stop = true;
    await load;

    expect(tally.other).toEqual([]);
    expect(tally.unavailable).toBeGreaterThan(0);
    expect(okBefore).toBeGreaterThan(0);
    expect(tally.ok).toBeGreaterThan(okAfterRestart); // traffic succeeded after the restart

    for (const [id, detail] of acknowledged) {
      const res = await fetch(`${nodes[1].url}/v1.0/operations/${id}`);
      expect(res.status, id).toBe(200);
      expect(((await res.json()) as { statusDetail: string }).statusDetail, id).toBe(detail);
    }
    for (const location of started) expect((await fetch(location)).status, location).toBe(200);
    console.log(
      `outage: ${tally.ok} answered, ${tally.unavailable} × 503 while down; ${acknowledged.size} acknowledged writes and ${started.length} starts all present`,
    );
  }, 120_000);
});
