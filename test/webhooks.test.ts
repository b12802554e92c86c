import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startTestServer } from './support/server.js';
import { createLongrun } from '../src/longrun.js';

/** A real HTTP receiver: answers Graph's validation handshake and records notifications. */
interface Receiver {
  url: string;
  notifications: any[];
  /** Deliveries to refuse (500) before accepting. */
  failNext: number;
  echoToken: boolean;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const r: Receiver = { url: '', notifications: [], failNext: 0, echoToken: true, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const token = url.searchParams.get('validationToken');
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (token !== null) {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(r.echoToken ? token : 'nope');
        return;
      }
      if (r.failNext > 0) {
        r.failNext--;
        res.writeHead(500).end();
        return;
      }
      r.notifications.push(...JSON.parse(body).value);
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
  r.close = () => new Promise((resolve) => server.close(() => resolve()));
  return r;
}

const WEBHOOKS = {
  allowPrivateNetworks: true,
  allowHttp: true,
  pollIntervalMs: 20,
  retryBaseMs: 20,
  retryCapMs: 100,
};
const inAMinute = () => new Date(Date.now() + 60_000).toISOString();
const json = async (res: Response) => (await res.json()) as Record<string, any>;

async function waitFor<T>(check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(options = {}) {
  const server = await startTestServer({ webhooks: WEBHOOKS, worker: { pollIntervalMs: 20 }, ...options });
  const receiver = await startReceiver();
  cleanup.push(
    () => server.close(),
    () => receiver.close(),
  );
  return { server, receiver };
}

describe('webhook subscriptions', () => {
  it('validates the endpoint, then notifies every change in order, even when the first deliveries fail', async () => {
    const { server, receiver } = await setup();
    const created = await server.request('POST', '/v1.0/subscriptions', {
      body: {
        changeType: 'created,updated',
        notificationUrl: receiver.url,
        resource: '/operations',
        expirationDateTime: inAMinute(),
        clientState: 'secret',
      },
    });
    expect(created.status).toBe(201);
    const sub = await json(created);
    expect(sub).toMatchObject({
      resource: '/operations',
      changeType: 'created,updated',
      clientState: 'secret',
    });

    receiver.failNext = 3;
    const op = await json(await server.request('POST', '/v1.0/operations', { body: { id: 'hooked' } }));
    for (const status of ['running', 'succeeded']) {
      await server.request('PATCH', `/v1.0/operations/${op.id}`, { body: { status } });
    }
    const got = await waitFor(() => receiver.notifications.length >= 3 && receiver.notifications);
    expect(got.map((n) => [n.changeType, n.resourceData.status])).toEqual([
      ['created', 'notStarted'],
      ['updated', 'running'],
      ['updated', 'succeeded'],
    ]);
    expect(got[0]).toMatchObject({
      subscriptionId: sub.id,
      clientState: 'secret',
      resource: 'operations/hooked',
      resourceData: {
        '@odata.type': '#microsoft.graph.longRunningOperation',
        '@odata.id': 'operations/hooked',
        id: 'hooked',
      },
      tenantId: '',
    });
    expect(got[0].subscriptionExpirationDateTime).toMatch(/Z$/);

    expect((await server.request('GET', `/v1.0/subscriptions/${sub.id}`)).status).toBe(200);
    expect((await json(await server.request('GET', '/v1.0/subscriptions'))).value).toHaveLength(1);
    const renewed = await server.request('PATCH', `/v1.0/subscriptions/${sub.id}`, {
      body: { expirationDateTime: new Date(Date.now() + 120_000).toISOString() },
    });
    expect(renewed.status).toBe(200);
    expect(
      (await server.request('PATCH', `/v1.0/subscriptions/${sub.id}`, { body: { resource: '/x' } })).status,
    ).toBe(400);
    expect((await server.request('DELETE', `/v1.0/subscriptions/${sub.id}`)).status).toBe(204);
    expect((await server.request('GET', `/v1.0/subscriptions/${sub.id}`)).status).toBe(404);
  });

  it('rejects a receiver that does not echo the validation token', async () => {
    const { server, receiver } = await setup();
    receiver.echoToken = false;
    const res = await server.request('POST', '/v1.0/subscriptions', {
      body: {
        changeType: 'updated',
        notificationUrl: receiver.url,
        resource: '/operations',
        expirationDateTime: inAMinute(),
      },
    });
    expect(res.status).toBe(400);
    expect((await json(res)).error.message).toMatch(/validation/i);
    expect((await json(await server.request('GET', '/v1.0/subscriptions'))).value).toEqual([]);
  });

  it('refuses notification URLs on loopback, private ranges or plain http by default', async () => {
    const server = await startTestServer();
    cleanup.push(() => server.close());
    for (const notificationUrl of [
      'http://example.com/hook',
      'https://127.0.0.1/hook',
      'https://localhost/hook',
      'https://10.1.2.3/hook',
      'https://[::1]/hook',
      'https://169.254.169.254/latest/meta-data',
      'https://user:pw@example.com/hook',
      'not a url',
    ]) {
      const res = await server.request('POST', '/v1.0/subscriptions', {
        body: {
          changeType: 'updated',
          notificationUrl,
          resource: '/operations',
          expirationDateTime: inAMinute(),
        },
      });
      expect(res.status, notificationUrl).toBe(400);
      expect((await json(res)).error.target).toBe('notificationUrl');
    }
  });

  it('checks the body: change types, resource and expiration', async () => {
    const { server, receiver } = await setup();
    const base = {
      changeType: 'updated',
      notificationUrl: receiver.url,
      resource: '/operations',
      expirationDateTime: inAMinute(),
    };
    for (const [patch, target] of [
      [{ changeType: 'exploded' }, 'changeType'],
      [{ resource: '/users/x/messages' }, 'resource'],
      [{ expirationDateTime: '2001-01-01T00:00:00Z' }, 'expirationDateTime'],
      [{ expirationDateTime: new Date(Date.now() + 90 * 86_400_000).toISOString() }, 'expirationDateTime'],
      [{ colour: 'red' }, 'colour'],
    ] as const) {
      const res = await server.request('POST', '/v1.0/subscriptions', { body: { ...base, ...patch } });
      expect(res.status, JSON.stringify(patch)).toBe(400);
      expect((await json(res)).error.target).toBe(target);
    }
  });

  it('watches one operation and its deletion', async () => {
    const { server, receiver } = await setup();
    const op = await json(await server.request('POST', '/v1.0/sites/s1/operations', { body: {} }));
    const other = await json(await server.request('POST', '/v1.0/sites/s1/operations', { body: {} }));
    const res = await server.request('POST', '/v1.0/subscriptions', {
      body: {
        changeType: 'updated,deleted',
        notificationUrl: receiver.url,
        resource: `sites/s1/operations/${op.id}`,
        expirationDateTime: inAMinute(),
      },
    });
    expect(res.status).toBe(201);
    await server.request('PATCH', `/v1.0/sites/s1/operations/${other.id}`, { body: { status: 'failed' } });
    await server.request('PATCH', `/v1.0/sites/s1/operations/${op.id}`, { body: { status: 'failed' } });
    await server.request('DELETE', `/v1.0/sites/s1/operations/${op.id}`);
    const got = await waitFor(() => receiver.notifications.length >= 2 && receiver.notifications);
    expect(got.map((n) => [n.changeType, n.resourceData.id])).toEqual([
      ['updated', op.id],
      ['deleted', op.id],
    ]);
    expect(got[0].resourceData['@odata.type']).toBe('#microsoft.graph.richLongRunningOperation');
  });
});

describe('webhook delivery across a restart', () => {
  let receiver: Receiver;
  afterAll(() => receiver?.close());

  it('delivers what was pending when the server stopped, after it starts again', async () => {
    receiver = await startReceiver();
    const first = await startTestServer({ webhooks: WEBHOOKS, worker: { pollIntervalMs: 20 } });
    const res = await first.request('POST', '/v1.0/subscriptions', {
      body: {
        changeType: 'created,updated',
        notificationUrl: receiver.url,
        resource: '/operations',
        expirationDateTime: inAMinute(),
      },
    });
    expect(res.status).toBe(201);
    receiver.failNext = 1_000_000; // the receiver is down
    for (let i = 0; i < 5; i++) await first.request('POST', '/v1.0/operations', { body: { id: `r${i}` } });
    await first.node.close();

    receiver.failNext = 0; // back up
    const second = await createLongrun({
      dbFile: first.dbFile,
      webhooks: WEBHOOKS,
      worker: { pollIntervalMs: 20 },
    });
    try {
      const got = await waitFor(() => receiver.notifications.length >= 5 && receiver.notifications, 15_000);
      expect(got.map((n) => n.resourceData.id)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    } finally {
      await second.close();
      rmSync(first.dir, { recursive: true, force: true });
    }
  });
});
