/**
 * Issue 3's acceptance table: every operations route (collection and item routes of every family, under
 * /v1.0 and /beta where they exist, and every start action) × {no token, malformed, bad signature,
 * expired, wrong issuer, wrong audience, alg none, missing permission, lower permission, exact and higher
 * permission, own user, other user with and without an admin role, application token, other tenant},
 * asserting status and error code against a real server (real port, real SQLite file, real HS256 config).
 *
 * The permission names below are written out from reference/graph-contract.md §2 rather than read from
 * src/families/families.ts, so the table checks the implementation's data as well as its wiring.
 * Fixtures are made once (beforeAll); every row that changes something gets its own operation, so the rows
 * are independent of their order.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createHmac } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAuthConfig } from '../src/auth/config.js';
import { ADMIN_ROLE_TEMPLATE_IDS } from '../src/auth/permissions.js';
import { securityFor } from '../src/cli/auth-options.js';
import { FAMILIES, type FamilyName } from '../src/families/families.js';
import { ACTIONS } from '../src/http/actions/definitions.js';
import { startTestServer, type TestServer } from './support/server.js';

// ---------------------------------------------------------------------------------------------------------
// Identities and tokens

const SECRET = 'http-auth-test-secret-0123456789-abcdefghijklmnop';
const OTHER_SECRET = 'not-the-configured-secret-0123456789-abcdefghijk';
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'api://longrun';

const TID_A = 'aaaaaaaa-0000-4000-8000-00000000000a';
const TID_B = 'bbbbbbbb-0000-4000-8000-00000000000b';
const ALICE = { oid: 'a11ce000-0000-4000-8000-000000000001', upn: 'alice@contoso.com', tid: TID_A };
const BOB = { oid: 'b0b00000-0000-4000-8000-000000000002', upn: 'bob@contoso.com', tid: TID_A };
const CAROL = { oid: 'ca201000-0000-4000-8000-000000000003', upn: 'carol@contoso.com', tid: TID_A };
const MALLORY = { oid: 'ma110000-0000-4000-8000-000000000004', upn: 'mallory@fabrikam.com', tid: TID_B };
const APP_A = {
  oid: '5e000000-0000-4000-8000-00000000000a',
  azp: 'app00000-0000-4000-8000-00000000000a',
  tid: TID_A,
};
const APP_B = {
  oid: '5e000000-0000-4000-8000-00000000000b',
  azp: 'app00000-0000-4000-8000-00000000000b',
  tid: TID_B,
};
const WHO = { alice: ALICE, bob: BOB, carol: CAROL, mallory: MALLORY, app: APP_A, appB: APP_B } as const;
type Who = keyof typeof WHO;

const {
  globalAdministrator,
  globalReader,
  authenticationAdministrator,
  privilegedAuthenticationAdministrator,
} = ADMIN_ROLE_TEMPLATE_IDS;
/** User Administrator: a real directory role, but not one that opens other users' authentication operations. */
const USER_ADMINISTRATOR = 'fe930be7-5e62-47db-91af-98c3a49a38b1';

const UAM_READ = 'UserAuthenticationMethod.Read';
const UAM_READ_ALL = 'UserAuthenticationMethod.Read.All';
const UAM_READWRITE = 'UserAuthenticationMethod.ReadWrite';
const UAM_READWRITE_ALL = 'UserAuthenticationMethod.ReadWrite.All';

/** Everything, for fixtures and for "other tenant" callers (whose permissions must not matter). */
const ALL_SCOPES = [
  UAM_READWRITE_ALL,
  'RoleManagementAlert.ReadWrite.Directory',
  'IndustryData-DataConnector.ReadWrite.All',
  'AttackSimulation.ReadWrite.All',
  'Community.ReadWrite.All',
  'Sites.FullControl.All',
  'LongRun.ReadWrite.All',
];
const ALL_ROLES = ALL_SCOPES.filter((s) => !s.startsWith('UserAuthenticationMethod'));

interface TokenSpec {
  who: Who;
  scp?: string[];
  roles?: string[];
  wids?: string[];
}

const nowSec = () => Math.floor(Date.now() / 1000);

/** Signs the claims a token of `spec` carries; `tamper` overrides the parts a bad token gets wrong. */
function sign(
  spec: TokenSpec,
  tamper: { secret?: string; iss?: string; aud?: string; exp?: number; alg?: string; noExp?: boolean } = {},
): Promise<string> {
  const id = WHO[spec.who];
  const claims: Record<string, unknown> = { oid: id.oid, tid: id.tid };
  if ('upn' in id) claims.upn = id.upn;
  if ('azp' in id) claims.azp = id.azp;
  if (spec.scp) claims.scp = spec.scp.join(' ');
  if (spec.roles) claims.roles = spec.roles;
  if (spec.wids) claims.wids = spec.wids;
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: tamper.alg ?? 'HS256', typ: 'JWT' })
    .setIssuer(tamper.iss ?? ISSUER)
    .setAudience(tamper.aud ?? AUDIENCE)
    .setSubject(id.oid)
    .setIssuedAt(nowSec() - 10);
  if (!tamper.noExp) jwt.setExpirationTime(tamper.exp ?? nowSec() + 3600);
  return jwt.sign(new TextEncoder().encode(tamper.secret ?? SECRET));
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsecured JWT (RFC 7519 §6): `alg: none`, empty signature, otherwise perfect claims. */
function algNone(spec: TokenSpec): string {
  const id = WHO[spec.who];
  const payload = {
    iss: ISSUER,
    aud: AUDIENCE,
    exp: nowSec() + 3600,
    oid: id.oid,
    tid: id.tid,
    scp: spec.scp?.join(' '),
    wids: spec.wids,
  };
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
}

/** An HS256 token over any header and payload text, correctly signed with the configured secret. */
function signRaw(header: Record<string, unknown>, payload: string): string {
  const signingInput = `${b64(header)}.${Buffer.from(payload).toString('base64url')}`;
  return `${signingInput}.${createHmac('sha256', SECRET).update(signingInput).digest('base64url')}`;
}

const tokenCache = new Map<string, Promise<string>>();
function tokenFor(spec: TokenSpec): Promise<string> {
  const key = JSON.stringify(spec);
  let token = tokenCache.get(key);
  if (!token) tokenCache.set(key, (token = sign(spec)));
  return token;
}

/** Alice with every permission and Global Administrator: makes tenant A's fixtures. */
const ADMIN_A: TokenSpec = { who: 'alice', scp: ALL_SCOPES, wids: [globalAdministrator] };
/** Mallory, tenant B's Global Administrator with every permission. */
const ADMIN_B: TokenSpec = { who: 'mallory', scp: ALL_SCOPES, wids: [globalAdministrator] };

type BadToken = 'malformed' | 'badSignature' | 'expired' | 'wrongIssuer' | 'wrongAudience' | 'algNone';
/** Each bad token carries every permission, so only its defect can make it fail. */
const BAD_TOKENS: Record<BadToken, () => Promise<string>> = {
  malformed: async () => 'not-a-jwt',
  badSignature: () => sign(ADMIN_A, { secret: OTHER_SECRET }),
  expired: () => sign(ADMIN_A, { exp: nowSec() - 3600 }),
  wrongIssuer: () => sign(ADMIN_A, { iss: 'https://evil.test' }),
  wrongAudience: () => sign(ADMIN_A, { aud: 'api://someone-else' }),
  algNone: async () => algNone(ADMIN_A),
};
const badTokens = {} as Record<BadToken, string>;

type Auth = { kind: 'none' } | { kind: 'bad'; token: BadToken } | { kind: 'token'; spec: TokenSpec };
const tok = (who: Who, claims: Omit<TokenSpec, 'who'> = {}): Auth => ({
  kind: 'token',
  spec: { who, ...claims },
});

async function authorization(auth: Auth): Promise<Record<string, string>> {
  if (auth.kind === 'none') return {};
  const token = auth.kind === 'bad' ? badTokens[auth.token] : await tokenFor(auth.spec);
  return { authorization: `Bearer ${token}` };
}

// ---------------------------------------------------------------------------------------------------------
// Permissions per family, from reference/graph-contract.md §2 (least privileged first)

interface FamilyPerms {
  read: string;
  /** A permission above `read` that also reads. */
  readHigher: string;
  write: string;
  /** A permission above `write` that also writes, where the family has one. */
  writeHigher?: string;
  /** Application roles; none when the family takes delegated tokens only. */
  appRead?: string;
  appWrite?: string;
}

const PERMS: Record<FamilyName, FamilyPerms> = {
  authentication: {
    read: UAM_READ,
    readHigher: UAM_READWRITE_ALL,
    write: UAM_READWRITE,
    writeHigher: UAM_READWRITE_ALL,
  },
  roleManagementAlerts: {
    read: 'RoleManagementAlert.Read.Directory',
    readHigher: 'RoleManagementAlert.ReadWrite.Directory',
    write: 'RoleManagementAlert.ReadWrite.Directory',
    appRead: 'RoleManagementAlert.Read.Directory',
    appWrite: 'RoleManagementAlert.ReadWrite.Directory',
  },
  industryData: {
    read: 'IndustryData.ReadBasic.All',
    readHigher: 'IndustryData-DataConnector.ReadWrite.All',
    write: 'IndustryData-DataConnector.Upload',
    writeHigher: 'IndustryData-DataConnector.ReadWrite.All',
    appRead: 'IndustryData.ReadBasic.All',
    appWrite: 'IndustryData-DataConnector.Upload',
  },
  attackSimulation: {
    read: 'AttackSimulation.Read.All',
    readHigher: 'AttackSimulation.ReadWrite.All',
    write: 'AttackSimulation.ReadWrite.All',
    appRead: 'AttackSimulation.Read.All',
    appWrite: 'AttackSimulation.ReadWrite.All',
  },
  engagement: {
    read: 'Community.Read.All',
    readHigher: 'Community.ReadWrite.All',
    write: 'Community.ReadWrite.All',
    // Application-only read permission (contract R4).
    appRead: 'EngagementConversation.Migration.All',
    appWrite: 'Community.ReadWrite.All',
  },
  sites: {
    read: 'Sites.Read.All',
    readHigher: 'Sites.FullControl.All',
    write: 'Sites.ReadWrite.All',
    writeHigher: 'Sites.FullControl.All',
    appRead: 'Sites.Read.All',
    appWrite: 'Sites.ReadWrite.All',
  },
  app: {
    read: 'LongRun.Read.All',
    readHigher: 'LongRun.ReadWrite.All',
    write: 'LongRun.ReadWrite.All',
    appRead: 'LongRun.Read.All',
    appWrite: 'LongRun.ReadWrite.All',
  },
};

// ---------------------------------------------------------------------------------------------------------
// Routes

const SITE =
  'contoso.sharepoint.com,11111111-1111-4111-8111-111111111111,22222222-2222-4222-8222-222222222222';

interface CollectionRoute {
  /** Index: makes fixture ids unique, since routes share collections (v1.0/beta, /me, oid and UPN). */
  n: number;
  family: FamilyName;
  version: 'v1.0' | 'beta';
  /** Collection path without the version, as the test name shows it. */
  template: string;
  /** Full collection path. */
  base: string;
  /** Authentication family: how the path names Alice (the owner of the fixtures). */
  user?: 'oid' | 'upn' | 'me';
}

const COLLECTION_PATHS: {
  family: FamilyName;
  versions: ('v1.0' | 'beta')[];
  template: string;
  path: string;
  user?: CollectionRoute['user'];
}[] = [
  {
    family: 'authentication',
    versions: ['v1.0', 'beta'],
    template: '/users/{oid}/authentication/operations',
    path: `/users/${ALICE.oid}/authentication/operations`,
    user: 'oid',
  },
  {
    family: 'authentication',
    versions: ['v1.0', 'beta'],
    template: '/users/{upn}/authentication/operations',
    path: `/users/${ALICE.upn}/authentication/operations`,
    user: 'upn',
  },
  {
    family: 'authentication',
    versions: ['v1.0', 'beta'],
    template: '/me/authentication/operations',
    path: '/me/authentication/operations',
    user: 'me',
  },
  {
    family: 'roleManagementAlerts',
    versions: ['beta'],
    template: '/identityGovernance/roleManagementAlerts/operations',
    path: '/identityGovernance/roleManagementAlerts/operations',
  },
  {
    family: 'industryData',
    versions: ['beta'],
    template: '/external/industryData/operations',
    path: '/external/industryData/operations',
  },
  {
    family: 'attackSimulation',
    versions: ['v1.0', 'beta'],
    template: '/security/attackSimulation/operations',
    path: '/security/attackSimulation/operations',
  },
  {
    family: 'engagement',
    versions: ['v1.0', 'beta'],
    template: '/employeeExperience/engagementAsyncOperations',
    path: '/employeeExperience/engagementAsyncOperations',
  },
  {
    family: 'sites',
    versions: ['v1.0', 'beta'],
    template: '/sites/{siteId}/operations',
    path: `/sites/${SITE}/operations`,
  },
  {
    family: 'sites',
    versions: ['v1.0', 'beta'],
    template: '/sites/{siteId}/lists/{listId}/operations',
    path: `/sites/${SITE}/lists/Documents/operations`,
  },
  { family: 'app', versions: ['v1.0', 'beta'], template: '/operations', path: '/operations' },
];

const ROUTES: CollectionRoute[] = COLLECTION_PATHS.flatMap((c) =>
  c.versions.map((version) => ({ c, version })),
).map(({ c, version }, n) => ({
  n,
  family: c.family,
  version,
  template: c.template,
  base: `/${version}${c.path}`,
  user: c.user,
}));

const OPS = ['list', 'get', 'patch', 'create', 'delete', 'cancel', 'count'] as const;
type Op = (typeof OPS)[number];
const READ_OPS: ReadonlySet<Op> = new Set(['list', 'get', 'count']);
const SUCCESS: Record<Op, number> = {
  list: 200,
  get: 200,
  patch: 200,
  create: 201,
  delete: 204,
  cancel: 202,
  count: 200,
};

const itemId = (r: CollectionRoute) => `item-r${r.n}`;
const cancelId = (r: CollectionRoute) => `cancel-r${r.n}`;
const slug = (text: string) =>
  text
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .toLowerCase();

// ---------------------------------------------------------------------------------------------------------
// Rows

type Expect =
  | { status: 401; challenge: 'bare' | 'invalid_token' }
  | { status: 403; mentions: string }
  | { status: 404 }
  | { status: number; success: 'tenantA' | 'tenantB' };

interface Row {
  name: string;
  method: string;
  /** Resolved when the row runs (getOperationStatus's id is only known then). */
  path: () => string;
  body?: unknown;
  auth: Auth;
  expect: Expect;
  /** What the row touches: for checks on success. */
  op: Op | 'action';
  route?: CollectionRoute;
  /** The terminal operation a DELETE row targets. */
  deleteId?: string;
}

interface Case {
  name: string;
  auth: Auth;
  expect: Expect;
}

const denied = (mentions: string): Expect => ({ status: 403, mentions });
const UNAUTHENTICATED: Case[] = [
  { name: 'no token', auth: { kind: 'none' }, expect: { status: 401, challenge: 'bare' } },
  {
    name: 'malformed token',
    auth: { kind: 'bad', token: 'malformed' },
    expect: { status: 401, challenge: 'invalid_token' },
  },
  {
    name: 'bad signature',
    auth: { kind: 'bad', token: 'badSignature' },
    expect: { status: 401, challenge: 'invalid_token' },
  },
  {
    name: 'expired token',
    auth: { kind: 'bad', token: 'expired' },
    expect: { status: 401, challenge: 'invalid_token' },
  },
  {
    name: 'wrong issuer',
    auth: { kind: 'bad', token: 'wrongIssuer' },
    expect: { status: 401, challenge: 'invalid_token' },
  },
  {
    name: 'wrong audience',
    auth: { kind: 'bad', token: 'wrongAudience' },
    expect: { status: 401, challenge: 'invalid_token' },
  },
  {
    name: 'alg none',
    auth: { kind: 'bad', token: 'algNone' },
    expect: { status: 401, challenge: 'invalid_token' },
  },
];
const APP_NOT_SUPPORTED = 'Application permissions are not supported';

/** The cases of one operation on a family collection (or on getOperationStatus, a read of the sites family). */
function collectionCases(family: FamilyName, op: Op, user: CollectionRoute['user']): Case[] {
  const p = PERMS[family];
  const read = READ_OPS.has(op);
  const need = read ? p.read : p.write;
  const ok: Expect = { status: SUCCESS[op], success: 'tenantA' };
  const cases: Case[] = [...UNAUTHENTICATED];
  const own = family === 'authentication' ? ' (own user)' : '';

  cases.push({
    name: 'missing permission',
    auth: tok('alice', { scp: ['User.Read'] }),
    expect: denied(need),
  });
  if (!read)
    cases.push({
      name: `lower permission (${p.read})${own}`,
      auth: tok('alice', { scp: [p.read] }),
      expect: denied(need),
    });
  cases.push({ name: `exact permission (${need})${own}`, auth: tok('alice', { scp: [need] }), expect: ok });
  const higher = read ? p.readHigher : p.writeHigher;
  if (higher)
    cases.push({
      name: `higher permission (${higher})${own}`,
      auth: tok('alice', { scp: [higher] }),
      expect: ok,
    });

  if (family === 'authentication') {
    if (user !== 'me') {
      const all = read ? UAM_READ_ALL : UAM_READWRITE_ALL;
      const [role, roleName] = read
        ? [globalReader, 'Global Reader']
        : [authenticationAdministrator, 'Authentication Administrator'];
      cases.push(
        {
          name: `other user with ${all} and ${roleName}`,
          auth: tok('bob', { scp: [all], wids: [role] }),
          expect: ok,
        },
        {
          name: `other user with ${all}, no admin role`,
          auth: tok('bob', { scp: [all], wids: [USER_ADMINISTRATOR] }),
          expect: denied(roleName),
        },
      );
      if (read) {
        cases.push({
          name: `lower permission: other user with ${UAM_READ} (not .All) and Global Administrator`,
          auth: tok('bob', { scp: [UAM_READ, UAM_READWRITE], wids: [globalAdministrator] }),
          expect: denied(UAM_READ_ALL),
        });
      } else {
        cases.push({
          name: `other user with ${UAM_READWRITE_ALL} and Global Reader (reads only)`,
          auth: tok('bob', { scp: [UAM_READWRITE_ALL], wids: [globalReader] }),
          expect: denied('Authentication Administrator'),
        });
      }
    }
    if (user !== 'me') {
      cases.push({
        name: 'application token (not supported)',
        auth: tok('app', { roles: [UAM_READWRITE_ALL, ...ALL_ROLES] }),
        expect: denied(APP_NOT_SUPPORTED),
      });
    }
    cases.push({
      name: 'other tenant (Global Administrator, every permission)',
      auth: tok('mallory', { scp: ALL_SCOPES, wids: [globalAdministrator] }),
      expect: otherTenant(op),
    });
  } else {
    const role = read ? p.appRead! : p.appWrite!;
    cases.push(
      { name: `application token with ${role}`, auth: tok('app', { roles: [role] }), expect: ok },
      {
        name: 'application token without the role',
        auth: tok('app', { roles: [read ? 'User.Read.All' : p.appRead!], scp: undefined }),
        expect: denied(role),
      },
      {
        name: 'other tenant (delegated, every permission)',
        auth: tok('mallory', { scp: ALL_SCOPES, wids: [globalAdministrator] }),
        expect: otherTenant(op),
      },
      {
        name: 'other tenant (application, every role)',
        auth: tok('appB', { roles: ALL_ROLES }),
        expect: otherTenant(op),
      },
    );
  }
  return cases;
}

/** Another tenant reads its own (empty of A's) collection, creates in it, and finds none of A's operations. */
function otherTenant(op: Op): Expect {
  if (op === 'list' || op === 'count' || op === 'create') return { status: SUCCESS[op], success: 'tenantB' };
  return { status: 404 };
}

function requestFor(route: CollectionRoute, op: Op, caseName: string): Omit<Row, 'name' | 'auth' | 'expect'> {
  const base = route.base;
  const tenantB = caseName.startsWith('other tenant');
  const common = { op, route };
  switch (op) {
    case 'list':
      return { ...common, method: 'GET', path: () => `${base}?$top=1000` };
    case 'get':
      return { ...common, method: 'GET', path: () => `${base}/${itemId(route)}` };
    case 'patch':
      return {
        ...common,
        method: 'PATCH',
        path: () => `${base}/${itemId(route)}`,
        body: { statusDetail: tenantB ? 'from tenant B' : 'patched' },
      };
    case 'create':
      return { ...common, method: 'POST', path: () => base, body: {} };
    case 'delete': {
      const deleteId = `del-r${route.n}-${slug(caseName)}`;
      return { ...common, method: 'DELETE', path: () => `${base}/${deleteId}`, deleteId };
    }
    case 'cancel':
      return { ...common, method: 'POST', path: () => `${base}/${cancelId(route)}/cancel` };
    case 'count':
      return { ...common, method: 'GET', path: () => `${base}/$count` };
  }
}

const COLLECTION_ROWS: Row[] = ROUTES.flatMap((route) =>
  OPS.flatMap((op) =>
    collectionCases(route.family, op, route.user).map((c): Row => {
      const req = requestFor(route, op, c.name);
      const shown =
        op === 'get' || op === 'patch' || op === 'delete'
          ? '/{id}'
          : op === 'cancel'
            ? '/{id}/cancel'
            : op === 'count'
              ? '/$count'
              : '';
      return {
        ...req,
        name: `${req.method} /${route.version}${route.template}${shown} — ${c.name}`,
        auth: c.auth,
        expect: c.expect,
      };
    }),
  ),
);

/** Beta's site-creation status function: a read of the sites family. */
let siteOperationId = '';
const SITE_STATUS_ROWS: Row[] = collectionCases('sites', 'get', undefined).map((c) => ({
  name: `GET /beta/sites/getOperationStatus(operationId='{id}') — ${c.name}`,
  method: 'GET',
  path: () => `/beta/sites/getOperationStatus(operationId='${siteOperationId}')`,
  auth: c.auth,
  expect: c.expect,
  op: 'get',
}));

// Actions ------------------------------------------------------------------------------------------------

interface ActionSpec {
  name: string;
  method: 'POST' | 'PATCH';
  version: 'v1.0' | 'beta';
  /** The path, given the user key for resetPassword. */
  path: (user: string) => string;
  body: unknown;
  exact: string;
  higher?: string;
  lower: string;
  /** Application role that starts it; none for delegated-only actions. */
  appRole?: string;
  /** resetPassword: the user acted on, and the other-user rules. */
  user?: 'oid' | 'upn';
}

const PASSWORD_METHOD = '28c10230-6103-485e-b985-444c60001490';
const SITES_MANAGE = {
  exact: 'Sites.Manage.All',
  higher: 'Sites.FullControl.All',
  lower: 'Sites.ReadWrite.All',
  appRole: 'Sites.Manage.All',
};
const ACTION_SPECS: ActionSpec[] = [
  {
    name: 'resetPassword',
    method: 'POST',
    version: 'v1.0',
    path: (u) => `/v1.0/users/${u}/authentication/methods/${PASSWORD_METHOD}/resetPassword`,
    body: {},
    exact: UAM_READWRITE_ALL,
    lower: UAM_READWRITE,
    user: 'oid',
  },
  {
    name: 'resetPassword',
    method: 'POST',
    version: 'beta',
    path: (u) => `/beta/users/${u}/authentication/passwordMethods/${PASSWORD_METHOD}/resetPassword`,
    body: { newPassword: 'Correct-Horse-9!' },
    exact: UAM_READWRITE_ALL,
    lower: UAM_READWRITE,
    user: 'upn',
  },
  ...(['alerts/refresh', 'alerts/alert-1/refresh'] as const).map((p): ActionSpec => ({
    name: `refresh (${p})`,
    method: 'POST',
    version: 'beta',
    path: () => `/beta/identityGovernance/roleManagementAlerts/${p}`,
    body: p === 'alerts/refresh' ? { scopeId: '/', scopeType: 'DirectoryRole' } : {},
    exact: 'RoleManagementAlert.ReadWrite.Directory',
    lower: 'RoleManagementAlert.Read.Directory',
    appRole: 'RoleManagementAlert.ReadWrite.Directory',
  })),
  ...(['dataConnectors/dc-1/validate', 'inboundFlows/flow-1/dataConnector/validate'] as const).map(
    (p): ActionSpec => ({
      name: `validate (${p})`,
      method: 'POST',
      version: 'beta',
      path: () => `/beta/external/industryData/${p}`,
      body: {},
      exact: 'IndustryData-DataConnector.Upload',
      higher: 'IndustryData-DataConnector.ReadWrite.All',
      lower: 'IndustryData-DataConnector.Read.All',
      appRole: 'IndustryData-DataConnector.Upload',
    }),
  ),
  ...(['v1.0', 'beta'] as const).flatMap((version): ActionSpec[] => [
    {
      name: 'createSimulation',
      method: 'POST',
      version,
      path: () => `/${version}/security/attackSimulation/simulations`,
      body: { displayName: 'Quarterly phishing drill' },
      exact: 'AttackSimulation.ReadWrite.All',
      lower: 'AttackSimulation.Read.All',
      appRole: 'AttackSimulation.ReadWrite.All',
    },
    {
      name: 'updateSimulation',
      method: 'PATCH',
      version,
      path: () => `/${version}/security/attackSimulation/simulations/sim-1`,
      body: { displayName: 'Renamed drill' },
      exact: 'AttackSimulation.ReadWrite.All',
      lower: 'AttackSimulation.Read.All',
      appRole: 'AttackSimulation.ReadWrite.All',
    },
    {
      name: 'createCommunity',
      method: 'POST',
      version,
      path: () => `/${version}/employeeExperience/communities`,
      body: { displayName: 'Gardening', description: 'Green thumbs', privacy: 'public' },
      exact: 'Community.ReadWrite.All',
      lower: 'Community.Read.All',
      appRole: 'Community.ReadWrite.All',
    },
    {
      name: 'addCopyFromContentTypeHub (site)',
      method: 'POST',
      version,
      path: () => `/${version}/sites/${SITE}/contentTypes/addCopyFromContentTypeHub`,
      body: { contentTypeId: '0x0101' },
      ...SITES_MANAGE,
    },
    {
      name: 'addCopyFromContentTypeHub (list)',
      method: 'POST',
      version,
      path: () => `/${version}/sites/${SITE}/lists/Documents/contentTypes/addCopyFromContentTypeHub`,
      body: { contentTypeId: '0x0101' },
      ...SITES_MANAGE,
    },
  ]),
  {
    name: 'createSite',
    method: 'POST',
    version: 'beta',
    path: () => '/beta/sites',
    body: {
      name: 'Team site',
      webUrl: 'https://contoso.sharepoint.com/sites/team',
      template: 'sitepagepublishing',
    },
    exact: 'Sites.Create.All',
    higher: 'Sites.FullControl.All',
    lower: 'Sites.ReadWrite.All',
    appRole: 'Sites.Create.All',
  },
];

function actionRows(a: ActionSpec): Row[] {
  const started: Expect = { status: 202, success: 'tenantA' };
  const bobKey = a.user === 'upn' ? BOB.upn : BOB.oid;
  // resetPassword acts on another user: every delegated caller needs an admin role besides the scope.
  const admin = a.user ? [authenticationAdministrator] : undefined;
  const cases: (Case & { user?: string })[] = [
    ...UNAUTHENTICATED,
    {
      name: 'missing permission',
      auth: tok('alice', { scp: ['User.Read'], wids: admin }),
      expect: denied(a.exact),
    },
    {
      name: `lower permission (${a.lower})`,
      auth: tok('alice', { scp: [a.lower], wids: admin }),
      expect: denied(a.exact),
    },
    {
      name: `exact permission (${a.exact})`,
      auth: tok('alice', { scp: [a.exact], wids: admin }),
      expect: started,
    },
  ];
  if (a.higher)
    cases.push({
      name: `higher permission (${a.higher})`,
      auth: tok('alice', { scp: [a.higher] }),
      expect: started,
    });
  if (a.user) {
    const canReset = tok('alice', { scp: [a.exact], wids: [authenticationAdministrator] });
    cases.push(
      { name: 'own user, by object id', auth: canReset, expect: denied('own account'), user: ALICE.oid },
      {
        name: 'own user, by UPN (other case)',
        auth: canReset,
        expect: denied('own account'),
        user: ALICE.upn.toUpperCase(),
      },
      {
        name: 'other user with Privileged Authentication Administrator',
        auth: tok('alice', { scp: [a.exact], wids: [privilegedAuthenticationAdministrator] }),
        expect: started,
      },
      {
        name: 'other user with Global Administrator',
        auth: tok('alice', { scp: [a.exact], wids: [globalAdministrator] }),
        expect: started,
      },
      {
        name: 'other user, no admin role',
        auth: tok('alice', { scp: [a.exact], wids: [USER_ADMINISTRATOR] }),
        expect: denied('Authentication Administrator'),
      },
      {
        name: 'other user with Global Reader (reads only)',
        auth: tok('alice', { scp: [a.exact], wids: [globalReader] }),
        expect: denied('Authentication Administrator'),
      },
      {
        name: 'application token (not supported)',
        auth: tok('app', { roles: [UAM_READWRITE_ALL] }),
        expect: denied(APP_NOT_SUPPORTED),
      },
      {
        name: 'other tenant (starts in its own tenant)',
        auth: tok('mallory', { scp: [a.exact], wids: [authenticationAdministrator] }),
        expect: { status: 202, success: 'tenantB' },
      },
    );
  } else {
    cases.push(
      {
        name: `application token with ${a.appRole}`,
        auth: tok('app', { roles: [a.appRole!] }),
        expect: started,
      },
      {
        name: `application token with ${a.lower} only`,
        auth: tok('app', { roles: [a.lower] }),
        expect: denied(a.appRole!),
      },
      {
        name: 'other tenant (starts in its own tenant)',
        auth: tok('mallory', { scp: [a.exact] }),
        expect: { status: 202, success: 'tenantB' },
      },
    );
  }
  return cases.map((c) => ({
    name: `${a.method} ${a.path(a.user ? `{${a.user}}` : '')} [${a.name}] — ${c.name}`,
    method: a.method,
    path: () => a.path(c.user ?? bobKey),
    body: a.body,
    auth: c.auth,
    expect: c.expect,
    op: 'action',
  }));
}

const ACTION_ROWS = ACTION_SPECS.flatMap(actionRows);

// ---------------------------------------------------------------------------------------------------------
// Server and fixtures

let server: TestServer;
let keyDir: string;
/** Every operation tenant A made, by id: none may show up in tenant B. */
const tenantAIds = new Set<string>();

async function call(method: string, path: string, auth: Auth, body?: unknown): Promise<Response> {
  return server.request(method, path, { headers: await authorization(auth), body });
}
const asAdminA = (method: string, path: string, body?: unknown) =>
  call(method, path, { kind: 'token', spec: ADMIN_A }, body);
const asAdminB = (method: string, path: string, body?: unknown) =>
  call(method, path, { kind: 'token', spec: ADMIN_B }, body);

/** Runs `tasks` at most `width` at a time. */
async function inBatches<T>(
  items: readonly T[],
  width: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(task));
}

beforeAll(async () => {
  keyDir = await mkdtemp(join(tmpdir(), 'longrun-http-auth-'));
  const config = await resolveAuthConfig(
    { authSecret: SECRET, authIssuer: ISSUER, authAudience: AUDIENCE },
    {},
    keyDir,
  );
  server = await startTestServer({ security: securityFor(config), worker: false, retention: false });
  for (const name of Object.keys(BAD_TOKENS) as BadToken[]) badTokens[name] = await BAD_TOKENS[name]();

  // The service learns Alice's and Bob's UPN → object id from their tokens; only then do /users/{upn} and
  // /users/{oid} meet.
  for (const who of ['alice', 'bob'] as const) {
    const res = await call('GET', '/v1.0/me/authentication/operations', tok(who, { scp: [UAM_READ] }));
    expect(res.status).toBe(200);
  }

  // One readable and one cancelable operation per route, and a terminal one per DELETE row.
  const creates: { path: string; body: Record<string, unknown> }[] = [];
  for (const route of ROUTES) {
    creates.push(
      { path: route.base, body: { id: itemId(route) } },
      { path: route.base, body: { id: cancelId(route) } },
    );
  }
  for (const row of COLLECTION_ROWS) {
    if (row.deleteId)
      creates.push({ path: row.route!.base, body: { id: row.deleteId, status: 'succeeded' } });
  }
  await inBatches(creates, 16, async ({ path, body }) => {
    const res = await asAdminA('POST', path, body);
    if (res.status !== 201)
      throw new Error(`fixture ${path} ${JSON.stringify(body)}: ${res.status} ${await res.text()}`);
    tenantAIds.add(body.id as string);
  });

  const site = await asAdminA('POST', '/beta/sites', ACTION_SPECS.at(-1)!.body);
  expect(site.status).toBe(202);
  const location = site.headers.get('location')!;
  siteOperationId = decodeURIComponent(/operationId='(.*)'\)$/.exec(location)![1]);
  tenantAIds.add(siteOperationId);
});

afterAll(async () => {
  await server?.close();
  await rm(keyDir, { recursive: true, force: true });
});

const json = async (res: Response) => JSON.parse(await res.text()) as Record<string, any>;

async function runRow(row: Row): Promise<void> {
  const res = await call(row.method, row.path(), row.auth, row.body);
  const text = await res.text();
  const where = `${row.method} ${row.path()} → ${res.status} ${text.slice(0, 300)}`;
  expect(res.status, where).toBe(row.expect.status);
  const body =
    text && res.headers.get('content-type')?.includes('json')
      ? (JSON.parse(text) as Record<string, any>)
      : undefined;
  const e = row.expect;

  if ('challenge' in e) {
    expect(body?.error?.code, where).toBe('unauthenticated');
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(challenge, where).toMatch(/^Bearer /);
    if (e.challenge === 'bare') expect(challenge).not.toContain('error=');
    else expect(challenge).toContain('error="invalid_token"');
    return;
  }
  if ('mentions' in e) {
    expect(body?.error?.code, where).toBe('accessDenied');
    expect(body?.error?.message, where).toContain(e.mentions);
    return;
  }
  if (e.status === 404) {
    expect(body?.error?.code, where).toBe('itemNotFound');
    return;
  }
  if (!('success' in e)) return;

  const route = row.route;
  switch (row.op) {
    case 'list': {
      const ids = (body!.value as { id: string }[]).map((o) => o.id);
      if (e.success === 'tenantA') expect(ids, where).toContain(itemId(route!));
      else
        expect(
          ids.filter((id) => tenantAIds.has(id)),
          where,
        ).toEqual([]);
      break;
    }
    case 'get':
      expect(body!.id, where).toBe(route ? itemId(route) : siteOperationId);
      break;
    case 'count': {
      const n = Number(text);
      if (e.success === 'tenantA') expect(n, where).toBeGreaterThanOrEqual(3);
      else {
        // Tenant B counts only its own operations (from its own create rows, which may run meanwhile, so
        // the list taken after the count can only be longer), none of A's: A has more in every collection.
        const list = await json(await call('GET', `${route!.base}?$top=1000`, row.auth));
        const ids = (list.value as { id: string }[]).map((o) => o.id);
        expect(
          ids.filter((id) => tenantAIds.has(id)),
          where,
        ).toEqual([]);
        expect(n, where).toBeLessThanOrEqual(ids.length);
      }
      break;
    }
    case 'create':
      if (e.success === 'tenantA') tenantAIds.add(body!.id);
      else expect(tenantAIds.has(body!.id), where).toBe(false);
      break;
    case 'action':
      expect(res.headers.get('location'), where).toMatch(/^http:\/\/.+\/(v1\.0|beta)\//);
      break;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The table

describe('the table covers every route', () => {
  it('has a row set for every family collection template and version, and every start action', () => {
    const templates = FAMILIES.flatMap((f) =>
      f.collections.flatMap((c) => c.versions.map((v) => `${f.name} ${v} ${c.segments.join('/')}`)),
    );
    const covered = new Set(
      ROUTES.map((r) => {
        const segs = r.template
          .slice(1)
          .replace('{oid}', ':userId')
          .replace('{upn}', ':userId')
          .replace('{siteId}', ':siteId')
          .replace('{listId}', ':listId');
        return `${r.family} ${r.version} ${segs}`;
      }),
    );
    for (const t of templates) expect(covered, t).toContain(t);
    const actions = new Set(ACTION_SPECS.map((a) => `${a.method} ${a.version} ${a.path('u')}`));
    for (const a of ACTIONS) {
      for (const v of a.versions) {
        const path = `/${v}/${a.segments.map((s) => (s === ':userId' ? 'u' : s)).join('/')}`;
        const hit = [...actions].some((x) => {
          const [method, version, p] = x.split(' ');
          if (method !== a.method || version !== v) return false;
          const want = path.split('/');
          const got = p.split('/');
          return want.length === got.length && want.every((w, i) => w.startsWith(':') || w === got[i]);
        });
        expect(hit, `${a.method} ${path}`).toBe(true);
      }
    }
  });
});

// The rows are independent of each other (every DELETE has its own operation; PATCH and cancel are
// idempotent), so they run concurrently.
describe.concurrent('collection and item routes', () => {
  it.each(COLLECTION_ROWS.map((r) => [r.name, r] as const))('%s', async (_name, row) => runRow(row));
});

describe.concurrent("beta's getOperationStatus", () => {
  it.each(SITE_STATUS_ROWS.map((r) => [r.name, r] as const))('%s', async (_name, row) => runRow(row));
});

describe.concurrent('start actions', () => {
  it.each(ACTION_ROWS.map((r) => [r.name, r] as const))('%s', async (_name, row) => runRow(row));
});

// ---------------------------------------------------------------------------------------------------------
// What the table can't show on its own

describe('after the table', () => {
  it('left every operation a denied DELETE targeted in place', async () => {
    const denials = COLLECTION_ROWS.filter((r) => r.deleteId && !('success' in r.expect));
    expect(denials.length).toBeGreaterThan(100);
    await inBatches(denials, 16, async (row) => {
      const res = await asAdminA('GET', `${row.route!.base}/${row.deleteId}`);
      expect(res.status, `${row.name}: ${row.deleteId}`).toBe(200);
    });
  });

  it('did not let tenant B change tenant A’s operations', async () => {
    await inBatches(ROUTES, 8, async (route) => {
      const res = await asAdminA('GET', `${route.base}/${itemId(route)}`);
      expect(res.status).toBe(200);
      expect((await json(res)).statusDetail).toBe('patched');
    });
  });
});

describe('tokens', () => {
  const path = '/v1.0/operations';
  const variants: [string, () => Promise<string | undefined>][] = [
    ['Bearer with no token', async () => 'Bearer'],
    ['another scheme', async () => 'Basic dXNlcjpwYXNz'],
    ['three dots of nothing', async () => 'Bearer ..'],
    ['garbage in three parts', async () => 'Bearer a.b.c'],
    ['a token with a space inside', async () => `Bearer ${(await tokenFor(ADMIN_A)).replace('.', '. ')}`],
    [
      'HS512 with the right secret (not allowed)',
      async () => `Bearer ${await sign(ADMIN_A, { alg: 'HS512' })}`,
    ],
    ['no exp', async () => `Bearer ${await sign(ADMIN_A, { noExp: true })}`],
    ['expired beyond the clock skew', async () => `Bearer ${await sign(ADMIN_A, { exp: nowSec() - 120 })}`],
    [
      'alg none with a valid HS256 signature appended',
      async () => {
        const good = (await tokenFor(ADMIN_A)).split('.');
        return `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${good[1]}.${good[2]}`;
      },
    ],
    [
      'alg "None" (other case)',
      async () => {
        const [, payload] = algNone(ADMIN_A).split('.');
        return `Bearer ${b64({ alg: 'None' })}.${payload}.`;
      },
    ],
    ...(
      [
        ['signed, but the payload is not JSON', { alg: 'HS256' }, 'hello'],
        ['signed, but the payload is a JSON array', { alg: 'HS256' }, '[1,2]'],
        ['signed, exp is not a number', { alg: 'HS256' }, { exp: 'tomorrow' }],
        ['signed, not valid before an hour from now', { alg: 'HS256' }, { nbf: nowSec() + 3600 }],
        ['signed, no iss', { alg: 'HS256' }, { iss: undefined }],
        ['signed, an unknown critical header', { alg: 'HS256', crit: ['x-custom'], 'x-custom': 1 }, {}],
      ] as const
    ).map(([name, header, payload]): [string, () => Promise<string>] => [
      name,
      async () => {
        const claims = {
          iss: ISSUER,
          aud: AUDIENCE,
          exp: nowSec() + 3600,
          scp: 'LongRun.Read.All',
          tid: TID_A,
        };
        return `Bearer ${signRaw(header, typeof payload === 'string' ? payload : JSON.stringify({ ...claims, ...payload }))}`;
      },
    ]),
    [
      'a JSON header that is not an object',
      async () => `Bearer ${Buffer.from('[]').toString('base64url')}.e30.`,
    ],
    // Node itself refuses headers over 16 KB (431), so this is the largest garbage that reaches the verifier.
    ['a 12 KB garbage token', async () => `Bearer ${'a'.repeat(12_000)}`],
  ];

  it.each(variants)('%s → 401 unauthenticated', async (_name, header) => {
    const value = await header();
    const res = await server.request('GET', path, { headers: value ? { authorization: value } : {} });
    expect(res.status).toBe(401);
    expect((await json(res)).error.code).toBe('unauthenticated');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="longrun"/);
  });

  it('accepts an expiry within the clock skew, and the scheme in any case', async () => {
    const token = await sign({ who: 'alice', scp: ['LongRun.Read.All'] }, { exp: nowSec() - 5 });
    const res = await server.request('GET', path, { headers: { authorization: `bEaReR ${token}` } });
    expect(res.status).toBe(200);
  });

  it('a delegated token naming an application-only permission is still denied', async () => {
    const res = await call(
      'GET',
      '/v1.0/employeeExperience/engagementAsyncOperations',
      tok('alice', { scp: ['EngagementConversation.Migration.All'] }),
    );
    expect(res.status).toBe(403);
    expect((await json(res)).error.message).toContain('Community.Read.All');
  });
});

describe('users by object id and UPN', () => {
  it('/users/{upn} and /users/{oid} (and /me) address the same operations once a token carried both', async () => {
    const carol = tok('carol', { scp: [UAM_READWRITE] });
    // Carol's first request teaches the service her UPN → object id.
    const created = await call('POST', `/v1.0/users/${CAROL.upn}/authentication/operations`, carol, {
      id: 'carol-1',
    });
    expect(created.status).toBe(201);
    tenantAIds.add('carol-1');

    for (const path of [
      `/v1.0/users/${CAROL.oid}/authentication/operations/carol-1`,
      `/beta/users/${CAROL.oid.toUpperCase()}/authentication/operations/carol-1`,
      `/v1.0/users('${CAROL.upn.toUpperCase()}')/authentication/operations('carol-1')`,
      '/beta/me/authentication/operations/carol-1',
    ]) {
      const res = await call('GET', path, carol);
      expect(res.status, path).toBe(200);
      expect((await json(res)).id).toBe('carol-1');
    }
    const list = await json(await call('GET', `/v1.0/users/${CAROL.oid}/authentication/operations`, carol));
    expect(list.value.map((o: { id: string }) => o.id)).toContain('carol-1');

    // An admin reaches it by either key too, and by either key it is another user's.
    const reader = tok('bob', { scp: [UAM_READ_ALL], wids: [globalReader] });
    for (const key of [CAROL.oid, CAROL.upn]) {
      expect((await call('GET', `/v1.0/users/${key}/authentication/operations/carol-1`, reader)).status).toBe(
        200,
      );
      const noRole = await call(
        'GET',
        `/v1.0/users/${key}/authentication/operations/carol-1`,
        tok('bob', { scp: [UAM_READ_ALL] }),
      );
      expect(noRole.status).toBe(403);
    }
    // Bob's own UAM.Read does not reach Carol's operations by her UPN.
    const bobOwn = await call(
      'GET',
      `/v1.0/users/${CAROL.upn}/authentication/operations/carol-1`,
      tok('bob', { scp: [UAM_READ] }),
    );
    expect(bobOwn.status).toBe(403);
    expect((await json(bobOwn)).error.message).toContain(UAM_READ_ALL);
  });

  it('a UPN means nothing in another tenant', async () => {
    const res = await call('GET', `/v1.0/users/${CAROL.upn}/authentication/operations/carol-1`, {
      kind: 'token',
      spec: ADMIN_B,
    });
    expect(res.status).toBe(404);
  });
});

describe('tenants and actions', () => {
  it('an operation an action started in one tenant is invisible in the other, even under the same id', async () => {
    // refresh and addCopyFromContentTypeHub key their operations by what they work on, so both tenants get
    // the same Location URL: each must still see only its own operation.
    for (const spec of ACTION_SPECS.filter((a) => !a.user)) {
      const path = spec.path('');
      const a = await asAdminA(spec.method, path, spec.body);
      const b = await asAdminB(spec.method, path, spec.body);
      expect([a.status, b.status], spec.name).toEqual([202, 202]);
      const locA = new URL(a.headers.get('location')!);
      const locB = new URL(b.headers.get('location')!);
      const readA = locA.pathname + locA.search;
      const readB = locB.pathname + locB.search;
      // getOperationStatus is a function (GET only); its ids are random, so a 404 is all there is to see.
      const patchable = spec.name !== 'createSite';
      if (patchable) {
        expect((await asAdminB('PATCH', readB, { statusDetail: 'secret of tenant B' })).status, readB).toBe(
          200,
        );
        expect((await asAdminA('PATCH', readA, { statusDetail: 'secret of tenant A' })).status, readA).toBe(
          200,
        );
      } else {
        expect(readA).not.toBe(readB);
      }
      for (const [caller, loc, secret] of [
        [asAdminA, readB, 'secret of tenant B'],
        [asAdminB, readA, 'secret of tenant A'],
      ] as const) {
        const res = await caller('GET', loc);
        if (res.status === 200)
          expect((await json(res)).statusDetail, `${spec.name} ${loc}`).not.toBe(secret);
        else expect(res.status, `${spec.name} ${loc}`).toBe(404);
      }
    }
  });

  it('an Idempotency-Key replays only within its tenant (no password from another tenant)', async () => {
    const path = `/v1.0/users/${BOB.oid}/authentication/methods/${PASSWORD_METHOD}/resetPassword`;
    const headers = { 'idempotency-key': 'shared-key-1' };
    const first = await server.request('POST', path, {
      headers: { ...headers, ...(await authorization({ kind: 'token', spec: ADMIN_A })) },
      body: {},
    });
    expect(first.status).toBe(202);
    const again = await server.request('POST', path, {
      headers: { ...headers, ...(await authorization({ kind: 'token', spec: ADMIN_A })) },
      body: {},
    });
    const other = await server.request('POST', path, {
      headers: { ...headers, ...(await authorization({ kind: 'token', spec: ADMIN_B })) },
      body: {},
    });
    expect([again.status, other.status]).toEqual([202, 202]);
    const password = (await json(first)).newPassword as string;
    expect((await json(again)).newPassword).toBe(password);
    expect((await json(other)).newPassword).not.toBe(password);
    expect(other.headers.get('location')).not.toBe(first.headers.get('location'));
    const locA = new URL(first.headers.get('location')!).pathname;
    expect((await asAdminB('GET', locA)).status).toBe(404);
  });
});

describe('/me with an application token', () => {
  // An application has no signed-in user, so /me can't mean anyone: 403 accessDenied, as the
  // authentication family answers application tokens everywhere else.
  it.each([
    'GET /v1.0/me/authentication/operations',
    'GET /beta/me/authentication/operations/x',
    'POST /v1.0/me/authentication/operations',
  ])('%s → 403 accessDenied', async (request) => {
    const [method, path] = request.split(' ');
    const res = await call(
      method,
      path,
      tok('app', { roles: [UAM_READWRITE_ALL] }),
      method === 'POST' ? {} : undefined,
    );
    expect(res.status).toBe(403);
    expect((await json(res)).error.code).toBe('accessDenied');
  });

  it('is at least never a success', async () => {
    for (const method of ['GET', 'POST']) {
      const res = await call(
        method,
        '/v1.0/me/authentication/operations',
        tok('app', { roles: [UAM_READWRITE_ALL] }),
        method === 'POST' ? {} : undefined,
      );
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
  });
});
