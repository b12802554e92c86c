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
 * - `target.ts floor <sqlite|postgres> <db file or url> <secret>`: the unavoidable work and nothing else, as a
 *   careful hand-written server would do it: bare `node:http`, the HS256 token verified with jose once and
 *   then found in a Map by its text, one prepared statement (better-sqlite3) or one named query (pg) to
 *   read the row (GET), update it (PATCH) or insert it (POST: a start action, answered 202 with Location),
 *   and `JSON.stringify` of the row. On SQLite it works on a copy of the target's seeded file. Prints
 *   { port } when ready.
 *
 * All exit on SIGTERM (through process.exit, so `node --cpu-prof` writes its profile).
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
import { newOperationId } from '../src/model/ids.js';
import { createLongrun } from '../src/longrun.js';
import { now } from '../src/model/time.js';
import type { OperationStore } from '../src/store/store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { BENCH_SECRET, seed, TENANT } from './seed.js';

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
} else if (kind === 'floor') {
  await startFloor(args[0] as 'sqlite' | 'postgres', args[1], args[2]);
} else if (kind === 'longrun') {
  const [storeKind, countText, pgUrl] = args;
  const count = Number(countText);
  const dir = mkdtempSync(join(tmpdir(), 'longrun-bench-'));
  const config = await resolveAuthConfig({ authSecret: BENCH_SECRET }, {}, dir);
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
  const dbFile = storeKind === 'postgres' ? undefined : join(dir, 'bench.db');
  console.log(JSON.stringify({ port: Number(new URL(url).port), token, ids, seedMs, dbFile }));
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

async function startFloor(store: 'sqlite' | 'postgres', db: string, secret: string): Promise<void> {
  const { jwtVerify } = await import('jose');
  const key = new TextEncoder().encode(secret);
  const verified = new Map<string, Record<string, unknown>>();
  const claimsOf = async (header: string | undefined) => {
    const token = header?.slice(7) ?? '';
    let claims = verified.get(token);
    if (!claims) {
      claims = (await jwtVerify(token, key)).payload as Record<string, unknown>;
      verified.set(token, claims);
    }
    return claims;
  };
  const COLUMNS =
    'id, type, status, created_at, last_action_at, resource_location, status_detail, props, version, seq';
  let read: (tenant: string, id: string) => Promise<unknown>;
  let update: (tenant: string, id: string, detail: string) => Promise<unknown>;
  /** A start action's one unavoidable write: the new operation's row, committed. */
  let insert: (tenant: string, id: string, input: string) => Promise<unknown>;
  const INSERT_COLUMNS = `tenant_id, scope, id, type, status, created_at, last_action_at, props, handler, input,
    max_attempts, run_at`;
  if (store === 'sqlite') {
    const { default: Database } = await import('better-sqlite3');
    // A copy of its own, taken with SQLite's online backup once the target has seeded the file: two
    // processes writing one file share its log, and each one's commits then checkpoint the other's pages
    // (with the floor's inserts in the same file, longrun's start rounds swung from 1,800/s to 5,200/s).
    const dir = mkdtempSync(join(tmpdir(), 'longrun-floor-'));
    const copy = join(dir, 'floor.db');
    const source = new Database(db, { readonly: true });
    await source.backup(copy);
    source.close();
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    const conn = new Database(copy);
    conn.pragma('journal_mode = WAL');
    conn.pragma('synchronous = NORMAL');
    conn.pragma('busy_timeout = 5000');
    const get = conn.prepare(
      `SELECT ${COLUMNS} FROM operations WHERE tenant_id = ? AND scope = 'operations' AND id = ?`,
    );
    const set = conn.prepare(
      `UPDATE operations SET status_detail = ?, last_action_at = ?, version = version + 1
       WHERE tenant_id = ? AND scope = 'operations' AND id = ? RETURNING ${COLUMNS}`,
    );
    const add = conn.prepare(
      `INSERT INTO operations (${INSERT_COLUMNS}) VALUES (?, 'sites/bench/operations', ?,
         'longRunningOperation', 0, ?, ?, '{}', 'floor', ?, 1, ?) RETURNING ${COLUMNS}`,
    );
    read = async (tenant, id) => get.get(tenant, id);
    update = async (tenant, id, detail) => set.get(detail, now(), tenant, id);
    insert = async (tenant, id, input) => {
      const at = now();
      return add.get(tenant, id, at, at, input, Date.now());
    };
  } else {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({ connectionString: db, max: 10 });
    read = async (tenant, id) =>
      (
        await pool.query({
          name: 'floor_get',
          text: `SELECT ${COLUMNS} FROM operations WHERE tenant_id = $1 AND scope = 'operations' AND id = $2`,
          values: [tenant, id],
        })
      ).rows[0];
    update = async (tenant, id, detail) =>
      (
        await pool.query({
          name: 'floor_patch',
          text: `UPDATE operations SET status_detail = $1, last_action_at = $2, version = version + 1
                 WHERE tenant_id = $3 AND scope = 'operations' AND id = $4 RETURNING ${COLUMNS}`,
          values: [detail, now(), tenant, id],
        })
      ).rows[0];
    insert = async (tenant, id, input) => {
      const at = now();
      return (
        await pool.query({
          name: 'floor_start',
          text: `INSERT INTO operations (${INSERT_COLUMNS}) VALUES ($1, 'sites/bench/operations', $2,
                   'longRunningOperation', 0, $3, $3, '{}', 'floor', $4, 1, $5) RETURNING ${COLUMNS}`,
          values: [tenant, id, at, input, Date.now()],
        })
      ).rows[0];
    };
  }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      try {
        const claims = await claimsOf(req.headers.authorization);
        const tenant = String(claims.tid);
        if (req.method === 'POST') {
          // A start action: the body checked for its one required property, one row inserted, 202 with
          // the new operation's address (a time-ordered GUID, as longrun's: model/ids.ts).
          const input = JSON.parse(Buffer.concat(chunks).toString()) as { contentTypeId?: unknown };
          if (typeof input.contentTypeId !== 'string') throw new Error('contentTypeId');
          const created = newOperationId();
          await insert(tenant, created, JSON.stringify(input));
          res.writeHead(202, {
            location: `http://127.0.0.1/v1.0/sites/bench/operations/${created}`,
            'content-length': 0,
          });
          res.end();
          return;
        }
        const id = decodeURIComponent((req.url ?? '').split('?')[0].split('/').pop() ?? '');
        const row =
          req.method === 'PATCH'
            ? await update(
                tenant,
                id,
                (JSON.parse(Buffer.concat(chunks).toString()) as { statusDetail: string }).statusDetail,
              )
            : await read(tenant, id);
        const body = JSON.stringify(row ?? null);
        res.writeHead(row ? 200 : 404, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
      } catch {
        res.writeHead(401).end();
      }
    });
  });
  server.listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ port: (server.address() as { port: number }).port }));
  });
  process.on('SIGTERM', () => process.exit(0));
}
