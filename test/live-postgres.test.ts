/**
 * Live updates across nodes (issue 8): two longrun nodes on one PostgreSQL. A waiting read on node A
 * answers when the change is made through node B; node A's event stream carries node B's changes; webhook
 * deliveries work with both nodes delivering, each event once.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { freshDatabase } from './support/pg.js';
import { startTestServer, type TestServer } from './support/server.js';
import { connectSse } from './support/sse.js';

const WEBHOOKS = {
  allowPrivateNetworks: true,
  allowHttp: true,
  pollIntervalMs: 20,
  retryBaseMs: 20,
  retryCapMs: 100,
};
let a: TestServer;
let b: TestServer;

beforeAll(async () => {
  const url = await freshDatabase('live');
  const options = { webhooks: WEBHOOKS, worker: { pollIntervalMs: 50 }, maxWaitSeconds: 10 };
  a = await startTestServer({ ...options, store: new PostgresStore({ connectionString: url }) });
  b = await startTestServer({ ...options, store: new PostgresStore({ connectionString: url }) });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
});

const json = async (res: Response) => (await res.json()) as Record<string, any>;

describe('two nodes on PostgreSQL', () => {
  it('answers a waiting read on one node when the status changes through the other', async () => {
    const op = await json(await a.request('POST', '/v1.0/operations', { body: {} }));
    const waiting = a.request('GET', `/v1.0/operations/${op.id}`, { headers: { prefer: 'wait=10' } });
    await new Promise((r) => setTimeout(r, 200));
    const changedAt = Date.now();
    expect(
      (await b.request('PATCH', `/v1.0/operations/${op.id}`, { body: { status: 'running' } })).status,
    ).toBe(200);
    const res = await waiting;
    const latency = Date.now() - changedAt;
    expect(res.headers.get('preference-applied')).toBe('wait=10');
    expect((await json(res)).status).toBe('running');
    expect(latency).toBeLessThan(5000); // far below the 10 s the wait would otherwise take
    console.log(`wait across nodes: answered ${latency} ms after the change on the other node`);

    const quiet = await a.request('GET', `/v1.0/operations/${op.id}`, { headers: { prefer: 'wait=1' } });
    expect((await json(quiet)).status).toBe('running');
  });

  it("streams the other node's changes and resumes with Last-Event-ID", async () => {
    const path = '/v1.0/sites/live-pg/operations';
    const sse = await connectSse(`${a.url}${path}/events`);
    const op = await json(await b.request('POST', path, { body: {} }));
    await b.request('PATCH', `${path}/${op.id}`, { body: { status: 'running', percentageComplete: 30 } });
    await sse.until((e) => e.some((x) => JSON.parse(x.data).percentageComplete === 30), 10_000);
    const last = sse.events.at(-1)!.id!;
    sse.close();
    await b.request('PATCH', `${path}/${op.id}`, { body: { status: 'succeeded' } });
    const resumed = await connectSse(`${a.url}${path}/events`, { 'last-event-id': last });
    const events = await resumed.until(
      (e) => e.some((x) => JSON.parse(x.data).status === 'succeeded'),
      10_000,
    );
    resumed.close();
    expect(events.every((e) => Number(e.id) > Number(last))).toBe(true);
  });

  it('delivers every change, in order and once, with both nodes running deliverers', async () => {
    const received: any[] = [];
    let failFirst = 2;
    const receiver: Server = createServer((req, res) => {
      const token = new URL(req.url!, 'http://x').searchParams.get('validationToken');
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        if (token !== null) return void res.writeHead(200, { 'content-type': 'text/plain' }).end(token);
        if (failFirst-- > 0) return void res.writeHead(503).end();
        received.push(...JSON.parse(body).value);
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const notificationUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
      const created = await a.request('POST', '/v1.0/subscriptions', {
        body: {
          changeType: 'created,updated',
          notificationUrl,
          resource: '/security/attackSimulation/operations',
          expirationDateTime: new Date(Date.now() + 60_000).toISOString(),
        },
      });
      expect(created.status).toBe(201);
      const base = '/v1.0/security/attackSimulation/operations';
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const op = await json(await b.request('POST', base, { body: {} }));
        ids.push(op.id);
        await b.request('PATCH', `${base}/${op.id}`, {
          body: { percentageCompleted: 50, status: 'running' },
        });
        await a.request('PATCH', `${base}/${op.id}`, { body: { status: 'succeeded' } });
      }
      const deadline = Date.now() + 20_000;
      while (received.length < 15 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 300)); // duplicates, if any, would arrive now
      expect(received).toHaveLength(15);
      for (const id of ids) {
        expect(received.filter((n) => n.resourceData.id === id).map((n) => n.resourceData.status)).toEqual([
          'notStarted',
          'running',
          'succeeded',
        ]);
      }
    } finally {
      await new Promise((r) => receiver.close(r));
    }
  });
});
