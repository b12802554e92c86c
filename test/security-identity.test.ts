/**
 * Issue 13 (items 1, 2, 9) and issue 16 (item 1): identity is the object id; a user directory shared by
 * every node and kept across restarts maps UPNs to object ids; subscriptions belong to their creator.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAuthConfig, type JwtAuthConfig } from '../src/auth/config.js';
import { ADMIN_ROLE_TEMPLATE_IDS } from '../src/auth/permissions.js';
import { mintToken } from '../src/auth/tokens.js';
import { securityFor } from '../src/cli/auth-options.js';
import { createLongrun, type Longrun } from '../src/longrun.js';
import { freshDatabase } from './support/pg.js';
import { CLI, startServerProcess, waitForExit, type ServerProcess } from './support/process.js';

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
const TENANT = '11111111-1111-4111-8111-111111111111';
const BOB = 'b0b00000-0000-4000-8000-000000000b0b';
const MALLORY = 'bad00000-0000-4000-8000-00000000bad0';
const ALICE = 'a11ce000-0000-4000-8000-00000000a11c';
const FRANK = { id: 'f4a4c000-0000-4000-8000-00000000f4a4', upn: 'frank@contoso.com' };
const RW = 'UserAuthenticationMethod.ReadWrite';

let dir: string;
let config: JwtAuthConfig;
let admin: string;

/** Signs any claims with the server's secret (mintToken only sets the claims longrun itself uses). */
const sign = (claims: Record<string, unknown>) =>
  new SignJWT({ tid: TENANT, exp: Math.floor(Date.now() / 1000) + 3600, ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(config.issuer as string)
    .setAudience(config.audience as string)
    .sign(config.secret!);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'longrun-identity-'));
  config = (await resolveAuthConfig({}, {}, dir)) as JwtAuthConfig; // the dev key: HS256, issuer, audience
  admin = await mintToken(config, {
    tid: TENANT,
    oid: 'ad000000-0000-4000-8000-0000000000ad',
    upn: 'admin@contoso.com',
    scopes: ['UserAuthenticationMethod.ReadWrite.All', 'LongRun.ReadWrite.All'],
    wids: [ADMIN_ROLE_TEMPLATE_IDS.authenticationAdministrator],
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function startNode(dbFile: string, extra: Parameters<typeof createLongrun>[0] = {}) {
  const node = await createLongrun({ dbFile, security: securityFor(config), worker: false, ...extra });
  const url = await node.listen(0, '127.0.0.1');
  const call = (
    token: string,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) =>
    fetch(url + path, {
      method,
      headers: {
        ...headers,
        authorization: `Bearer ${token}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  return { node, url, call };
}

describe('identity is the object id', () => {
  it("a token's preferred_username never makes another user's operations its own, before or after a restart", async () => {
    const dbFile = join(dir, 'takeover.db');
    let { node, call } = await startNode(dbFile);
    const bob = await sign({ scp: RW, oid: BOB, upn: 'bob@contoso.com' });
    expect((await call(bob, 'POST', '/v1.0/me/authentication/operations', { id: 'bob-op' })).status).toBe(
      201,
    );

    for (const preferred of [BOB, 'bob@contoso.com']) {
      const mallory = await sign({ scp: RW, oid: MALLORY, preferred_username: preferred });
      expect((await call(mallory, 'GET', '/v1.0/me/authentication/operations/bob-op')).status).toBe(404);
      const patched = await call(mallory, 'PATCH', '/v1.0/me/authentication/operations/bob-op', {
        statusDetail: 'mine now',
      });
      expect(patched.status).toBe(404);
      for (const key of [BOB, 'bob@contoso.com']) {
        const res = await call(mallory, 'GET', `/v1.0/users/${key}/authentication/operations/bob-op`);
        expect(res.status, key).toBe(403);
      }
    }

    await node.close();
    ({ node, call } = await startNode(dbFile));
    const mine = await call(bob, 'GET', '/v1.0/me/authentication/operations/bob-op');
    expect(mine.status).toBe(200);
    expect(((await mine.json()) as { statusDetail: unknown }).statusDetail).toBeNull();
    await node.close();
  });

  it('a token never rebinds a UPN that belongs to another object id', async () => {
    const { node, call } = await startNode(join(dir, 'rebind.db'));
    const alice = await sign({ scp: RW, oid: ALICE, upn: 'alice@contoso.com' });
    expect((await call(alice, 'POST', '/v1.0/me/authentication/operations', { id: 'a1' })).status).toBe(201);
    // Mallory's token claims Alice's UPN: she does not become Alice, and Alice keeps her name.
    const mallory = await sign({ scp: RW, oid: MALLORY, upn: 'Alice@Contoso.com' });
    expect(
      (await call(mallory, 'GET', '/v1.0/users/alice@contoso.com/authentication/operations/a1')).status,
    ).toBe(403);
    expect((await call(mallory, 'GET', '/v1.0/me/authentication/operations/a1')).status).toBe(404);
    expect(
      (await call(admin, 'GET', `/v1.0/users/alice@contoso.com/authentication/operations/a1`)).status,
    ).toBe(200);
    expect((await call(alice, 'GET', '/v1.0/me/authentication/operations/a1')).status).toBe(200);
    await node.close();
  });

  it('refuses a token without a tenant (401)', async () => {
    const { node, call } = await startNode(join(dir, 'tid.db'));
    for (const tid of [undefined, '', 7]) {
      const token = await sign({ scp: 'LongRun.ReadWrite.All', oid: ALICE, tid });
      const res = await call(token, 'GET', '/v1.0/operations');
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthenticated');
    }
    await node.close();
  });
});

describe("idempotency keys are the caller's own", () => {
  it("one user's key neither blocks another's nor tells them it was used", async () => {
    const { node, call } = await startNode(join(dir, 'idem.db'));
    const [alice, bob] = await Promise.all(
      [ALICE, BOB].map((oid) => sign({ scp: 'Community.ReadWrite.All', oid })),
    );
    const headers = { 'idempotency-key': 'shared-key' };
    const start = (token: string, displayName: string) =>
      call(
        token,
        'POST',
        '/v1.0/employeeExperience/communities',
        { displayName, description: 'x', privacy: 'private' },
        headers,
      );
    const first = await start(alice, 'Alice community');
    const other = await start(bob, 'Bob community');
    expect(first.status).toBe(202);
    expect(other.status).toBe(202);
    expect(other.headers.get('location')).not.toBe(first.headers.get('location'));
    // Each caller's own replay still finds their own operation.
    const replay = await start(alice, 'Alice community');
    expect(replay.headers.get('location')).toBe(first.headers.get('location'));
    const reuse = await start(bob, 'Another');
    expect(reuse.status).toBe(409);
    await node.close();
  });
});

describe('subscriptions belong to their creator', () => {
  let node: Longrun;
  let receiver: Server;
  let hook: string;
  let call: Awaited<ReturnType<typeof startNode>>['call'];
  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const token = new URL(req.url!, 'http://x').searchParams.get('validationToken');
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end(token ?? ''));
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hook = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
    ({ node, call } = await startNode(join(dir, 'subs.db'), {
      webhooks: { allowPrivateNetworks: true, allowHttp: true },
    }));
  });
  afterAll(async () => {
    await node.close();
    await new Promise((r) => receiver.close(r));
  });

  it("hides Alice's subscription from Bob exactly like a missing one, and shows clientState to Alice only", async () => {
    const alice = await sign({ scp: RW, oid: ALICE, upn: 'alice@contoso.com' });
    const bob = await sign({ scp: 'UserAuthenticationMethod.Read', oid: BOB, upn: 'bob@contoso.com' });
    const created = await call(alice, 'POST', '/v1.0/subscriptions', {
      changeType: 'updated',
      notificationUrl: hook,
      resource: '/me/authentication/operations',
      expirationDateTime: new Date(Date.now() + 3_600_000).toISOString(),
      clientState: 'alice-secret',
    });
    expect(created.status).toBe(201);
    const sub = (await created.json()) as { id: string; clientState: string };
    expect(sub.clientState).toBe('alice-secret');

    const listed = (await (await call(bob, 'GET', '/v1.0/subscriptions')).json()) as { value: unknown[] };
    expect(listed.value).toEqual([]);
    const missingId = '00000000-0000-4000-8000-000000000000';
    for (const [method, body] of [
      ['GET', undefined],
      ['PATCH', { expirationDateTime: new Date(Date.now() + 7_200_000).toISOString() }],
      ['DELETE', undefined],
    ] as const) {
      const hidden = await call(bob, method, `/v1.0/subscriptions/${sub.id}`, body);
      const missing = await call(bob, method, `/v1.0/subscriptions/${missingId}`, body);
      expect(hidden.status, method).toBe(404);
      expect(missing.status, method).toBe(404);
      const h = ((await hidden.json()) as { error: { code: string; message: string } }).error;
      const m = ((await missing.json()) as { error: { code: string; message: string } }).error;
      expect(h.code).toBe(m.code);
      expect(h.message.replace(sub.id, missingId)).toBe(m.message);
      expect(h.message).not.toContain('\u0000');
    }

    // An administrator of the tenant sees it, without the creator's clientState.
    const adminApp = await sign({ roles: ['LongRun.Admin'], appid: 'ops-console', oid: 'sp-1' });
    const seen = await call(adminApp, 'GET', `/v1.0/subscriptions/${sub.id}`);
    expect(seen.status).toBe(200);
    expect(((await seen.json()) as { clientState: unknown }).clientState).toBeNull();

    // Alice, its creator, still reads, renews and deletes it.
    expect((await call(alice, 'GET', `/v1.0/subscriptions/${sub.id}`)).status).toBe(200);
    const renewed = await call(alice, 'PATCH', `/v1.0/subscriptions/${sub.id}`, {
      expirationDateTime: new Date(Date.now() + 7_200_000).toISOString(),
    });
    expect(renewed.status).toBe(200);
    expect((await call(alice, 'DELETE', `/v1.0/subscriptions/${sub.id}`)).status).toBe(204);
  });
});

describe('the user directory is shared and durable (PostgreSQL, two nodes)', () => {
  const started: ServerProcess[] = [];
  afterAll(async () => {
    for (const p of started) {
      p.child.kill('SIGKILL');
      await waitForExit(p.child);
    }
  });
  const serve = async (db: string, args: string[] = []) => {
    const p = await startServerProcess(['--postgres', db, '--no-workers', '--log-level', 'warn', ...args], {
      LONGRUN_AUTH_SECRET: SECRET,
    });
    started.push(p);
    return p;
  };
  const as = async (token: string, url: string, method: string, path: string) =>
    fetch(url + path, { method, headers: { authorization: `Bearer ${token}` } });

  it(
    'reset by UPN, restart, read by object id on a second node once an operator imported the pair',
    { timeout: 120_000 },
    async () => {
      const db = await freshDatabase('directory');
      const secretConfig = await resolveAuthConfig({ authSecret: SECRET }, {}, dir);
      const adminToken = await mintToken(secretConfig, {
        tid: TENANT,
        oid: 'ad000000-0000-4000-8000-0000000000ad',
        scopes: ['UserAuthenticationMethod.ReadWrite.All'],
        wids: [ADMIN_ROLE_TEMPLATE_IDS.authenticationAdministrator],
      });
      const a = await serve(db);
      const reset = await as(
        adminToken,
        a.url,
        'POST',
        `/v1.0/users/${FRANK.upn}/authentication/methods/28c10230-6103-485e-b985-444c60001490/resetPassword`,
      );
      expect(reset.status).toBe(202);
      const location = new URL(reset.headers.get('location')!);
      const opId = decodeURIComponent(location.pathname.split('/').pop()!);
      a.child.kill('SIGKILL');
      await waitForExit(a.child);

      // The operator loads the directory (CSV), with no server running.
      const csv = join(dir, 'users.csv');
      writeFileSync(csv, `id,userPrincipalName\n${FRANK.id},Frank@Contoso.com\n`);
      const imported = await promisify(execFile)(process.execPath, [
        CLI,
        'users',
        'import',
        csv,
        '--tenant',
        TENANT,
        '--postgres',
        db,
      ]);
      expect(imported.stdout).toMatch(/1 users read, 1 pairs added or changed/);

      const [b, c] = [await serve(db), await serve(db)];
      for (const node of [b, c]) {
        for (const key of [FRANK.id, FRANK.upn, 'FRANK@contoso.com']) {
          const res = await as(
            adminToken,
            node.url,
            'GET',
            `/v1.0/users/${key}/authentication/operations/${opId}`,
          );
          expect(res.status, `${node.url} ${key}`).toBe(200);
        }
      }
      // Frank himself reads it through /me.
      const frank = await mintToken(secretConfig, {
        tid: TENANT,
        oid: FRANK.id,
        scopes: ['UserAuthenticationMethod.Read'],
      });
      expect((await as(frank, c.url, 'GET', `/v1.0/me/authentication/operations/${opId}`)).status).toBe(200);

      // A pair known before the reset files it under the object id at once: loaded at start with --directory.
      const json = join(dir, 'users.json');
      const GRACE = { id: '96ace000-0000-4000-8000-0000000096ac', userPrincipalName: 'grace@contoso.com' };
      writeFileSync(json, JSON.stringify({ value: [{ ...GRACE, tenantId: TENANT }] }));
      const d = await serve(db, ['--directory', json]);
      const graceReset = await as(
        adminToken,
        d.url,
        'POST',
        `/v1.0/users/${GRACE.userPrincipalName}/authentication/methods/m1/resetPassword`,
      );
      expect(graceReset.status).toBe(202);
      const graceOp = decodeURIComponent(
        new URL(graceReset.headers.get('location')!).pathname.split('/').pop()!,
      );
      expect(
        (await as(adminToken, b.url, 'GET', `/v1.0/users/${GRACE.id}/authentication/operations/${graceOp}`))
          .status,
      ).toBe(200);
    },
  );
});
