import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from './support/pg.js';
import { startPostgres, startServer, stopServer } from './support/postgres.js';
import type { TestPostgres } from './support/postgres.js';

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

describe('shared test PostgreSQL', () => {
  it('gives each caller its own working database', async () => {
    const url = await freshDatabase('harness');
    const other = await freshDatabase('harness');
    expect(other).not.toBe(url);

    await withClient(url, async (client) => {
      const version = await client.query<{ server_version: string }>('SHOW server_version');
      expect(version.rows[0].server_version).toMatch(/^\d+/);

      await client.query('CREATE TABLE greeting (id int PRIMARY KEY, text text NOT NULL)');
      await client.query('INSERT INTO greeting VALUES ($1, $2)', [1, 'hello']);
      const read = await client.query('SELECT id, text FROM greeting');
      expect(read.rows).toEqual([{ id: 1, text: 'hello' }]);
    });

    // Isolation: the table exists only in the database that created it.
    await withClient(other, async (client) => {
      const found = await client.query(`SELECT to_regclass('greeting') AS table`);
      expect(found.rows[0].table).toBeNull();
    });
  });
});

describe('outage simulation (own server, so the shared one stays up for other files)', () => {
  let server: TestPostgres;

  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('stopServer makes queries fail and startServer brings back the same data', async () => {
    await withClient(server.url, async (client) => {
      await client.query('CREATE TABLE survivor (id int)');
      await client.query('INSERT INTO survivor VALUES (42)');
    });

    const connected = new pg.Client({ connectionString: server.url });
    // The server dying under an open connection emits 'error' on the client; without a listener that
    // would crash the worker.
    connected.on('error', () => {});
    await connected.connect();

    await stopServer(server);
    await expect(connected.query('SELECT 1')).rejects.toThrow();
    await expect(withClient(server.url, (client) => client.query('SELECT 1'))).rejects.toThrow();
    await connected.end().catch(() => {});

    await startServer(server);
    const rows = await withClient(
      server.url,
      async (client) => (await client.query('SELECT id FROM survivor')).rows,
    );
    // The committed row survives an immediate (crash-like) stop even with fsync=off.
    expect(rows).toEqual([{ id: 42 }]);
  });
});
