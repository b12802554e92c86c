/**
 * The SQLite read cache (src/store/sqlite/read-cache.ts) never serves a state older than a write that was
 * acknowledged before the read began: not after this process's own writes, and not after another
 * process's commit to the same file (the reason it checks PRAGMA data_version, not only its own writes).
 */
import { spawnSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { NewOperation } from '../src/store/store.js';
import { startTestServer, type TestServer } from './support/server.js';

/** Another process commits `statusDetail` on one operation of the file, then exits. */
function writeFromAnotherProcess(dbFile: string, id: string, statusDetail: string): void {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.pragma('busy_timeout = 5000');
    const r = db.prepare('UPDATE operations SET status_detail = ?, version = version + 1 WHERE id = ?')
      .run(process.argv[2], process.argv[3]);
    if (r.changes !== 1) process.exit(3);
    db.close();`;
  const result = spawnSync(process.execPath, ['-e', script, dbFile, statusDetail, id], {
    cwd: process.cwd(),
    encoding: 'utf8',
  });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
}

describe('over HTTP, with another process writing to the same file', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ worker: false, retention: false });
  });
  afterAll(() => server?.close());

  it('a GET after the other process committed shows its write, also when the operation was read before', async () => {
    const created = await server.request('POST', '/v1.0/operations', {
      body: { id: 'polled', status: 'running', statusDetail: 'before' },
    });
    expect(created.status).toBe(201);
    const read = async () => {
      const response = await server.request('GET', '/v1.0/operations/polled');
      expect(response.status).toBe(200);
      return { etag: response.headers.get('etag'), body: (await response.json()) as Record<string, unknown> };
    };
    // Read several times, so the operation and its rendered body are cached.
    const first = await read();
    expect((await read()).body).toEqual(first.body);
    expect(first.body.statusDetail).toBe('before');

    for (const detail of ['after one', 'after two']) {
      writeFromAnotherProcess(server.dbFile, 'polled', detail);
      const after = await read();
      expect(after.body.statusDetail).toBe(detail);
      expect(after.etag).not.toBe(first.etag);
    }
  });

  it("a GET after this node's own PATCH shows it", async () => {
    await server.request('POST', '/v1.0/operations', { body: { id: 'patched', status: 'running' } });
    for (const detail of ['one', 'two', 'three']) {
      await server.request('GET', '/v1.0/operations/patched');
      const patched = await server.request('PATCH', '/v1.0/operations/patched', {
        body: { statusDetail: detail },
      });
      expect(patched.status).toBe(200);
      const body = (await (await server.request('GET', '/v1.0/operations/patched')).json()) as {
        statusDetail: string;
      };
      expect(body.statusDetail).toBe(detail);
    }
  });

  it("a body rendered for one client's Host header is never served to another (the memo is per variant, and bounded)", async () => {
    await server.request('POST', '/v1.0/operations', { body: { id: 'hosts', status: 'running' } });
    /** A GET whose Host header the test chooses (fetch would not send another). */
    const getWithHost = (host: string) =>
      new Promise<{ context: string }>((resolve, reject) => {
        const url = new URL(`${server.url}/v1.0/operations/hosts`);
        const req = httpRequest(
          { host: url.hostname, port: url.port, path: url.pathname, headers: { Host: host } },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (text += chunk));
            res.on('end', () =>
              resolve({ context: (JSON.parse(text) as Record<string, string>)['@odata.context'] }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      });
    // More Host variants than the memo keeps for one record, each read twice.
    for (let i = 0; i < 6; i++) {
      for (let j = 0; j < 2; j++) {
        const { context } = await getWithHost(`evil${i}.example`);
        expect(context.startsWith(`http://evil${i}.example/v1.0/$metadata#`)).toBe(true);
      }
    }
    const mine = (await (await server.request('GET', '/v1.0/operations/hosts')).json()) as Record<
      string,
      string
    >;
    expect(mine['@odata.context'].startsWith(`${server.url}/v1.0/$metadata#`)).toBe(true);
  });

  it('a list page after a write (this node or another process) shows it, and pages never mix callers', async () => {
    for (let i = 0; i < 3; i++) {
      await server.request('POST', '/v1.0/operations', {
        body: { id: `listed-${i}`, status: 'running', statusDetail: `d${i}` },
      });
    }
    const page = "/v1.0/operations?$filter=startswith(id,'listed-')&$orderby=id&$top=2";
    const list = async (path = page) => {
      const response = await server.request('GET', path);
      expect(response.status).toBe(200);
      return (await response.json()) as {
        value: { id: string; statusDetail: string }[];
        '@odata.nextLink'?: string;
        '@odata.count'?: number;
      };
    };
    const first = await list();
    expect(await list()).toEqual(first);
    expect(first.value.map((o) => o.statusDetail)).toEqual(['d0', 'd1']);
    expect(first['@odata.nextLink']?.startsWith(`${server.url}/v1.0/operations?`)).toBe(true);

    // Another process commits to the file: the next page read shows it.
    writeFromAnotherProcess(server.dbFile, 'listed-1', 'from elsewhere');
    expect((await list()).value.map((o) => o.statusDetail)).toEqual(['d0', 'from elsewhere']);
    // This node's own PATCH, create and delete.
    await server.request('PATCH', '/v1.0/operations/listed-0', { body: { statusDetail: 'patched' } });
    expect((await list()).value[0].statusDetail).toBe('patched');
    await server.request('POST', '/v1.0/operations', { body: { id: 'listed-', status: 'succeeded' } });
    expect((await list()).value.map((o) => o.id)).toEqual(['listed-', 'listed-0']);
    expect((await server.request('DELETE', '/v1.0/operations/listed-')).status).toBe(204);
    expect((await list()).value.map((o) => o.id)).toEqual(['listed-0', 'listed-1']);
    // Another projection and $count of the same rows: each gets its own text.
    const selected = await list(`${page}&$select=id&$count=true`);
    expect(selected['@odata.count']).toBe(3);
    expect(selected.value).toEqual([
      expect.objectContaining({ id: 'listed-0' }),
      expect.objectContaining({ id: 'listed-1' }),
    ]);
    expect(selected.value[0]).not.toHaveProperty('statusDetail');
    expect((await list()).value[0].statusDetail).toBe('patched');
  });

  it('a deleted operation is gone for the next GET', async () => {
    await server.request('POST', '/v1.0/operations', { body: { id: 'doomed', status: 'succeeded' } });
    expect((await server.request('GET', '/v1.0/operations/doomed')).status).toBe(200);
    expect((await server.request('DELETE', '/v1.0/operations/doomed')).status).toBe(204);
    expect((await server.request('GET', '/v1.0/operations/doomed')).status).toBe(404);
  });
});

describe('the store option', () => {
  it('shares one frozen view between reads until something changes, and 0 turns that off', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'longrun-rc-'));
    for (const readCacheEntries of [undefined, 0]) {
      const store = new SqliteStore({ file: join(dir, `c${readCacheEntries ?? ''}.db`), readCacheEntries });
      await store.migrate();
      const key = { tenantId: 't', scope: 'operations', id: 'a' };
      const op: NewOperation = {
        ...key,
        type: 'longRunningOperation',
        status: 1,
        createdDateTime: '2026-01-01T00:00:00.0000000Z',
        lastActionDateTime: '2026-01-01T00:00:00.0000000Z',
        resourceLocation: null,
        statusDetail: null,
        props: { note: { nested: true } },
      };
      await store.insert(op, { actor: 'test', kind: 'created' });
      const [a, b] = [await store.read(key), await store.read(key)];
      expect(a).toEqual(b);
      if (readCacheEntries === 0) {
        expect(a).not.toBe(b);
        expect(Object.isFrozen(a)).toBe(false);
      } else {
        expect(a).toBe(b);
        expect(Object.isFrozen(a) && Object.isFrozen(a!.props)).toBe(true);
      }
      await store.update(key, { statusDetail: 'changed' }, {}, { actor: 'test', kind: 'updated' });
      expect((await store.read(key))?.statusDetail).toBe('changed');
      await store.close();
    }
  });

  it('shares a list page between reads of the same query and tenant, never across tenants, within the budget', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'longrun-rc-'));
    const store = new SqliteStore({ file: join(dir, 'pages.db'), readCacheEntries: 6 });
    await store.migrate();
    const add = (tenantId: string, id: string) =>
      store.insert(
        {
          tenantId,
          scope: 'operations',
          id,
          type: 'longRunningOperation',
          status: 1,
          createdDateTime: '2026-01-01T00:00:00.0000000Z',
          lastActionDateTime: '2026-01-01T00:00:00.0000000Z',
          resourceLocation: null,
          statusDetail: tenantId,
          props: {},
        },
        { actor: 'test', kind: 'created' },
      );
    for (const id of ['a', 'b', 'c']) await add('t1', id);
    for (const id of ['x', 'y']) await add('t2', id);
    const page = (tenantId: string, top: number) =>
      store.list(tenantId, 'operations', { orderBy: [{ field: 'id', dir: 'asc' }], top });

    const [one, again] = [await page('t1', 2), await page('t1', 2)];
    expect(one.map((o) => o.id)).toEqual(['a', 'b', 'c']); // top + 1: the store reads one more
    expect(again).toBe(one);
    expect(Object.isFrozen(one) && Object.isFrozen(one[0])).toBe(true);
    // The same statement for another tenant: its own rows.
    expect((await page('t2', 2)).map((o) => o.id)).toEqual(['x', 'y']);
    // A page heavier than the budget (6 = records + 1 per page) is read each time, not cached.
    for (const id of ['p', 'q', 'r', 's']) await add('t2', id);
    const big = await page('t2', 9);
    expect(big).toHaveLength(6);
    expect(await page('t2', 9)).not.toBe(big);
    expect(await page('t2', 9)).toEqual(big);
    expect(await page('t1', 2)).not.toBe(one); // emptied by the writes
    // Any write empties the pages.
    const before = await page('t1', 2);
    expect(await page('t1', 2)).toBe(before);
    await add('t1', 'd');
    expect(await page('t1', 3)).toHaveLength(4);
    expect(await page('t1', 2)).not.toBe(before);
    await store.close();
  });

  it("weighs a page's key as well, so long client filters can't hold memory past the budget", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'longrun-rc-'));
    const store = new SqliteStore({ file: join(dir, 'keys.db'), readCacheEntries: 6 });
    await store.migrate();
    const query = (prefix: string) => ({
      filter: { op: 'startswith' as const, field: 'id', value: prefix },
      orderBy: [{ field: 'id', dir: 'asc' as const }],
      top: 2,
    });
    // An empty page weighs 1 with a short key: kept.
    const short = await store.list('t', 'operations', query('x'));
    expect(await store.list('t', 'operations', query('x'))).toBe(short);
    // The same empty page behind a 4,000-character filter weighs more than the budget: read each time.
    const long = 'x'.repeat(4000);
    const first = await store.list('t', 'operations', query(long));
    expect(first).toEqual([]);
    expect(await store.list('t', 'operations', query(long))).not.toBe(first);
    await store.close();
  });

  it.each([-1, 1.5, Number.NaN, '10'])('readCacheEntries %s is refused, naming the option', (bad) => {
    expect(() => new SqliteStore({ file: ':memory:', readCacheEntries: bad as number })).toThrow(
      /'readCacheEntries' must be a whole number, 0 or more/,
    );
  });
});
