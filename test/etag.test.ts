/**
 * ETags and conditional requests over real HTTP, on SQLite and on PostgreSQL: every operation response
 * carries a strong ETag (and `@odata.etag` in the JSON), `If-None-Match` answers 304 when nothing changed,
 * a stale `If-Match` on PATCH, cancel and DELETE answers 412 in Graph's envelope, and 50 concurrent
 * writers using If-Match never lose an update. `$batch` steps carry their own conditions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationRecord } from '../src/model/operation.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { freshDatabase } from './support/pg.js';
import { startTestServer, type TestServer } from './support/server.js';

const json = async (res: Response) => (await res.json()) as Record<string, any>;
const SITES = '/v1.0/sites/contoso.sharepoint.com,1,2/operations';

const BACKENDS = [
  { name: 'sqlite', start: () => startTestServer({ worker: false, retention: false }) },
  {
    name: 'postgres',
    start: async () =>
      startTestServer({
        worker: false,
        retention: false,
        store: new PostgresStore({ connectionString: await freshDatabase('etag') }),
      }),
  },
];

describe.each(BACKENDS)('ETags on $name', ({ start }) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start();
  });
  afterAll(() => server?.close());

  async function create(body: Record<string, unknown> = {}) {
    const res = await server.request('POST', SITES, { body });
    expect(res.status).toBe(201);
    const op = await json(res);
    return { op, etag: res.headers.get('etag')!, url: `${SITES}/${encodeURIComponent(op.id)}` };
  }

  it('puts a strong ETag on every operation response, the same tag as @odata.etag', async () => {
    const { op, etag, url } = await create();
    expect(etag).toMatch(/^"[^"]+"$/); // strong: no W/
    expect(op['@odata.etag']).toBe(etag);
    expect(Object.keys(op).slice(0, 4)).toEqual(['@odata.context', '@odata.type', '@odata.etag', 'id']);

    const read = await server.request('GET', url);
    expect(read.headers.get('etag')).toBe(etag);
    expect((await json(read))['@odata.etag']).toBe(etag);

    const patched = await server.request('PATCH', url, { body: { percentageComplete: 10 } });
    expect(patched.status).toBe(200);
    const newTag = patched.headers.get('etag')!;
    expect(newTag).not.toBe(etag);
    expect((await json(patched))['@odata.etag']).toBe(newTag);

    const list = await json(await server.request('GET', SITES));
    const item = list.value.find((o: any) => o.id === op.id);
    expect(item['@odata.etag']).toBe(newTag);
    // $select keeps the control information.
    const selected = await json(await server.request('GET', `${url}?$select=status`));
    expect(selected['@odata.etag']).toBe(newTag);
  });

  it('answers 304 to If-None-Match while unchanged, 200 once it changed', async () => {
    const { etag, url } = await create();
    const same = await server.request('GET', url, { headers: { 'if-none-match': etag } });
    expect(same.status).toBe(304);
    expect(same.headers.get('etag')).toBe(etag);
    expect(await same.text()).toBe('');
    const star = await server.request('GET', url, { headers: { 'if-none-match': '*' } });
    expect(star.status).toBe(304);
    const weak = await server.request('GET', url, { headers: { 'if-none-match': `"other", W/${etag}` } });
    expect(weak.status).toBe(304); // If-None-Match compares weakly (RFC 9110 §13.1.2)

    await server.request('PATCH', url, { body: { statusDetail: 'moved on' } });
    const changed = await server.request('GET', url, { headers: { 'if-none-match': etag } });
    expect(changed.status).toBe(200);
    expect((await json(changed)).statusDetail).toBe('moved on');
  });

  it('refuses a stale If-Match with 412 preconditionFailed on PATCH, cancel and DELETE', async () => {
    const { etag: stale, url } = await create();
    const moved = await server.request('PATCH', url, { body: { status: 'running' } });
    const current = moved.headers.get('etag')!;

    const patch = await server.request('PATCH', url, {
      body: { statusDetail: 'lost?' },
      headers: { 'if-match': stale },
    });
    expect(patch.status).toBe(412);
    const error = (await json(patch)).error;
    expect(error.code).toBe('preconditionFailed');
    expect(error.message).toContain('If-Match');
    expect(error.innerError['request-id']).toBeTruthy();

    const cancel = await server.request('POST', `${url}/cancel`, { headers: { 'if-match': stale } });
    expect(cancel.status).toBe(412);
    expect((await json(await server.request('GET', url))).status).toBe('running');

    const ok = await server.request('POST', `${url}/cancel`, { headers: { 'if-match': current } });
    expect(ok.status).toBe(202);
    const canceledTag = ok.headers.get('etag')!;
    expect(canceledTag).not.toBe(current);

    const del = await server.request('DELETE', url, { headers: { 'if-match': current } });
    expect(del.status).toBe(412);
    expect((await server.request('GET', url)).status).toBe(200);
    const gone = await server.request('DELETE', url, { headers: { 'if-match': canceledTag } });
    expect(gone.status).toBe(204);
  });

  it('treats If-Match: * as "any existing version" and a malformed condition as a 400', async () => {
    const { url } = await create();
    const star = await server.request('PATCH', url, {
      body: { percentageComplete: 5 },
      headers: { 'if-match': '*' },
    });
    expect(star.status).toBe(200);
    const missing = await server.request('PATCH', `${SITES}/no-such-op`, {
      body: { percentageComplete: 5 },
      headers: { 'if-match': '*' },
    });
    expect(missing.status).toBe(404);
    const bad = await server.request('PATCH', url, {
      body: { percentageComplete: 6 },
      headers: { 'if-match': 'not-quoted' },
    });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.message).toContain('If-Match');
  });

  // About 1,300 conditional writes in all (each writer retries after a 412): give a loaded machine time.
  it('50 concurrent writers with If-Match never lose an update', { timeout: 180_000 }, async () => {
    const { url } = await create({ statusDetail: '' });
    const outcomes: number[] = [];
    const winners: string[] = [];
    // Each writer appends its name to statusDetail with read + conditional write, again after a 412.
    const writer = async (name: string) => {
      for (let attempt = 0; attempt < 200; attempt++) {
        const read = await server.request('GET', url);
        const op = await json(read);
        const res = await server.request('PATCH', url, {
          body: { statusDetail: op.statusDetail ? `${op.statusDetail},${name}` : name },
          headers: { 'if-match': read.headers.get('etag')! },
        });
        outcomes.push(res.status);
        await res.arrayBuffer();
        if (res.status === 200) {
          winners.push(name);
          return;
        }
      }
    };
    const names = Array.from({ length: 50 }, (_, i) => `w${i}`);
    await Promise.all(names.map(writer));
    expect(new Set(outcomes)).toEqual(new Set(outcomes.length > 50 ? [200, 412] : [200]));
    expect(outcomes.filter((s) => s === 200)).toHaveLength(50);
    const final = await json(await server.request('GET', url));
    // Exactly the successful writes, each once, in the order they committed.
    expect(final.statusDetail.split(',')).toEqual(winners);
    expect([...winners].sort()).toEqual([...names].sort());
  });

  it('Prefer: wait with If-None-Match answers at once when the tag is stale, else on the next change', async () => {
    const { etag: first, url } = await create();
    const second = (await server.request('PATCH', url, { body: { percentageComplete: 1 } })).headers.get(
      'etag',
    )!;
    // The client's tag is stale: the change it has not seen is answered without waiting.
    const stale = await server.request('GET', url, {
      headers: { prefer: 'wait=20', 'if-none-match': first },
    });
    expect(stale.status).toBe(200);
    expect(stale.headers.get('etag')).toBe(second);

    // Current tag: held until a progress change (not a status change) ends it.
    const waiting = server.request('GET', url, { headers: { prefer: 'wait=20', 'if-none-match': second } });
    await new Promise((r) => setTimeout(r, 150));
    await server.request('PATCH', url, { body: { percentageComplete: 2 } });
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(res.headers.get('preference-applied')).toBe('wait=20');
    expect((await json(res)).percentageComplete).toBe(2);
  });

  it('Prefer: wait with a current If-None-Match is not ended by a bookkeeping write (lease renewal)', async () => {
    // The created record (its tenant and scope), as the service announces it.
    let created: OperationRecord | undefined;
    const off = server.node.service.changes.subscribe((c) => {
      if (c.kind === 'created') created ??= c.record;
    });
    const { etag, url } = await create();
    off();
    const waiting = server.request('GET', url, { headers: { prefer: 'wait=20', 'if-none-match': etag } });
    await new Promise((r) => setTimeout(r, 150));
    // What a heartbeat writes: the version moves, nothing a client reads does.
    const renewed = await server.node.service.store.update(
      created!,
      { runAt: Date.now() + 60_000 },
      {},
      { actor: 'worker:w', kind: 'heartbeat', history: false },
    );
    expect(renewed.ok).toBe(true);
    server.node.service.changes.publish({
      ...created!,
      record: (renewed as { record: OperationRecord }).record,
      kind: 'heartbeat',
    });
    await new Promise((r) => setTimeout(r, 150));
    await server.request('PATCH', url, { body: { percentageComplete: 7 } });
    const res = await waiting;
    expect(res.status).toBe(200);
    // The visible change ended it, not the renewal before it.
    expect((await json(res)).percentageComplete).toBe(7);
  });

  it('Prefer: wait with a current If-None-Match answers 304 when the time runs out', async () => {
    const { etag, url } = await create();
    const res = await server.request('GET', url, { headers: { prefer: 'wait=1', 'if-none-match': etag } });
    expect(res.status).toBe(304);
    expect(res.headers.get('preference-applied')).toBe('wait=1');
    expect(res.headers.get('etag')).toBe(etag);
  });

  it('passes a $batch step its own If-None-Match and If-Match', async () => {
    const { etag, op } = await create();
    const path = `/sites/contoso.sharepoint.com,1,2/operations/${op.id}`;
    const res = await server.request('POST', '/v1.0/$batch', {
      body: {
        requests: [
          { id: '1', method: 'GET', url: path, headers: { 'if-none-match': etag } },
          {
            id: '2',
            method: 'PATCH',
            url: path,
            headers: { 'if-match': '"0-00000000"', 'content-type': 'application/json' },
            body: { percentageComplete: 50 },
          },
        ],
      },
    });
    expect(res.status).toBe(200);
    const { responses } = await json(res);
    const byId = Object.fromEntries(responses.map((r: any) => [r.id, r]));
    expect(byId['1'].status).toBe(304);
    expect(byId['2'].status).toBe(412);
    expect(byId['2'].body.error.code).toBe('preconditionFailed');
  });
});

describe('a canceled operation, to a client without include-unknown-enum-members', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ worker: false, retention: false });
  });
  afterAll(() => server?.close());

  it('is unknownFutureValue, with no Retry-After, a statusDetail that says so, and a wait that ends at once', async () => {
    const created = await server.request('POST', SITES, { body: {} });
    const op = await json(created);
    const url = `${SITES}/${op.id}`;
    const cancel = await server.request('POST', `${url}/cancel`);
    expect(cancel.status).toBe(202);
    const body = await json(cancel);
    expect(body.status).toBe('unknownFutureValue');
    expect(cancel.headers.get('retry-after')).toBeNull();

    const read = await server.request('GET', url, { headers: { prefer: 'wait=20' } });
    expect(read.status).toBe(200);
    expect(read.headers.get('retry-after')).toBeNull();
    const seen = await json(read);
    expect(seen.status).toBe('unknownFutureValue');
    expect(seen.statusDetail).toMatch(/^Canceled/);
    // Asked again with the opt-in, the member itself.
    const optIn = await server.request('GET', url, { headers: { prefer: 'include-unknown-enum-members' } });
    expect((await json(optIn)).status).toBe('canceled');
  });
});
