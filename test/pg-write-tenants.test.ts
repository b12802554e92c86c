/**
 * The PostgreSQL write path keeps per-operation state in memory (src/service/write-chain.ts: queued
 * PATCHes, and the state an operation's last write left). Read as an attacker: two tenants with an
 * operation of the same id in the same collection must never meet there. Each PATCH is decided on, and
 * answered with, its own tenant's operation.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { resolveAuthConfig } from '../src/auth/config.js';
import { securityFor } from '../src/cli/auth-options.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { freshDatabase } from './support/pg.js';
import { startTestServer, type TestServer } from './support/server.js';

const SECRET = 'pg-write-tenants-secret-0123456789-abcdefghijklmn';
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'api://longrun';
const TENANTS = {
  a: 'aaaaaaaa-0000-4000-8000-00000000000a',
  b: 'bbbbbbbb-0000-4000-8000-00000000000b',
} as const;

let server: TestServer;
let keyDir: string;
const tokens: Record<keyof typeof TENANTS, string> = { a: '', b: '' };

beforeAll(async () => {
  keyDir = await mkdtemp(join(tmpdir(), 'longrun-pg-tenants-'));
  const config = await resolveAuthConfig(
    { authSecret: SECRET, authIssuer: ISSUER, authAudience: AUDIENCE },
    {},
    keyDir,
  );
  const store = new PostgresStore({ connectionString: await freshDatabase('write_tenants') });
  server = await startTestServer({ store, security: securityFor(config), worker: false, retention: false });
  for (const [name, tid] of Object.entries(TENANTS) as [keyof typeof TENANTS, string][]) {
    // An application of each tenant, allowed to read and write that tenant's operations.
    tokens[name] = await new SignJWT({
      oid: `5e000000-0000-4000-8000-00000000000${name}`,
      tid,
      azp: `app-${name}`,
      roles: ['LongRun.ReadWrite.All'],
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));
  }
});
afterAll(async () => {
  await server?.close();
  await rm(keyDir, { recursive: true, force: true });
});

const as = (tenant: keyof typeof TENANTS, method: string, body?: unknown) =>
  server.request(method, method === 'POST' ? '/v1.0/operations' : '/v1.0/operations/shared', {
    body,
    headers: { authorization: `Bearer ${tokens[tenant]}` },
  });

it("one tenant's PATCHes never decide on, or answer with, another tenant's operation of the same id", async () => {
  expect((await as('a', 'POST', { id: 'shared', status: 'running', statusDetail: 'a0' })).status).toBe(201);
  expect((await as('b', 'POST', { id: 'shared', status: 'running', statusDetail: 'b0' })).status).toBe(201);
  // Tenant a's operation moves on; its state is what this node now remembers for "shared" of tenant a.
  for (const detail of ['a1', 'a2', 'a3'])
    expect((await as('a', 'PATCH', { statusDetail: detail })).status).toBe(200);
  const ended = await as('a', 'PATCH', { status: 'succeeded' });
  expect(ended.status).toBe(200);

  // Tenant b's PATCH: decided on b's operation (still running, version 1), not a's (succeeded, version 5).
  const b = await as('b', 'PATCH', { resourceLocation: 'https://b.example/r' });
  expect(b.status).toBe(200);
  const bBody = (await b.json()) as { status: string; statusDetail: string };
  expect(bBody).toMatchObject({ status: 'running', statusDetail: 'b0' });
  expect(b.headers.get('etag')).toMatch(/^"2-/);
  // And a status change is judged on b's operation: allowed there, though a's has ended.
  expect((await as('b', 'PATCH', { status: 'failed' })).status).toBe(200);

  // Concurrent PATCHes of both tenants' operations land each on its own.
  const both = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      as(i % 2 ? 'b' : 'a', 'PATCH', { statusDetail: `${i % 2 ? 'b' : 'a'}-${i}` }),
    ),
  );
  for (const [i, res] of both.entries()) {
    expect(res.status).toBe(200);
    expect(((await res.json()) as { statusDetail: string }).statusDetail).toMatch(i % 2 ? /^b-/ : /^a-/);
  }
  const a = (await (await as('a', 'GET')).json()) as { status: string; statusDetail: string };
  const bNow = (await (await as('b', 'GET')).json()) as { status: string; statusDetail: string };
  expect(a.status).toBe('succeeded');
  expect(a.statusDetail).toMatch(/^a-/);
  expect(bNow.status).toBe('failed');
  expect(bNow.statusDetail).toMatch(/^b-/);
});
