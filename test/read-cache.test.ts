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

  it.each([-1, 1.5, Number.NaN, '10'])('readCacheEntries %s is refused, naming the option', (bad) => {
    expect(() => new SqliteStore({ file: ':memory:', readCacheEntries: bad as number })).toThrow(
      /'readCacheEntries' must be a whole number, 0 or more/,
    );
  });
});
