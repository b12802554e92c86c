/**
 * Live updates across nodes (issue 8): two longrun nodes on one PostgreSQL database. A waiting read on
 * node A answers when the change is made through node B (or by either node's worker) and times out when
 * nothing changes; node A's event stream carries node B's changes and resumes with Last-Event-ID without
 * a gap; when the notification connection drops, waiters and streams catch up from the store; webhooks
 * are delivered with both nodes running deliverers, in order, each event once.
 */
import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { freshDatabase } from './support/pg.js';
import { startTestServer, type TestServer } from './support/server.js';
import { connectSse, type SseConnection, type SseEvent } from './support/sse.js';

const WEBHOOKS = {
  allowPrivateNetworks: true,
  allowHttp: true,
  pollIntervalMs: 20,
  retryBaseMs: 20,
  retryCapMs: 100,
};
let a: TestServer;
let b: TestServer;
let db: pg.Client;
let url: string;

beforeAll(async () => {
  url = await freshDatabase('live');
  const options = {
    webhooks: WEBHOOKS,
    worker: { pollIntervalMs: 50 },
    maxWaitSeconds: 10,
    scenarios: { default: { durationMs: 300 } },
  };
  [a, b] = await Promise.all([
    startTestServer({ ...options, store: new PostgresStore({ connectionString: url }) }),
    startTestServer({ ...options, store: new PostgresStore({ connectionString: url }) }),
  ]);
  db = new pg.Client({ connectionString: url });
  await db.connect();
});
afterAll(async () => {
  await db?.end();
  await a?.close();
  await b?.close();
});

/** Streams a test opened, closed after it even when it fails (an open stream would hold its node open). */
const streams: SseConnection[] = [];
afterEach(() => {
  for (const s of streams.splice(0)) s.close();
});

const json = async (res: Response) => (await res.json()) as Record<string, any>;

/** A GET with `Prefer: wait=N` on `node`, timed. */
async function waitingGet(node: TestServer, path: string, seconds: number) {
  const t = Date.now();
  const res = await node.request('GET', path, { headers: { prefer: `wait=${seconds}` } });
  const body = await json(res);
  return { res, body, ms: Date.now() - t, at: Date.now() };
}

/** History event seqs of a collection, straight from the database. */
async function eventSeqs(scope: string): Promise<number[]> {
  const { rows } = await db.query<{ event_seq: string }>(
    'SELECT event_seq FROM operation_events WHERE scope = $1 ORDER BY event_seq',
    [scope],
  );
  return rows.map((r) => Number(r.event_seq));
}

const ids = (events: SseEvent[]) => events.filter((e) => e.id !== undefined).map((e) => Number(e.id));

describe('Prefer: wait across two nodes', () => {
  it('answers a waiting read on one node when the status changes through the other', async () => {
    const op = await json(await a.request('POST', '/v1.0/operations', { body: {} }));
    const waiting = waitingGet(a, `/v1.0/operations/${op.id}`, 10);
    await sleep(200);
    const changedAt = Date.now();
    expect(
      (await b.request('PATCH', `/v1.0/operations/${op.id}`, { body: { status: 'running' } })).status,
    ).toBe(200);
    const { res, body, at } = await waiting;
    const latency = at - changedAt;
    expect(res.status).toBe(200);
    expect(res.headers.get('preference-applied')).toBe('wait=10');
    expect(body.status).toBe('running');
    expect(latency).toBeLessThan(8000); // answered by the change, not by the 10 s running out
    console.log(`wait across nodes: answered ${latency} ms after the PATCH on the other node`);
  });

  it('answers with the unchanged operation when nothing changes in time', async () => {
    const op = await json(await b.request('POST', '/v1.0/operations', { body: {} }));
    await a.request('PATCH', `/v1.0/operations/${op.id}`, { body: { status: 'running' } });
    const { res, body, ms } = await waitingGet(a, `/v1.0/operations/${op.id}`, 1);
    expect(res.status).toBe(200);
    expect(res.headers.get('preference-applied')).toBe('wait=1');
    expect(body.status).toBe('running');
    expect(ms).toBeGreaterThanOrEqual(900); // it did wait
    expect(ms).toBeLessThan(8000);
  });

  it('answers when a worker on either node ends the operation started through the other node', async () => {
    const started = await b.request('POST', '/v1.0/sites/live-wait/contentTypes/addCopyFromContentTypeHub', {
      body: { contentTypeId: '0x0101009189AB5D3D2647B580F011DA2F356FB2' },
    });
    expect(started.status).toBe(202);
    const path = new URL(started.headers.get('location')!).pathname;
    const seen: string[] = [];
    let last: Awaited<ReturnType<typeof waitingGet>> | undefined;
    for (let i = 0; i < 4 && last?.body.status !== 'succeeded'; i++) {
      last = await waitingGet(a, path, 10);
      expect(last.res.headers.get('preference-applied')).toBe('wait=10');
      expect(last.ms).toBeLessThan(8000); // every wait ends on a change
      seen.push(last.body.status);
    }
    expect(seen.at(-1)).toBe('succeeded');
    const latency = last!.at - Date.parse(last!.body.lastActionDateTime);
    console.log(
      `wait for a worker's outcome: statuses ${seen.join(' → ')}; answered ${latency} ms after it was written`,
    );
  });
});

describe('event streams across two nodes', () => {
  it("streams the other node's changes and resumes with Last-Event-ID without a gap", async () => {
    const path = '/v1.0/sites/live-pg/operations';
    const scope = 'sites/live-pg';
    const first = await connectSse(`${a.url}${path}/events`);
    streams.push(first);
    const one = await json(await b.request('POST', path, { body: {} }));
    const two = await json(await b.request('POST', path, { body: {} }));
    await b.request('PATCH', `${path}/${one.id}`, { body: { status: 'running', percentageComplete: 30 } });
    await first.until((e) => e.some((x) => JSON.parse(x.data).percentageComplete === 30), 10_000);
    // Everything so far came live, each once.
    expect(ids(first.events)).toEqual(await eventSeqs(scope));
    const last = first.events.at(-1)!.id!;
    first.close();

    // While the client is away, through node B:
    await b.request('PATCH', `${path}/${two.id}`, { body: { status: 'running', percentageComplete: 5 } });
    await b.request('PATCH', `${path}/${one.id}`, { body: { status: 'succeeded' } });
    const three = await json(await b.request('POST', path, { body: {} }));
    const all = await eventSeqs(scope);
    const missed = all.filter((seq) => seq > Number(last));
    expect(missed).toHaveLength(3);

    const resumed = await connectSse(`${a.url}${path}/events`, { 'last-event-id': last });
    streams.push(resumed);
    await resumed.until((e) => missed.every((seq) => ids(e).includes(seq)), 10_000);
    // A change after the resume arrives live on the same connection.
    await b.request('PATCH', `${path}/${three.id}`, { body: { status: 'failed' } });
    await resumed.until((e) => e.some((x) => JSON.parse(x.data).status === 'failed'), 10_000);
    await sleep(300); // duplicates, if any, would arrive now
    resumed.close();
    expect(ids(resumed.events)).toEqual((await eventSeqs(scope)).filter((seq) => seq > Number(last)));
    const final = new Map(resumed.events.map((e) => [JSON.parse(e.data).id, JSON.parse(e.data)]));
    expect(final.get(one.id)).toMatchObject({ status: 'succeeded' });
    expect(final.get(two.id)).toMatchObject({ status: 'running', percentageComplete: 5 });
    expect(final.get(three.id)).toMatchObject({ status: 'failed' });
  });

  it('catches up when the notification connection drops: waiters and streams miss nothing', async () => {
    const path = '/v1.0/sites/live-drop/operations';
    const op = await json(await b.request('POST', path, { body: {} }));
    const sse = await connectSse(`${a.url}${path}/events`);
    streams.push(sse);
    const waiting = waitingGet(a, `${path}/${op.id}`, 10);
    await sleep(200);
    // Drop both nodes' LISTEN connections and change the operation at once: the notification goes out
    // while the listeners are reconnecting, so nobody hears it.
    const { rows } = await db.query<{ n: string }>(
      `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'longrun-listen'`,
    );
    expect(Number(rows[0].n)).toBe(2);
    const changedAt = Date.now();
    expect((await b.request('PATCH', `${path}/${op.id}`, { body: { status: 'running' } })).status).toBe(200);
    const { body, at } = await waiting;
    expect(body.status).toBe('running');
    expect(at - changedAt).toBeLessThan(8000); // answered by the change, not by the 10 s running out
    await sse.until((e) => e.some((x) => JSON.parse(x.data).status === 'running'), 10_000);
    const streamedAt = Date.now();
    sse.close();
    console.log(
      `notification connection dropped: wait answered after ${at - changedAt} ms, stream after ${streamedAt - changedAt} ms`,
    );
    // The listeners are back: a later change arrives through the notification again.
    const again = waitingGet(a, `${path}/${op.id}`, 10);
    await sleep(200);
    await b.request('PATCH', `${path}/${op.id}`, { body: { status: 'succeeded' } });
    expect((await again).body.status).toBe('succeeded');
  });
});

describe('a node shutting down', () => {
  it('answers its waiting reads and ends its streams, and the client resumes on another node', async () => {
    const c = await startTestServer({
      worker: false,
      maxWaitSeconds: 60,
      store: new PostgresStore({ connectionString: url }),
    });
    const path = '/v1.0/sites/live-shutdown/operations';
    const op = await json(await c.request('POST', path, { body: {} }));
    const stream = await fetch(`${c.url}${path}/${op.id}/events`, {
      headers: { accept: 'text/event-stream' },
    });
    const streamed = stream.text(); // resolves when the server ends the stream
    const waiting = waitingGet(c, `${path}/${op.id}`, 60);
    await sleep(200);
    const t = Date.now();
    await c.close();
    const closeMs = Date.now() - t;
    expect(closeMs).toBeLessThan(8000); // not held open by the stream or the 60 s wait
    const { res, body } = await waiting;
    expect(res.status).toBe(200);
    expect(body.status).toBe('notStarted');
    const text = await streamed;
    const last = [...text.matchAll(/^id: (\d+)$/gm)].at(-1)![1];
    // Meanwhile, through node B; the client resumes on node A where it left off.
    await b.request('PATCH', `${path}/${op.id}`, { body: { status: 'running', percentageComplete: 40 } });
    const resumed = await connectSse(`${a.url}${path}/${op.id}/events`, { 'last-event-id': last });
    try {
      await resumed.until((e) => e.some((x) => JSON.parse(x.data).percentageComplete === 40), 10_000);
    } finally {
      resumed.close();
    }
    console.log(`shutdown with an open stream and a 60 s wait: closed in ${closeMs} ms`);
  });
});

describe('webhooks with two nodes delivering', () => {
  it('delivers every change, in order and once per event, also to a receiver that fails at first', async () => {
    const receivers: { server: Server; received: any[]; failFirst: number; failed: number }[] = [];
    for (const failFirst of [0, 3]) {
      const entry = { server: undefined as unknown as Server, received: [] as any[], failFirst, failed: 0 };
      entry.server = createServer((req, res) => {
        const token = new URL(req.url!, 'http://x').searchParams.get('validationToken');
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => {
          if (token !== null) return void res.writeHead(200, { 'content-type': 'text/plain' }).end(token);
          if (entry.failed < entry.failFirst) {
            entry.failed++;
            return void res.writeHead(503).end();
          }
          entry.received.push(...JSON.parse(body).value);
          res.writeHead(202).end();
        });
      });
      await new Promise<void>((r) => entry.server.listen(0, '127.0.0.1', r));
      receivers.push(entry);
    }
    try {
      for (const r of receivers) {
        const created = await a.request('POST', '/v1.0/subscriptions', {
          body: {
            changeType: 'created,updated',
            notificationUrl: `http://127.0.0.1:${(r.server.address() as { port: number }).port}/hook`,
            resource: '/security/attackSimulation/operations',
            expirationDateTime: new Date(Date.now() + 120_000).toISOString(),
            clientState: `state-${r.failFirst}`,
          },
        });
        expect(created.status).toBe(201);
      }
      const base = '/v1.0/security/attackSimulation/operations';
      const opIds: string[] = [];
      for (let i = 0; i < 5; i++) {
        const op = await json(await b.request('POST', base, { body: {} }));
        opIds.push(op.id);
        await b.request('PATCH', `${base}/${op.id}`, {
          body: { percentageCompleted: 50, status: 'running' },
        });
        await b.request('PATCH', `${base}/${op.id}`, { body: { status: 'succeeded' } });
      }
      const expected = opIds.length * 3;
      const deadline = Date.now() + 20_000;
      while (receivers.some((r) => r.received.length < expected) && Date.now() < deadline) await sleep(50);
      await sleep(500); // duplicates, if any, would arrive now
      for (const r of receivers) {
        expect(r.failed).toBe(r.failFirst);
        expect(r.received, `receiver failing ${r.failFirst} first`).toHaveLength(expected);
        for (const id of opIds) {
          expect(
            r.received.filter((n) => n.resourceData.id === id).map((n) => n.resourceData.status),
          ).toEqual(['notStarted', 'running', 'succeeded']);
        }
        expect(new Set(r.received.map((n) => n.clientState))).toEqual(new Set([`state-${r.failFirst}`]));
      }
    } finally {
      await Promise.all(receivers.map((r) => new Promise((done) => r.server.close(done))));
    }
  });
});
