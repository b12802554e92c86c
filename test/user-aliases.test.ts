/**
 * /users/{upn} and /users/{object id} address the same user's operations, also for operations filed under
 * the UPN before the service saw a token telling it which object id the UPN belongs to.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAuthConfig, type AuthConfig } from '../src/auth/config.js';
import { ADMIN_ROLE_TEMPLATE_IDS } from '../src/auth/permissions.js';
import { mintToken } from '../src/auth/tokens.js';
import { securityFor } from '../src/cli/auth-options.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { freshDatabase } from './support/pg.js';
import { startTestServer, type TestServer } from './support/server.js';

const TENANT = '11111111-1111-1111-1111-111111111111';
const ALICE = { oid: 'aaaaaaaa-0000-0000-0000-00000000a11c', upn: 'Alice@Contoso.com' };
let dir: string;
let config: AuthConfig;
let admin: string;
let alice: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'longrun-alias-'));
  config = await resolveAuthConfig({ authSecret: 'a-test-secret-that-is-at-least-32-bytes-long' }, {}, dir);
  admin = await mintToken(config, {
    tid: TENANT,
    oid: 'bbbbbbbb-0000-0000-0000-0000000000ad',
    upn: 'admin@contoso.com',
    scopes: ['UserAuthenticationMethod.ReadWrite.All'],
    wids: [ADMIN_ROLE_TEMPLATE_IDS.authenticationAdministrator],
  });
  alice = await mintToken(config, { tid: TENANT, ...ALICE, scopes: ['UserAuthenticationMethod.Read'] });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(['sqlite', 'postgres'])('user keys on %s', (kind) => {
  let server: TestServer;
  beforeAll(async () => {
    const store =
      kind === 'postgres' ? new PostgresStore({ connectionString: await freshDatabase('alias') }) : undefined;
    server = await startTestServer({ store, security: securityFor(config), worker: false });
  });
  afterAll(() => server.close());
  const call = (token: string, method: string, path: string, body?: unknown) =>
    server.request(method, path, { headers: { authorization: `Bearer ${token}` }, body });

  it('keeps operations filed under a UPN reachable once the UPN is known to belong to an object id', async () => {
    const created = await call(admin, 'POST', `/v1.0/users/${ALICE.upn}/authentication/operations`, {
      id: 'early',
    });
    expect(created.status).toBe(201);
    // Alice's first request teaches the service her object id.
    const mine = await call(alice, 'GET', '/v1.0/me/authentication/operations/early');
    expect(mine.status).toBe(200);
    for (const key of [ALICE.oid, ALICE.upn, ALICE.upn.toLowerCase()]) {
      const res = await call(admin, 'GET', `/v1.0/users/${key}/authentication/operations/early`);
      expect(res.status, key).toBe(200);
    }
    const list = (await (
      await call(admin, 'GET', `/v1.0/users/${ALICE.oid}/authentication/operations`)
    ).json()) as {
      value: { id: string }[];
    };
    expect(list.value.map((o) => o.id)).toContain('early');
  });
});
