/**
 * Repeated plain GETs of an operation are answered before Fastify from the answer kept for the same
 * request (src/http/response-cache.ts). Read as an attacker: a kept answer goes only to the same token
 * while it is still valid, never to another tenant or a caller without the permission, never after a write,
 * never past a hook an embedding application added; and what it saves is real (no store read).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAuthConfig, type AuthConfig } from '../src/auth/config.js';
import { ADMIN_ROLE_TEMPLATE_IDS } from '../src/auth/permissions.js';
import { createUserDirectory } from '../src/auth/user-directory.js';
import { createTokenVerifier } from '../src/auth/verify.js';
import { jwtSecurity } from '../src/http/jwt-security.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ResponseCache } from '../src/http/response-cache.js';
import { createLongrun } from '../src/longrun.js';
import type { OperationView } from '../src/model/operation.js';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { freshDatabase } from './support/pg.js';
import { startTestServer, type TestServer } from './support/server.js';

const SECRET = 'response-cache-secret-0123456789-abcdefghijklmnop';
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'api://longrun';
const TENANT_A = 'aaaaaaaa-0000-4000-8000-00000000000a';
const TENANT_B = 'bbbbbbbb-0000-4000-8000-00000000000b';
const ALICE = { oid: 'a11ce000-0000-4000-8000-000000000001', upn: 'alice@contoso.com' };

/** The columns a row is copied with (all but seq, which a new row gets anew). */
const COPY_COLUMNS =
  'tenant_id, scope, id, type, status, created_at, last_action_at, resource_location, status_detail, props, version';

let config: AuthConfig;
let keyDir: string;
/** The verifier's clock: tests move it to expire tokens without waiting. */
let clock = Date.now();

function sign(claims: Record<string, unknown>, expiresInSeconds = 3600): Promise<string> {
  const now = Math.floor(clock / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + expiresInSeconds)
    .sign(new TextEncoder().encode(SECRET));
}

const app = (tid: string, roles: string[]) =>
  sign({ oid: `5e000000-0000-4000-8000-${tid.slice(0, 12)}`, tid, azp: 'app', roles });

function security() {
  return jwtSecurity(createTokenVerifier(config, { now: () => clock }), createUserDirectory());
}

beforeAll(async () => {
  keyDir = await mkdtemp(join(tmpdir(), 'longrun-response-cache-'));
  config = await resolveAuthConfig(
    { authSecret: SECRET, authIssuer: ISSUER, authAudience: AUDIENCE },
    {},
    keyDir,
  );
});
afterAll(() => rm(keyDir, { recursive: true, force: true }));

/** Counts the store reads of a node (a kept answer makes none): a counter around the real store's read. */
function countReads(server: TestServer): { count: number } {
  const store = server.node.service.store;
  const read = store.read.bind(store);
  const counter = { count: 0 };
  store.read = (key) => {
    counter.count++;
    return read(key);
  };
  return counter;
}

async function getRequests(server: TestServer, status: number): Promise<number> {
  const text = await (await server.request('GET', '/metrics')).text();
  const prefix = `longrun_http_requests_total{family="app",method="GET",status="${status}"}`;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return Number(line?.split(' ')[1] ?? 0);
}

describe('with bearer tokens (SQLite)', () => {
  let server: TestServer;
  let writerA: string;
  let reads: { count: number };
  beforeAll(async () => {
    server = await startTestServer({ security: security(), worker: false, retention: false });
    reads = countReads(server);
    writerA = await app(TENANT_A, ['LongRun.ReadWrite.All']);
  });
  afterAll(() => server?.close());

  const as = (
    token: string,
    method: string,
    path: string,
    init: { body?: unknown; headers?: Record<string, string> } = {},
  ) =>
    server.request(method, path, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } });

  it('answers a repeat from the kept answer: the same bytes but a new request-id, counted, and no store read', async () => {
    expect(
      (await as(writerA, 'POST', '/v1.0/operations', { body: { id: 'kept', status: 'running' } })).status,
    ).toBe(201);
    const first = await as(writerA, 'GET', '/v1.0/operations/kept');
    expect(first.status).toBe(200);
    const firstBody = await first.text();
    const readsBefore = reads.count;
    const counted = await getRequests(server, 200);

    const seen = new Set([first.headers.get('request-id')]);
    for (let i = 0; i < 3; i++) {
      const again = await as(writerA, 'GET', '/v1.0/operations/kept', {
        headers: { 'client-request-id': `poll-${i}` },
      });
      expect(again.status).toBe(200);
      expect(await again.text()).toBe(firstBody);
      for (const name of [
        'etag',
        'link',
        'retry-after',
        'content-type',
        'odata-version',
        'cache-control',
        'content-length',
      ]) {
        expect(again.headers.get(name), name).toBe(first.headers.get(name));
      }
      expect(again.headers.get('client-request-id')).toBe(`poll-${i}`);
      expect(again.headers.get('request-id')).toMatch(/^[0-9a-f-]{36}$/);
      seen.add(again.headers.get('request-id'));
    }
    expect(seen.size).toBe(4);
    expect(reads.count).toBe(readsBefore);
    expect(await getRequests(server, 200)).toBe(counted + 3);
  });

  it("never gives one caller's answer to another tenant, or to a token without the permission", async () => {
    await as(writerA, 'POST', '/v1.0/operations', {
      body: { id: 'private', status: 'running', statusDetail: 'secret' },
    });
    for (let i = 0; i < 2; i++)
      expect((await as(writerA, 'GET', '/v1.0/operations/private')).status).toBe(200);

    const otherTenant = await app(TENANT_B, ['LongRun.ReadWrite.All']);
    const noRoles = await app(TENANT_A, []);
    for (let i = 0; i < 2; i++) {
      const b = await as(otherTenant, 'GET', '/v1.0/operations/private');
      expect(b.status).toBe(404);
      expect(await b.text()).not.toContain('secret');
      expect((await as(noRoles, 'GET', '/v1.0/operations/private')).status).toBe(403);
      // The same token text under another scheme, or none, is not the same request.
      expect((await server.request('GET', '/v1.0/operations/private')).status).toBe(401);
      const wrongScheme = await server.request('GET', '/v1.0/operations/private', {
        headers: { authorization: `Basic ${writerA}` },
      });
      expect(wrongScheme.status).toBe(401);
    }
  });

  it('stops answering for a token once it expires', async () => {
    const shortLived = await sign(
      { oid: '5e000000-0000-4000-8000-0000000000aa', tid: TENANT_A, azp: 'app', roles: ['LongRun.Read.All'] },
      60,
    );
    await as(writerA, 'POST', '/v1.0/operations', { body: { id: 'expiring', status: 'running' } });
    for (let i = 0; i < 2; i++)
      expect((await as(shortLived, 'GET', '/v1.0/operations/expiring')).status).toBe(200);
    const before = clock;
    try {
      clock += 60_000 + (config.mode === 'none' ? 0 : config.clockToleranceSec * 1000) + 1000;
      const late = await as(shortLived, 'GET', '/v1.0/operations/expiring');
      expect(late.status).toBe(401);
    } finally {
      clock = before;
    }
  });

  it('shows a write made after the answer was kept, and a 304 to If-None-Match', async () => {
    await as(writerA, 'POST', '/v1.0/operations', {
      body: { id: 'moving', status: 'running', statusDetail: 'one' },
    });
    const first = await as(writerA, 'GET', '/v1.0/operations/moving');
    await as(writerA, 'GET', '/v1.0/operations/moving');
    const etag = first.headers.get('etag')!;
    const unchanged = await as(writerA, 'GET', '/v1.0/operations/moving', {
      headers: { 'if-none-match': etag },
    });
    expect(unchanged.status).toBe(304);

    expect(
      (await as(writerA, 'PATCH', '/v1.0/operations/moving', { body: { statusDetail: 'two' } })).status,
    ).toBe(200);
    const after = await as(writerA, 'GET', '/v1.0/operations/moving');
    expect(((await after.json()) as { statusDetail: string }).statusDetail).toBe('two');
    expect(after.headers.get('etag')).not.toBe(etag);
    expect(
      (await as(writerA, 'PATCH', '/v1.0/operations/moving', { body: { status: 'succeeded' } })).status,
    ).toBe(200);
    expect((await as(writerA, 'DELETE', '/v1.0/operations/moving')).status).toBe(204);
    expect((await as(writerA, 'GET', '/v1.0/operations/moving')).status).toBe(404);
  });

  it('does not keep answers to paths that name a user by UPN (the directory can move a UPN)', async () => {
    const alice = await sign({
      oid: ALICE.oid,
      upn: ALICE.upn,
      tid: TENANT_A,
      scp: 'UserAuthenticationMethod.Read',
    });
    const admin = await sign({
      oid: '5e000000-0000-4000-8000-0000000000ad',
      upn: 'admin@contoso.com',
      tid: TENANT_A,
      scp: 'UserAuthenticationMethod.ReadWrite.All',
      wids: [ADMIN_ROLE_TEMPLATE_IDS.authenticationAdministrator],
    });
    // Alice's token teaches the directory her UPN.
    await as(alice, 'GET', '/v1.0/me/authentication/operations');
    const created = await as(admin, 'POST', `/v1.0/users/${ALICE.oid}/authentication/operations`, {
      body: { id: 'by-upn', status: 'running' },
    });
    expect(created.status).toBe(201);
    const path = `/v1.0/users/${ALICE.upn}/authentication/operations/by-upn`;
    expect((await as(admin, 'GET', path)).status).toBe(200);
    const readsBefore = reads.count;
    for (let i = 0; i < 2; i++) expect((await as(admin, 'GET', path)).status).toBe(200);
    expect(reads.count).toBe(readsBefore + 2);
    // The same operation by object id is kept as any other.
    const byOid = `/v1.0/users/${ALICE.oid}/authentication/operations/by-upn`;
    for (let i = 0; i < 3; i++) {
      expect((await as(admin, 'GET', byOid)).status).toBe(200);
    }
    expect(reads.count).toBe(readsBefore + 3);
  });
});

describe('on PostgreSQL (each repeat checks the row and its version; two nodes)', () => {
  let server: TestServer;
  let other: TestServer;
  let sql: pg.Client;
  let token: string;
  let reads: { count: number };
  beforeAll(async () => {
    const url = await freshDatabase('response_cache');
    server = await startTestServer({
      store: new PostgresStore({ connectionString: url }),
      security: security(),
      worker: false,
      retention: false,
    });
    other = await startTestServer({
      store: new PostgresStore({ connectionString: url }),
      security: security(),
      worker: false,
      retention: false,
    });
    sql = new pg.Client({ connectionString: url });
    await sql.connect();
    reads = countReads(server);
    token = await app(TENANT_A, ['LongRun.ReadWrite.All']);
  });
  afterAll(async () => {
    await sql?.end();
    await other?.close();
    await server?.close();
  });
  const call = (on: TestServer, method: string, path: string, body?: unknown) =>
    on.request(method, path, { body, headers: { authorization: `Bearer ${token}` } });

  it("answers repeats without reading the operation, and shows another node's write and a re-created operation", async () => {
    expect(
      (await call(server, 'POST', '/v1.0/operations', { id: 'pg-kept', status: 'running' })).status,
    ).toBe(201);
    const first = await call(server, 'GET', '/v1.0/operations/pg-kept');
    const firstBody = await first.text();
    const readsBefore = reads.count;
    for (let i = 0; i < 3; i++) {
      const again = await call(server, 'GET', '/v1.0/operations/pg-kept');
      expect(await again.text()).toBe(firstBody);
      expect(again.headers.get('request-id')).not.toBe(first.headers.get('request-id'));
    }
    expect(reads.count).toBe(readsBefore);

    // Another node changes it: the next GET here shows the change.
    expect(
      (await call(other, 'PATCH', '/v1.0/operations/pg-kept', { statusDetail: 'elsewhere' })).status,
    ).toBe(200);
    const changed = (await (await call(server, 'GET', '/v1.0/operations/pg-kept')).json()) as Record<
      string,
      unknown
    >;
    expect(changed.statusDetail).toBe('elsewhere');

    // Deleted and created again with the same id, version and times: another row, so not the kept answer.
    await call(server, 'GET', '/v1.0/operations/pg-kept');
    const row = await sql.query<{ version: number }>(`SELECT version FROM operations WHERE id = 'pg-kept'`);
    await sql.query(`
      WITH gone AS (DELETE FROM operations WHERE id = 'pg-kept' RETURNING *)
      INSERT INTO operations (${COPY_COLUMNS}) SELECT ${COPY_COLUMNS.replace('status_detail', "'re-created'")} FROM gone`);
    const recreated = await sql.query<{ version: number }>(
      `SELECT version FROM operations WHERE id = 'pg-kept'`,
    );
    expect(recreated.rows[0].version).toBe(row.rows[0].version);
    const again = (await (await call(server, 'GET', '/v1.0/operations/pg-kept')).json()) as Record<
      string,
      unknown
    >;
    expect(again.statusDetail).toBe('re-created');
  });
});

describe('an embedding application', () => {
  it("that adds a request hook sees every request in it: kept answers don't skip it", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'longrun-response-cache-hook-'));
    const token = await app(TENANT_A, ['LongRun.ReadWrite.All']);
    const node = await createLongrun({
      dbFile: join(dir, 'db.sqlite'),
      security: security(),
      worker: false,
      retention: false,
    });
    let seen = 0;
    let refuse = false;
    node.app.addHook('onRequest', async (request, reply) => {
      if (!request.url.startsWith('/v1.0/')) return;
      seen++;
      if (refuse) await reply.code(429).send({ error: { code: 'tooManyRequests', message: 'slow down' } });
    });
    const url = await node.listen(0, '127.0.0.1');
    try {
      const call = (method: string, body?: unknown) =>
        fetch(`${url}/v1.0/operations${method === 'POST' ? '' : '/hooked'}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      expect((await call('POST', { id: 'hooked', status: 'running' })).status).toBe(201);
      for (let i = 0; i < 3; i++) expect((await call('GET')).status).toBe(200);
      expect(seen).toBe(4);
      refuse = true;
      expect((await call('GET')).status).toBe(429);
    } finally {
      await node.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the cache itself', () => {
  /** A request as Node's parser hands it over, and a response that records what was written. */
  const request = (url: string, authorization = 'Bearer t') =>
    ({ method: 'GET', url, headers: { host: 'h', authorization } }) as unknown as IncomingMessage;
  const response = () => {
    const written: { status?: number; head?: string[]; body?: Buffer } = {};
    const res = {
      destroyed: false,
      writeHead(status: number, head: string[]) {
        written.status = status;
        written.head = head;
      },
      end(body: Buffer) {
        written.body = body;
      },
    };
    return { res: res as unknown as ServerResponse, written };
  };
  const view = { seq: 1, version: 1 } as OperationView;
  const principal = {};
  const answer = (bytes: number) => ({
    record: view,
    key: { tenantId: 't', scope: 's', id: 'x' },
    verified: principal,
    headers: [['etag', '"1-0"']] as [string, string][],
    body: Buffer.alloc(bytes, 'a'),
    family: 'app',
  });

  it('holds at most 16 MB, dropping the oldest first, and keeps no answer over 64 KB', () => {
    const cache = new ResponseCache({ verified: () => principal, isCurrent: () => true, observe: () => {} });
    for (let i = 0; i < 1000; i++) cache.remember(request(`/v1.0/operations/${i}`), answer(30_000));
    expect(cache.size.bytes).toBeLessThanOrEqual(16 * 1024 * 1024);
    expect(cache.size.entries).toBeLessThan(1000);
    cache.remember(request('/v1.0/operations/huge'), answer(70_000));

    const served = (url: string) => {
      const { res, written } = response();
      let passedOn = false;
      cache.handle(request(url), res, () => (passedOn = true));
      return passedOn ? undefined : written;
    };
    expect(served('/v1.0/operations/0')).toBeUndefined();
    expect(served('/v1.0/operations/huge')).toBeUndefined();
    const last = served('/v1.0/operations/999');
    expect(last?.status).toBe(200);
    expect(last?.body?.length).toBe(30_000);
    expect(last?.head).toEqual(
      expect.arrayContaining(['etag', '"1-0"', 'content-length', '30000', 'request-id']),
    );
  });

  it('passes on what it was not asked to keep: a query, Prefer, a conditional header, a body, another method', () => {
    const cache = new ResponseCache({ verified: () => principal, isCurrent: () => true, observe: () => {} });
    const url = '/v1.0/operations/x';
    cache.remember(request(url), answer(10));
    const variants: Partial<IncomingMessage>[] = [
      { url: `${url}?$select=id` },
      { headers: { host: 'h', authorization: 'Bearer t', prefer: 'wait=5' } },
      { headers: { host: 'h', authorization: 'Bearer t', 'if-none-match': '"1-0"' } },
      { headers: { host: 'h', authorization: 'Bearer t', 'content-length': '2' } },
      { headers: { host: 'other', authorization: 'Bearer t' } },
      { headers: { host: 'h', authorization: 'Bearer u' } },
      { method: 'HEAD' },
      { method: 'DELETE' },
    ];
    for (const variant of variants) {
      let passedOn = false;
      cache.handle(
        { ...request(url), ...variant } as IncomingMessage,
        response().res,
        () => (passedOn = true),
      );
      expect(passedOn, JSON.stringify(variant)).toBe(true);
    }
    let passedOn = false;
    cache.handle(request(url), response().res, () => (passedOn = true));
    expect(passedOn).toBe(false);
  });
});
