import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSse } from './support/sse.js';
import { startTestServer, type TestServer } from './support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ maxWaitSeconds: 5 });
});
afterAll(() => server.close());

const json = async (res: Response) => (await res.json()) as Record<string, any>;
const create = async (path = '/v1.0/operations') => json(await server.request('POST', path, { body: {} }));
const patch = (id: string, body: unknown) => server.request('PATCH', `/v1.0/operations/${id}`, { body });
/** Polls until `check` holds (at most 3 s: well under the waits' 5 s, so a wait that runs out fails it). */
async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Prefer: wait', () => {
  it('answers as soon as anything a client reads changes (here the status detail)', async () => {
    const op = await create();
    const waiting = server.request('GET', `/v1.0/operations/${op.id}`, { headers: { prefer: 'wait=5' } });
    await new Promise((r) => setTimeout(r, 100));
    await patch(op.id, { statusDetail: 'still queued' });
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(res.headers.get('preference-applied')).toBe('wait=5');
    // The change it returned for, not the unchanged operation a timeout would give.
    expect(await json(res)).toMatchObject({ status: 'notStarted', statusDetail: 'still queued' });
  });

  it('lets go of a held read whose client goes away, and still wakes the next one', async () => {
    const op = await create();
    const feed = server.node.service.changes as unknown as { byOperation: Map<string, Set<unknown>> };
    const held = () => [...feed.byOperation.values()].reduce((n, set) => n + set.size, 0);
    const before = held();
    const client = new AbortController();
    const gone = fetch(`${server.url}/v1.0/operations/${op.id}`, {
      headers: { prefer: 'wait=5' },
      signal: client.signal,
    }).catch((e: Error) => e.name);
    await until(() => held() === before + 1);
    client.abort();
    expect(await gone).toBe('AbortError');
    // The wait ended when the connection closed, not when its 5 s were up.
    await until(() => held() === before);
    const waiting = server.request('GET', `/v1.0/operations/${op.id}`, { headers: { prefer: 'wait=5' } });
    await until(() => held() === before + 1);
    await patch(op.id, { statusDetail: 'after the other left' });
    expect(await json(await waiting)).toMatchObject({ statusDetail: 'after the other left' });
  });

  it('answers with the unchanged operation when the time is up', async () => {
    const op = await create();
    const res = await server.request('GET', `/v1.0/operations/${op.id}`, { headers: { prefer: 'wait=1' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('preference-applied')).toBe('wait=1');
    expect((await json(res)).status).toBe('notStarted');
  });

  it('answers at once for a terminal operation, and caps the wait', async () => {
    const op = await create();
    await patch(op.id, { status: 'succeeded' });
    const res = await server.request('GET', `/v1.0/operations/${op.id}`, { headers: { prefer: 'wait=600' } });
    expect(res.headers.get('preference-applied')).toBe('wait=5');
    expect((await json(res)).status).toBe('succeeded');
  });

  it('answers 404 for a missing operation', async () => {
    const res = await server.request('GET', `/v1.0/operations/missing`, { headers: { prefer: 'wait=2' } });
    expect(res.status).toBe(404);
  });
});

describe('event streams', () => {
  it('streams one operation: its current state, then every change', async () => {
    const op = await create();
    const sse = await connectSse(`${server.url}/v1.0/operations/${op.id}/events`);
    expect(sse.status).toBe(200);
    await sse.until((e) => e.length >= 1);
    await patch(op.id, { status: 'running' });
    await patch(op.id, { status: 'succeeded', resourceLocation: 'https://example.com/x' });
    const events = await sse.until((e) => e.some((x) => JSON.parse(x.data).status === 'succeeded'));
    sse.close();
    expect(events.map((e) => JSON.parse(e.data).status)).toEqual(['notStarted', 'running', 'succeeded']);
    const ids = events.map((e) => Number(e.id));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('streams a collection and resumes from Last-Event-ID without a gap', async () => {
    const path = '/v1.0/sites/sse-site/operations';
    const sse = await connectSse(`${server.url}${path}/events`);
    const a = await create(path);
    const b = await create(path);
    await sse.until((e) => e.length >= 2);
    const lastSeen = sse.events.at(-1)!.id!;
    sse.close();
    // While the client is away:
    await server.request('PATCH', `${path}/${a.id}`, { body: { status: 'running', percentageComplete: 10 } });
    await server.request('PATCH', `${path}/${b.id}`, { body: { status: 'failed' } });
    const resumed = await connectSse(`${server.url}${path}/events`, { 'last-event-id': lastSeen });
    const events = await resumed.until((e) => e.length >= 2);
    resumed.close();
    const byId = new Map(events.map((e) => [JSON.parse(e.data).id, JSON.parse(e.data)]));
    expect(byId.get(a.id)).toMatchObject({ status: 'running', percentageComplete: 10 });
    expect(byId.get(b.id)).toMatchObject({ status: 'failed' });
    expect(events.every((e) => Number(e.id) > Number(lastSeen))).toBe(true);
  });

  it('answers 404 for a stream of a missing operation and 400 for a bad Last-Event-ID', async () => {
    expect((await fetch(`${server.url}/v1.0/operations/missing/events`)).status).toBe(404);
    const res = await fetch(`${server.url}/v1.0/operations/events`, { headers: { 'last-event-id': 'abc' } });
    expect(res.status).toBe(400);
  });
});

describe('event stream resume across a restart', () => {
  it('replays from the history what changed while the server was down', async () => {
    const { createLongrun } = await import('../src/longrun.js');
    const first = await startTestServer();
    const path = '/v1.0/sites/restart/operations';
    const op = await json(await first.request('POST', path, { body: {} }));
    const sse = await connectSse(`${first.url}${path}/${op.id}/events`);
    await sse.until((e) => e.length >= 1);
    const last = sse.events.at(-1)!.id!;
    sse.close();
    await first.node.close();
    // Changes while the client is away and the server restarts (written by another node on the same file).
    const writer = await createLongrun({ dbFile: first.dbFile, worker: false });
    const ref = {
      tenantId: '',
      scope: 'sites/restart',
      family: (await import('../src/families/families.js')).family('sites'),
      types: ['richLongRunningOperation' as const],
    };
    await writer.service.update(
      ref,
      op.id,
      { status: 'running', percentageComplete: 60 },
      { actor: 'test', includeUnknownEnumMembers: false },
    );
    await writer.service.update(
      ref,
      op.id,
      { status: 'succeeded' },
      { actor: 'test', includeUnknownEnumMembers: false },
    );
    await writer.close();
    const second = await createLongrun({ dbFile: first.dbFile });
    const url = await second.listen(0, '127.0.0.1');
    try {
      const resumed = await connectSse(`${url}${path}/${op.id}/events`, { 'last-event-id': last });
      const events = await resumed.until((e) => e.length >= 2);
      resumed.close();
      expect(events.map((e) => Number(e.id))).toEqual(
        [...events.map((e) => Number(e.id))].sort((a, b) => a - b),
      );
      expect(events.every((e) => Number(e.id) > Number(last))).toBe(true);
      expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ status: 'succeeded', percentageComplete: 60 });
    } finally {
      await second.close();
      await first.close(); // removes the folder (the node itself is already closed)
    }
  });
});
