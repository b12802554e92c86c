/**
 * The library surface (src/library/, exported by src/index.ts) against a real node: a real SQLite file,
 * real workers, real HTTP on a real port. Typed handlers with TypeBox inputs, handles (get, cancel, wait
 * on the change feed), progress for types with and without a percentage, your own actions answering like
 * Graph's (202, absolute Location honouring publicUrl, Retry-After, Idempotency-Key, 400s that store
 * nothing, permissions with jwtAuth), and the loopback-only default.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { SignJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createLongrun,
  defineHandler,
  InvalidInputError,
  jwtAuth,
  longrunPlugin,
  PermanentError,
  Type,
  WaitTimeoutError,
  type CreateLongrunOptions,
  type AnyHandler,
  type LongrunNode,
  type Operation,
  type OperationHandle,
} from '../src/index.js';

const FAST = { pollIntervalMs: 20, retryBaseMs: 10, retryCapMs: 50, leaseMs: 5000, progressIntervalMs: 10 };
const dirs: string[] = [];
const nodes: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const n of nodes) await n.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function node<const H extends readonly AnyHandler[]>(
  options: CreateLongrunOptions<H>,
): Promise<LongrunNode<H>> {
  const dir = mkdtempSync(join(tmpdir(), 'longrun-lib-'));
  dirs.push(dir);
  const n = await createLongrun({ dbFile: join(dir, 'l.db'), retention: false, worker: FAST, ...options });
  nodes.push(n);
  return n;
}

/** Reads the operation until `check` holds (progress writes are coalesced, so they land a little later). */
async function until(op: OperationHandle, check: (o: Operation) => boolean): Promise<Operation> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const o = await op.get();
    if (check(o) || Date.now() > deadline) return o;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A gate a handler waits on, opened by the test: progress is observed at a known point, not by timing. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe('typed handlers and handles', () => {
  it('start checks the input, get shows the Graph view, wait resolves with the terminal operation', async () => {
    const step = gate();
    const reached = gate();
    const exportReport = defineHandler({
      name: 'export-report',
      input: Type.Object({ reportId: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
      async run(ctx) {
        ctx.progress(40, 'rendering');
        reached.open();
        await step.opened;
        return { resourceLocation: `https://example.com/reports/${ctx.input.reportId}` };
      },
    });
    const n = await node({ handlers: [exportReport] });

    const bad = await n.start('export-report', { reportId: 7 } as never).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(InvalidInputError);
    expect((bad as InvalidInputError).status).toBe(400);
    expect((bad as Error).message).toMatch(/'reportId'/);

    const op = await n.start('export-report', { reportId: 'r1' });
    expect(op.location).toBe(`/v1.0/operations/${op.id}`);
    await reached.opened;
    // The progress write is coalesced: wait for it through the change feed.
    const seen = await until(op, (o) => (o as any).percentageComplete === 40);
    expect(seen).toMatchObject({
      '@odata.type': '#microsoft.graph.richLongRunningOperation',
      id: op.id,
      status: 'running',
      statusDetail: 'rendering',
      percentageComplete: 40,
    });
    for (const internal of ['fencingToken', 'leaseOwner', 'input', 'seq', 'tenantId', 'scope', 'handler'])
      expect(seen).not.toHaveProperty(internal);
    step.open();
    const done = await op.wait({ timeoutMs: 20_000 });
    expect(done).toMatchObject({
      status: 'succeeded',
      resourceLocation: 'https://example.com/reports/r1',
      percentageComplete: 100,
    });
    // A handle from the location reads the same operation.
    expect(await n.operation(op.location).get()).toMatchObject({ id: op.id, status: 'succeeded' });
  });

  it('cancel aborts the handler signal and the operation ends canceled; wait times out with the last state', async () => {
    const started = gate();
    let aborted = false;
    const n = await node({
      handlers: [
        defineHandler({
          name: 'long',
          async run({ signal }) {
            started.open();
            await new Promise<void>((resolve) =>
              signal.addEventListener('abort', () => ((aborted = true), resolve()), { once: true }),
            );
            throw signal.reason;
          },
        }),
      ],
    });
    const op = await n.start('long', null);
    await started.opened;
    const late = await op.wait({ timeoutMs: 1 }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(WaitTimeoutError);
    expect((late as WaitTimeoutError).operation.status).toBe('running');
    await op.cancel();
    const end = await op.wait({ timeoutMs: 20_000 });
    expect(end.status).toBe('canceled');
    expect(aborted).toBe(true);
  });

  it('progress on a type without a percentage goes into statusDetail', async () => {
    const step = gate();
    const reached = gate();
    const n = await node({
      handlers: [
        defineHandler({
          name: 'base',
          type: 'longRunningOperation',
          async run(ctx) {
            ctx.progress(55, 'halfway');
            reached.open();
            await step.opened;
          },
        }),
      ],
    });
    const op = await n.start('base', undefined);
    await reached.opened;
    const seen = await until(op, (o) => o.statusDetail === '55% halfway');
    expect(seen.statusDetail).toBe('55% halfway');
    expect(seen['@odata.type']).toBe('#microsoft.graph.longRunningOperation');
    step.open();
    expect((await op.wait()).status).toBe('succeeded');
  });

  it('a PermanentError fails the operation at once', async () => {
    const n = await node({
      handlers: [
        defineHandler({
          name: 'reject',
          maxAttempts: 5,
          async run() {
            throw new PermanentError('no such report', 'reportNotFound');
          },
        }),
      ],
    });
    const end = await (await n.start('reject', {})).wait();
    expect(end).toMatchObject({
      status: 'failed',
      error: { code: 'reportNotFound', message: 'no such report' },
    });
  });
});

describe('your own actions over HTTP', () => {
  const exportReport = defineHandler({
    name: 'export-report',
    input: Type.Object({
      reportId: Type.String(),
      format: Type.Union([Type.Literal('pdf'), Type.Literal('csv')]),
    }),
    async run(ctx) {
      ctx.progress(50);
      return { resourceLocation: `https://example.com/reports/${ctx.input.reportId}.${ctx.input.format}` };
    },
  });

  it('answers 202 with absolute Location (publicUrl), Retry-After; replays Idempotency-Key; refuses bad bodies', async () => {
    const n = await node({
      handlers: [exportReport],
      publicUrl: 'https://api.example.com',
      retryAfterSeconds: 2,
      actions: [
        {
          method: 'POST',
          path: '/reports/{reportId}/export',
          handler: 'export-report',
          input: ({ params, body }) => ({
            reportId: params.reportId,
            format: (body as { format: 'pdf' | 'csv' }).format,
          }),
        },
      ],
    });
    const url = await n.listen();
    const post = (version: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${url}/${version}/reports/r%201/export`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });

    const res = await post('v1.0', { format: 'pdf' });
    expect(res.status).toBe(202);
    const location = res.headers.get('location')!;
    expect(location).toMatch(/^https:\/\/api\.example\.com\/v1\.0\/operations\/[0-9a-f-]{36}$/);
    expect(res.headers.get('operation-location')).toBe(location);
    expect(res.headers.get('retry-after')).toBe('2');
    const path = new URL(location).pathname;
    const end = await n.operation(location).wait({ timeoutMs: 20_000 });
    expect(end).toMatchObject({
      status: 'succeeded',
      resourceLocation: 'https://example.com/reports/r 1.pdf',
    });
    const read = await fetch(`${url}${path}`);
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ status: 'succeeded', percentageComplete: 100 });

    // beta too
    expect((await post('beta', { format: 'csv' })).headers.get('location')).toMatch(/\/beta\/operations\//);

    // Idempotency-Key: the same request returns the same operation; another request with it is a 409.
    const k1 = await post('v1.0', { format: 'csv' }, { 'Idempotency-Key': 'k-1' });
    const k2 = await post('v1.0', { format: 'csv' }, { 'Idempotency-Key': 'k-1' });
    expect(k2.status).toBe(202);
    expect(k2.headers.get('location')).toBe(k1.headers.get('location'));
    const k3 = await post('v1.0', { format: 'pdf' }, { 'Idempotency-Key': 'k-1' });
    expect(k3.status).toBe(409);

    // Bad bodies: 400 in Graph's envelope, and nothing stored.
    const before = Number(await (await fetch(`${url}/v1.0/operations/$count`)).text());
    // `undefined`: the mapping reads body.format and throws, which is the request's fault (400, not 500).
    for (const body of [{ format: 'doc' }, undefined, [1], { format: 1 }]) {
      const r = await post('v1.0', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      const e: any = await r.json();
      expect(e.error.code).toBe('invalidRequest');
      expect(typeof e.error.message).toBe('string');
    }
    const malformed = await fetch(`${url}/v1.0/reports/x/export`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"format":',
    });
    expect(malformed.status).toBe(400);
    // A NUL in a path parameter (PostgreSQL can't store one) is the request's fault.
    const nul = await fetch(`${url}/v1.0/reports/a%00b/export`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"format":"pdf"}',
    });
    expect(nul.status).toBe(400);
    expect(((await nul.json()) as any).error.message).toMatch(/reportId/);
    expect(Number(await (await fetch(`${url}/v1.0/operations/$count`)).text())).toBe(before);
  });

  it('following the Location over HTTP shows the progress, then succeeded with the resourceLocation', async () => {
    const reached = gate();
    const release = gate();
    const render = defineHandler({
      name: 'render',
      input: Type.Object({ id: Type.String() }),
      async run(ctx) {
        ctx.progress(40, 'rendering');
        reached.open();
        await release.opened;
        return { resourceLocation: `https://example.com/renders/${ctx.input.id}` };
      },
    });
    const n = await node({
      handlers: [render],
      actions: [
        {
          method: 'POST',
          path: '/renders/{id}',
          handler: 'render',
          input: ({ params }) => ({ id: params.id }),
        },
      ],
    });
    const url = await n.listen();
    const res = await fetch(`${url}/v1.0/renders/x1`, { method: 'POST' });
    expect(res.status).toBe(202);
    const location = res.headers.get('location')!;
    expect(location).toMatch(new RegExp(`^${url}/v1\\.0/operations/`));
    await reached.opened;
    const deadline = Date.now() + 20_000;
    let body: any;
    do {
      body = await (await fetch(location)).json();
      if (body.percentageComplete !== 40) await new Promise((r) => setTimeout(r, 10));
    } while (body.percentageComplete !== 40 && Date.now() < deadline);
    expect(body).toMatchObject({ status: 'running', percentageComplete: 40, statusDetail: 'rendering' });
    release.open();
    // Prefer: wait holds the read until the status changes.
    const end: any = await (await fetch(location, { headers: { Prefer: 'wait=20' } })).json();
    expect(end).toMatchObject({ status: 'succeeded', resourceLocation: 'https://example.com/renders/x1' });
  });

  it('with jwtAuth: 401 without a token, 403 without the named permission, 202 with it', async () => {
    const secret = 'library-test-secret-0123456789-abcdefghijklmnop';
    const n = await node({
      handlers: [exportReport],
      auth: jwtAuth({ secret, issuer: 'https://issuer.example', audience: 'api://reports' }),
      actions: [
        {
          method: 'POST',
          path: '/reports/{reportId}/export',
          handler: 'export-report',
          permission: 'Reports.Export',
          input: ({ params }) => ({ reportId: params.reportId, format: 'pdf' }),
        },
      ],
    });
    const url = await n.listen();
    const token = (roles: string[]) =>
      new SignJWT({ roles, tid: 't1', azp: 'app-1' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('https://issuer.example')
        .setAudience('api://reports')
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode(secret));
    const post = (auth?: string) =>
      fetch(`${url}/v1.0/reports/r1/export`, {
        method: 'POST',
        headers: auth ? { authorization: `Bearer ${auth}` } : {},
      });
    const none = await post();
    expect(none.status).toBe(401);
    expect(((await none.json()) as any).error.code).toBe('unauthenticated');
    expect((await post(await token(['LongRun.ReadWrite.All']))).status).toBe(403);
    const ok = await post(await token(['Reports.Export']));
    expect(ok.status).toBe(202);
    // The operation is filed in the caller's tenant: a handle needs that tenant.
    const end = await n
      .operation(ok.headers.get('location')!, { tenantId: 't1' })
      .wait({ timeoutMs: 20_000 });
    expect(end.status).toBe('succeeded');
  });
});

describe('safe by default', () => {
  it('without auth, listen on 0.0.0.0 throws and says how to pass auth', async () => {
    const n = await node({});
    const e = await n.listen(0, '0.0.0.0').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toMatch(
      /no 'auth'.*jwtAuth\(\{ secret \| publicKey \| jwksUrl, issuer, audience \}\).*auth: 'none'/s,
    );
    await expect(n.listen(0, '::')).rejects.toThrow(/no 'auth'/);
  });

  it('without auth, requests from other addresses are refused even if the app is served directly', async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    const n = await node({});
    await n.app.listen({ port: 0, host: '0.0.0.0' });
    const port = (n.app.server.address() as { port: number }).port;
    expect((await fetch(`http://127.0.0.1:${port}/v1.0/operations`)).status).toBe(200);
    if (external) {
      const res = await fetch(`http://${external}:${port}/v1.0/operations`);
      expect(res.status).toBe(403);
      expect(((await res.json()) as any).error.code).toBe('accessDenied');
    }
  });

  it("auth: 'none' may listen anywhere, with a warning", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const n = await node({ auth: 'none' });
      const url = await n.listen(0, '0.0.0.0');
      expect(url).toMatch(/^http:\/\//);
      await new Promise((r) => setImmediate(r));
      expect(warnings.join('\n')).toMatch(/authentication is OFF/);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('longrunPlugin in an existing Fastify app', () => {
  it('serves the Graph routes and your actions beside the host app’s own routes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'longrun-plugin-'));
    dirs.push(dir);
    const host = Fastify();
    host.post('/echo', async (request) => ({ got: request.body }));
    const greet = defineHandler({
      name: 'greet',
      input: Type.Object({ who: Type.String() }),
      async run(ctx) {
        return { resourceLocation: `https://example.com/greetings/${ctx.input.who}` };
      },
    });
    await host.register(longrunPlugin, {
      dbFile: join(dir, 'p.db'),
      retention: false,
      worker: FAST,
      handlers: [greet],
      actions: [{ method: 'POST', path: '/greetings', handler: 'greet' }],
    });
    nodes.push({ close: () => host.close() });
    const url = await host.listen({ port: 0, host: '127.0.0.1' });

    const echo = await fetch(`${url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    expect(await echo.json()).toEqual({ got: { a: 1 } });

    const start = (body: string) =>
      fetch(`${url}/v1.0/greetings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    const bad = await start('{"who":3}');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.code).toBe('invalidRequest');
    const res = await start('{"who":"ada"}');
    expect(res.status).toBe(202);
    const location = res.headers.get('location')!;
    expect(location.startsWith(`${url}/v1.0/operations/`)).toBe(true);
    const end = await host.longrun.operation(location).wait({ timeoutMs: 20_000 });
    expect(end.resourceLocation).toBe('https://example.com/greetings/ada');
    const read = await fetch(location);
    expect(read.status).toBe(200);
    expect(((await read.json()) as any).status).toBe('succeeded');
  });
});
