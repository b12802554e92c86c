/**
 * The operator API (/longrun/v1) over real HTTP against a real node with a real SQLite file: the admin
 * permission, one list across collections with filters and keyset paging, the overview's counts and
 * activity, an operation's attempts and error, retry as a new operation, bulk cancel with a dry run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAuthConfig, type AuthConfig } from '../src/auth/config.js';
import { DEV_TOKEN_DEFAULTS, mintToken } from '../src/auth/tokens.js';
import { securityFor } from '../src/cli/auth-options.js';
import type { HandlerDefinition } from '../src/engine/handler.js';
import { startTestServer, type TestServer } from './support/server.js';

const TENANT = DEV_TOKEN_DEFAULTS.tid!;
const OTHER_TENANT = '00000000-0000-0000-0000-0000000000ff';
let server: TestServer;
let dir: string;
let config: AuthConfig;
let admin: string;
let reader: string;
/** The flaky handler fails while this is true (a fault an operator fixes, then retries). */
let brokenDependency = true;

const handlers: HandlerDefinition<never>[] = [
  {
    name: 'flaky',
    maxAttempts: 2,
    run: async () => {
      if (brokenDependency) throw new Error('The upstream dependency is down.');
      return { resourceLocation: 'https://example.test/done' };
    },
  },
  {
    name: 'slow',
    run: async ({ signal }) => {
      await sleep(60_000, undefined, { signal });
    },
  },
  { name: 'quick', run: async () => ({}) },
  {
    name: 'saves-then-fails',
    maxAttempts: 1,
    run: async (ctx) => {
      await ctx.checkpoint({ page: 7 });
      throw new Error('stopped after page 7');
    },
  },
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'longrun-admin-'));
  config = await resolveAuthConfig({}, {}, dir);
  admin = await mintToken(config, {
    ...DEV_TOKEN_DEFAULTS,
    scopes: [...DEV_TOKEN_DEFAULTS.scopes!, 'LongRun.Admin'],
  });
  reader = await mintToken(config, DEV_TOKEN_DEFAULTS);
  server = await startTestServer({
    security: securityFor(config),
    handlers,
    worker: { pollIntervalMs: 20, retryBaseMs: 10, retryCapMs: 20 },
  });
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const call = async (method: string, path: string, body?: unknown, token = admin) => {
  const res = await server.request(method, path, {
    body,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
};

/** Polls the operator detail until `done` holds (a live wait, no fixed sleep). */
async function waitFor(key: string, done: (d: Record<string, unknown>) => boolean) {
  for (;;) {
    const { body } = await call('GET', `/longrun/v1/operations/${key}`);
    if (done(body)) return body as Record<string, unknown>;
    await sleep(20);
  }
}

const start = (handler: string, collection: string, tenantId = TENANT, type?: 'richLongRunningOperation') =>
  server.node.start(handler, {}, { collection, tenantId, type });

describe('the operator API', () => {
  it('needs a token, and LongRun.Admin, answering in Graph envelopes', async () => {
    const anonymous = await call('GET', '/longrun/v1/overview', undefined, '');
    expect(anonymous.status).toBe(401);
    const denied = await call('GET', '/longrun/v1/operations', undefined, reader);
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('accessDenied');
    expect(denied.body.error.message).toContain('LongRun.Admin');
    expect(denied.body.error.innerError['request-id']).toBeTruthy();
  });

  it('lists every collection of the tenant in one list, filtered and paged', async () => {
    const mine = [
      await start('quick', '/operations'),
      await start('quick', '/sites/site-a/operations', TENANT, 'richLongRunningOperation'),
      await start('quick', '/sites/site-a/lists/l1/operations', TENANT, 'richLongRunningOperation'),
      await start('quick', '/users/u1/authentication/operations'),
      await start('quick', '/security/attackSimulation/operations'),
    ];
    await start('quick', '/operations', OTHER_TENANT);
    for (const r of mine) {
      await waitFor(encode(r.scope, r.id), (d) => d.status === 'succeeded');
    }
    const all = await call('GET', '/longrun/v1/operations?handler=quick&count=true');
    expect(all.status).toBe(200);
    expect(all.body.count).toBe(5);
    expect(new Set(all.body.value.map((o: { id: string }) => o.id))).toEqual(new Set(mine.map((r) => r.id)));
    // Newest first, across collections, with family and collection named.
    expect(all.body.value[0]).toMatchObject({ id: mine[4].id, family: 'attackSimulation' });

    const sites = await call('GET', '/longrun/v1/operations?handler=quick&family=sites');
    expect(sites.body.value.map((o: { collection: string }) => o.collection).sort()).toEqual([
      'sites/site-a',
      'sites/site-a/lists/l1',
    ]);
    const auth = await call('GET', '/longrun/v1/operations?family=authentication,app&handler=quick');
    expect(auth.body.value).toHaveLength(2);
    const one = await call('GET', `/longrun/v1/operations?collection=sites/site-a&id=${mine[1].id}`);
    expect(one.body.value.map((o: { id: string }) => o.id)).toEqual([mine[1].id]);
    const rich = await call(
      'GET',
      '/longrun/v1/operations?handler=quick&type=microsoft.graph.richLongRunningOperation',
    );
    expect(rich.body.value).toHaveLength(2);

    // Keyset paging: every operation once, in order, by following nextLink.
    const seen: string[] = [];
    let next: string | undefined = '/longrun/v1/operations?handler=quick&top=2';
    while (next) {
      const page = await call('GET', next.replace(server.url, ''));
      expect(page.status).toBe(200);
      expect(page.body.value.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.value.map((o: { id: string }) => o.id));
      next = page.body.nextLink;
    }
    expect(seen).toEqual(all.body.value.map((o: { id: string }) => o.id));
  });

  it('refuses bad filters with a 400 that names the parameter', async () => {
    for (const [query, target] of [
      ['status=bogus', 'status'],
      ['family=nope', 'family'],
      ['type=microsoft.graph.user', 'type'],
      ['createdAfter=yesterday', 'createdAfter'],
      ['top=0', 'top'],
      ['skiptoken=abc', 'skiptoken'],
      ['colour=red', 'colour'],
      ['id=a%00b', 'id'],
      ['handler=' + 'x'.repeat(1025), 'handler'],
    ]) {
      const res = await call('GET', `/longrun/v1/operations?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error.code).toBe('invalidRequest');
      expect(res.body.error.target).toBe(target);
    }
    expect((await call('GET', '/longrun/v1/operations/not*a*key')).status).toBe(400);
    expect((await call('GET', `/longrun/v1/operations/${encode('operations', 'a\u0000b')}`)).status).toBe(
      400,
    );
    const missing = await call('GET', `/longrun/v1/operations/${encode('operations', 'nope')}`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('itemNotFound');
  });

  it("hides other tenants' operations from the detail too", async () => {
    const theirs = await start('quick', '/operations', OTHER_TENANT);
    const res = await call('GET', `/longrun/v1/operations/${encode(theirs.scope, theirs.id)}`);
    expect(res.status).toBe(404);
  });

  it("shows a failed operation's attempts and error, and retries it as a new operation", async () => {
    brokenDependency = true;
    const r = await start('flaky', '/sites/site-b/operations', TENANT, 'richLongRunningOperation');
    const key = encode(r.scope, r.id);
    const failed = await waitFor(key, (d) => d.status === 'failed');
    expect(failed.handler).toBe('flaky');
    expect(failed.attempts).toBe(2);
    expect(failed.maxAttempts).toBe(2);
    expect(failed.error).toEqual({ code: 'handlerFailed', message: 'The upstream dependency is down.' });
    const attempts = failed.attemptList as { outcome: string; error: unknown; durationMs: number }[];
    expect(attempts.map((a) => a.outcome)).toEqual(['retry', 'failed']);
    expect(attempts[1].error).toEqual(failed.error);
    expect(attempts.every((a) => a.durationMs >= 0)).toBe(true);
    expect((failed.operation as { status: string }).status).toBe('failed');
    expect(failed.createdBy).toBe('library');
    expect(failed.checkpoint).toBeNull();

    // Not retryable while it runs or when it succeeded.
    const ok = await start('quick', '/operations');
    await waitFor(encode(ok.scope, ok.id), (d) => d.status === 'succeeded');
    const refused = await call('POST', `/longrun/v1/operations/${encode(ok.scope, ok.id)}/retry`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('notRetryable');

    brokenDependency = false;
    const retried = await call('POST', `/longrun/v1/operations/${key}/retry`);
    expect(retried.status).toBe(201);
    expect(retried.body.id).not.toBe(r.id);
    expect(retried.body).toMatchObject({ collection: r.scope, handler: 'flaky', retryOf: key });
    expect(retried.body.statusDetail).toBe(`Retry of operation '${r.id}'.`);
    expect(retried.headers.get('location')).toContain(`/longrun/v1/operations/${retried.body.key}`);
    const done = await waitFor(retried.body.key, (d) => d.status === 'succeeded');
    expect((done.operation as { resourceLocation: string }).resourceLocation).toBe(
      'https://example.test/done',
    );
    // The original stays failed: terminal states never change.
    expect((await call('GET', `/longrun/v1/operations/${key}`)).body.status).toBe('failed');
  });

  it('shows the checkpoint the last attempt saved', async () => {
    const r = await start('saves-then-fails', '/operations');
    const d = await waitFor(encode(r.scope, r.id), (x) => x.status === 'failed');
    expect(d.checkpoint).toEqual({ page: 7 });
    expect(d.error).toMatchObject({ message: 'stopped after page 7' });
  });

  it('counts what a bulk cancel selects before doing it, then cancels exactly that', async () => {
    const slow = [];
    for (let i = 0; i < 3; i++)
      slow.push(await start('slow', '/employeeExperience/engagementAsyncOperations'));
    const filter = { handler: ['slow'], family: ['engagement'] };
    const dry = await call('POST', '/longrun/v1/operations/bulk', { action: 'cancel', filter, dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ matched: 3, done: 0, dryRun: true });
    const real = await call('POST', '/longrun/v1/operations/bulk', { action: 'cancel', filter });
    expect(real.body).toMatchObject({ matched: 3, done: 3, more: false, skipped: [] });
    for (const r of slow) await waitFor(encode(r.scope, r.id), (d) => d.status === 'canceled');
    const again = await call('POST', '/longrun/v1/operations/bulk', {
      action: 'cancel',
      filter,
      dryRun: true,
    });
    expect(again.body.matched).toBe(0);
    // Deleting selects finished operations only.
    const del = await call('POST', '/longrun/v1/operations/bulk', { action: 'delete', filter });
    expect(del.body).toMatchObject({ matched: 3, done: 3 });
    expect((await call('GET', '/longrun/v1/operations?handler=slow&count=true')).body.count).toBe(0);
    const bad = await call('POST', '/longrun/v1/operations/bulk', { action: 'explode', filter });
    expect(bad.status).toBe(400);
    expect(bad.body.error.target).toBe('action');
  });

  it('is described in the OpenAPI document, guarded by LongRun.Admin', async () => {
    const doc = (await call('GET', '/openapi.json', undefined, '')).body;
    for (const [path, method] of [
      ['/longrun/v1/overview', 'get'],
      ['/longrun/v1/operations', 'get'],
      ['/longrun/v1/operations/bulk', 'post'],
      ['/longrun/v1/operations/{key}', 'get'],
      ['/longrun/v1/operations/{key}/retry', 'post'],
    ]) {
      expect(doc.paths[path]?.[method]?.['x-longrun-permissions'], `${method} ${path}`).toEqual({
        delegated: ['LongRun.Admin'],
        application: ['LongRun.Admin'],
      });
    }
  });

  it('gives an overview whose counts match the list', async () => {
    const res = await call('GET', '/longrun/v1/overview');
    expect(res.status).toBe(200);
    const o = res.body;
    for (const f of o.families as { family: string; counts: Record<string, number>; total: number }[]) {
      const listed = await call('GET', `/longrun/v1/operations?family=${f.family}&count=true&top=1`);
      expect(f.total, f.family).toBe(listed.body.count);
      for (const [status, n] of Object.entries(f.counts)) {
        const byStatus = await call(
          'GET',
          `/longrun/v1/operations?family=${f.family}&status=${status}&count=true&top=1`,
        );
        expect(n, `${f.family} ${status}`).toBe(byStatus.body.count);
      }
    }
    const flaky = (o.handlers as { handler: string; counts: Record<string, number> }[]).find(
      (h) => h.handler === 'flaky',
    );
    expect(flaky?.counts).toMatchObject({ failed: 1, succeeded: 1 });
    const everything = await call('GET', '/longrun/v1/operations?count=true&top=1');
    expect(o.lastHour.totals.created).toBe(everything.body.count);
    expect(o.lastDay.totals.created).toBe(everything.body.count);
    expect(o.lastHour.buckets.reduce((n: number, b: { created: number }) => n + b.created, 0)).toBe(
      everything.body.count,
    );
    expect(o.lastHour.totals.durationP50Ms).toBeGreaterThanOrEqual(0);
    expect(o.lastHour.totals.durationP95Ms).toBeGreaterThanOrEqual(o.lastHour.totals.durationP50Ms);
    expect(o.latestFailures.map((f: { handler: string }) => f.handler)).toEqual([
      'saves-then-fails',
      'flaky',
    ]);
    expect(o.latestFailures[1]).toMatchObject({
      handler: 'flaky',
      error: { message: 'The upstream dependency is down.' },
    });
  });
});

function encode(scope: string, id: string): string {
  return Buffer.from(JSON.stringify([scope, id]), 'utf8').toString('base64url');
}
