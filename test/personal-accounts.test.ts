/**
 * Issue 16, item 3: Graph's permission tables say "Delegated (personal Microsoft account): Not
 * supported" for every Graph family longrun serves (seed 004 for the authentication operations; the
 * SharePoint, role-alert, industry-data, attack-simulation and Viva Engage pages likewise). A delegated
 * token from the consumer tenant gets 403 with the Graph envelope on every route of those families, even
 * with every permission; the same token is accepted on longrun's own `/operations`, and a work account
 * with the same claims is accepted everywhere.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAuthConfig } from '../src/auth/config.js';
import { ADMIN_ROLE_TEMPLATE_IDS } from '../src/auth/permissions.js';
import { securityFor } from '../src/cli/auth-options.js';
import { startTestServer, type TestServer } from './support/server.js';

const SECRET = 'personal-accounts-test-secret-0123456789-abcdefgh';
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'api://longrun';
const CONSUMERS = '9188040d-6c67-4c5b-b112-36a304b66dad';
const WORK_TENANT = 'aaaaaaaa-0000-4000-8000-00000000000a';
const OID = '00000000-0000-0000-4b1c-0123456789ab';
const UPN = 'frank@outlook.com';

const SCOPES = [
  'UserAuthenticationMethod.ReadWrite.All',
  'RoleManagementAlert.ReadWrite.Directory',
  'IndustryData-DataConnector.ReadWrite.All',
  'IndustryData.ReadBasic.All',
  'AttackSimulation.ReadWrite.All',
  'Community.ReadWrite.All',
  'Sites.FullControl.All',
  'LongRun.ReadWrite.All',
];

function token(tid: string): Promise<string> {
  return new SignJWT({
    oid: OID,
    tid,
    upn: UPN,
    scp: SCOPES.join(' '),
    wids: [ADMIN_ROLE_TEMPLATE_IDS.globalAdministrator],
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(OID)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
}

/** One read and one start (or create) per Graph family: what a personal account may not call. */
const GRAPH_ROUTES: { method: string; path: string; body?: unknown }[] = [
  { method: 'GET', path: `/v1.0/users/${OID}/authentication/operations` },
  { method: 'GET', path: '/v1.0/me/authentication/operations/some-id' },
  { method: 'POST', path: '/v1.0/users/bob@contoso.com/authentication/methods/m1/resetPassword', body: {} },
  { method: 'GET', path: '/beta/identityGovernance/roleManagementAlerts/operations' },
  { method: 'POST', path: '/beta/identityGovernance/roleManagementAlerts/alerts/a1/refresh' },
  { method: 'GET', path: '/beta/external/industryData/operations' },
  { method: 'POST', path: '/beta/external/industryData/dataConnectors/c1/validate' },
  { method: 'GET', path: '/v1.0/security/attackSimulation/operations' },
  { method: 'POST', path: '/v1.0/security/attackSimulation/simulations', body: { displayName: 'x' } },
  { method: 'GET', path: '/v1.0/employeeExperience/engagementAsyncOperations' },
  { method: 'GET', path: '/v1.0/sites/s1/operations' },
  { method: 'GET', path: '/v1.0/sites/s1/lists/l1/operations' },
  {
    method: 'POST',
    path: '/v1.0/sites/s1/contentTypes/addCopyFromContentTypeHub',
    body: { contentTypeId: '0x0101' },
  },
  { method: 'GET', path: "/beta/sites/getOperationStatus(operationId='x')" },
];

let server: TestServer;
let keyDir: string;
const tokens: Record<'personal' | 'work', string> = { personal: '', work: '' };

beforeAll(async () => {
  keyDir = await mkdtemp(join(tmpdir(), 'longrun-msa-'));
  const config = await resolveAuthConfig(
    { authSecret: SECRET, authIssuer: ISSUER, authAudience: AUDIENCE },
    {},
    keyDir,
  );
  server = await startTestServer({ security: securityFor(config), worker: false, retention: false });
  tokens.personal = await token(CONSUMERS);
  tokens.work = await token(WORK_TENANT);
});
afterAll(async () => {
  await server.close();
  await rm(keyDir, { recursive: true, force: true });
});

function call(route: { method: string; path: string; body?: unknown }, who: 'personal' | 'work') {
  return server.request(route.method, route.path, {
    headers: { authorization: `Bearer ${tokens[who]}` },
    body: route.body,
  });
}

describe('a personal Microsoft account (tid = the consumer tenant)', () => {
  for (const route of GRAPH_ROUTES) {
    it(`is refused on ${route.method} ${route.path} with 403 accessDenied`, async () => {
      const res = await call(route, 'personal');
      expect(res.status).toBe(403);
      const body = (await res.json()) as { error: { code: string; message: string; innerError: object } };
      expect(body.error.code).toBe('accessDenied');
      expect(body.error.message).toMatch(/personal Microsoft accounts are not supported/i);
      expect(body.error.innerError).toHaveProperty('request-id');

      // The same claims from a work or school tenant pass the check (whatever the route then answers).
      const work = await call(route, 'work');
      expect(work.status, await work.text()).not.toBe(403);
    });
  }

  it("is accepted on longrun's own /operations, which Graph's tables do not cover", async () => {
    const created = await call({ method: 'POST', path: '/v1.0/operations', body: {} }, 'personal');
    expect(created.status).toBe(201);
    expect((await call({ method: 'GET', path: '/v1.0/operations' }, 'personal')).status).toBe(200);
  });
});
