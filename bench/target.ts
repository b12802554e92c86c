/**
 * A server under test, in a process of its own so that it never shares an event loop with autocannon:
 *
 * - `target.ts longrun <sqlite|postgres> <count> [postgres-url]`: longrun with auth on (HS256 tokens),
 *   workers off, its store seeded with `count` operations straight through SQL. Prints one JSON line when
 *   ready: { port, token, ids, seedMs }.
 * - `target.ts fastify`: the same from a Fastify app with no hooks or application code (the framework's
 *   floor, for reference).
 * - `target.ts bare`: a bare `node:http` server answering every request with one response held in memory.
 *   It reads that response from stdin, one JSON line per change ({ status, headers, body }), and answers
 *   each line with "ok" on stdout. Prints { port } when ready.
 *
 * Both exit on SIGTERM (through process.exit, so `node --cpu-prof` writes its profile).
 */
import Fastify from 'fastify';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { resolveAuthConfig } from '../src/auth/config.js';
import { DEV_TOKEN_DEFAULTS, mintToken } from '../src/auth/tokens.js';
import { securityFor } from '../src/cli/auth-options.js';
import { createLongrun } from '../src/longrun.js';
import type { OperationStore } from '../src/store/store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { seed, TENANT } from './seed.js';

const [kind, ...args] = process.argv.slice(2);

export interface BareResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

let current = { status: 200, headers: {} as Record<string, string>, bytes: Buffer.from('{}') };
if (kind === 'bare' || kind === 'fastify') {
  createInterface({ input: process.stdin }).on('line', (line) => {
    const r = JSON.parse(line) as BareResponse;
    current = { status: r.status, headers: r.headers, bytes: Buffer.from(r.body) };
    process.stdout.write('ok\n');
  });
  process.on('SIGTERM', () => process.exit(0));
}

if (kind === 'fastify') {
  // The framework's own floor: Fastify with no hooks and no application code, same bytes from memory.
  const app = Fastify({ logger: false });
  app.all('/*', async (_request, reply) => {
    const r = current;
    return reply.code(r.status).headers(r.headers).send(r.bytes);
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  console.log(JSON.stringify({ port: (app.server.address() as { port: number }).port }));
} else if (kind === 'bare') {
  const server = createServer((req, res) => {
    const r = current;
    // Drain the request body like a real server would, then answer from memory.
    req.resume();
    req.on('end', () => {
      res.writeHead(r.status, { ...r.headers, 'content-length': r.bytes.length });
      res.end(r.bytes);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ port: (server.address() as { port: number }).port }));
  });
} else if (kind === 'longrun') {
  const [storeKind, countText, pgUrl] = args;
  const count = Number(countText);
  const dir = mkdtempSync(join(tmpdir(), 'longrun-bench-'));
  const config = await resolveAuthConfig(
    { authSecret: 'bench-secret-that-is-long-enough-for-hs256' },
    {},
    dir,
  );
  let store: OperationStore;
  if (storeKind === 'postgres') {
    const { PostgresStore } = await import('../src/store/postgres/postgres-store.js');
    store = new PostgresStore({ connectionString: pgUrl });
  } else {
    store = new SqliteStore({ file: join(dir, 'bench.db') });
  }
  await store.migrate();
  const seeding = performance.now();
  const ids = await seed(store, count);
  const seedMs = Math.round(performance.now() - seeding);
  const node = await createLongrun({
    store,
    security: securityFor(config),
    worker: false,
    retention: false,
    webhooks: false,
  });
  const url = await node.listen(0, '127.0.0.1');
  const token = await mintToken(config, { ...DEV_TOKEN_DEFAULTS, tid: TENANT });
  console.log(JSON.stringify({ port: Number(new URL(url).port), token, ids, seedMs }));
  process.on('SIGTERM', () => {
    void node
      .close(1000)
      .catch(() => {})
      .finally(() => {
        rmSync(dir, { recursive: true, force: true });
        process.exit(0);
      });
  });
} else {
  console.error(`usage: target.ts bare | longrun <sqlite|postgres> <count> [postgres-url]`);
  process.exit(2);
}
