/**
 * A server under test, in its own process: `longrun` (auth on, workers off) on SQLite or PostgreSQL,
 * seeded with N operations, or a bare `node:http` baseline answering fixed bytes from memory.
 * Prints one JSON line on stdout when ready: { port, token?, ids }.
 */
import { createServer } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveAuthConfig } from '../src/auth/config.js';
import { DEV_TOKEN_DEFAULTS, mintToken } from '../src/auth/tokens.js';
import { securityFor } from '../src/cli/auth-options.js';
import { createLongrun } from '../src/longrun.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { seed, TENANT } from './seed.js';

const [kind, arg1, arg2] = process.argv.slice(2);

if (kind === 'bare') {
  // arg1: JSON { status, headers, body } per method+path key ("GET /x") — served from memory.
  const responses = JSON.parse(arg1) as Record<
    string,
    { status: number; headers: Record<string, string>; body: string }
  >;
  const fallback = Object.values(responses)[0];
  const prepared = new Map(
    Object.entries(responses).map(([k, r]) => [k, { ...r, bytes: Buffer.from(r.body) }] as const),
  );
  const server = createServer((req, res) => {
    const r = prepared.get(`${req.method} ${req.url}`) ??
      prepared.get(`${req.method}`) ?? { ...fallback, bytes: Buffer.from(fallback.body) };
    req.resume();
    req.on('end', () => {
      res.writeHead(r.status, { ...r.headers, 'content-length': r.bytes.length });
      res.end(r.bytes);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ port: (server.address() as { port: number }).port }));
  });
} else {
  // kind: 'sqlite' | 'postgres'; arg1: how many operations to seed; arg2: PostgreSQL URL
  const count = Number(arg1);
  const dir = mkdtempSync(join(tmpdir(), 'longrun-bench-'));
  const config = await resolveAuthConfig(
    { authSecret: 'bench-secret-that-is-long-enough-for-hs256' },
    {},
    dir,
  );
  const store =
    kind === 'postgres'
      ? new PostgresStore({ connectionString: arg2, max: 10 })
      : new SqliteStore({ file: join(dir, 'bench.db') });
  await store.migrate();
  const ids = await seed(store, count);
  const node = await createLongrun({
    store,
    security: securityFor(config),
    worker: false,
    retention: false,
    webhooks: false,
  });
  const url = await node.listen(0, '127.0.0.1');
  const token = await mintToken(config, { ...DEV_TOKEN_DEFAULTS, tid: TENANT });
  console.log(JSON.stringify({ port: Number(new URL(url).port), token, ids }));
  process.on('SIGTERM', () => void node.close().then(() => process.exit(0)));
}
